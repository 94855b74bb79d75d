"""Reward codes sealed with KMS. A code and its PIN are encrypted together under the rewards' KMS key, bound
(by the encryption context) to the one order they belong to: a ciphertext copied onto another order does not
open. The plaintext exists only in memory, in the answer of an API-delivered order and in the email."""

from __future__ import annotations

import json

from flexigift.aws import client
from flexigift.settings import get_settings

PURPOSE = "reward_code"


def _context(order_id: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "order_id": order_id}


def seal(order_id: str, code: str, pin: str) -> bytes:
    plaintext = json.dumps({"code": code, "pin": pin}).encode()
    response = client("kms").encrypt(KeyId=get_settings().reward_codes_key_id, Plaintext=plaintext,
                                     EncryptionContext=_context(order_id))
    return bytes(response["CiphertextBlob"])


def unseal(order_id: str, ciphertext: bytes) -> tuple[str, str]:
    """(code, pin) of an order."""
    response = client("kms").decrypt(KeyId=get_settings().reward_codes_key_id, CiphertextBlob=ciphertext,
                                     EncryptionContext=_context(order_id))
    secret = json.loads(response["Plaintext"])
    return secret["code"], secret["pin"]


# --- webhook signing secrets -----------------------------------------------------------------------------
# Under their own KMS key (WebhookSecretsKey), bound to the endpoint and its program: the secret is shown once
# when the endpoint is created and afterwards exists in clear only in the memory of a delivery that signs.

WEBHOOK_PURPOSE = "webhook_secret"


def _webhook_context(program_id: str, endpoint_id: str) -> dict[str, str]:
    return {"purpose": WEBHOOK_PURPOSE, "program_id": program_id, "endpoint_id": endpoint_id}


def seal_webhook_secret(program_id: str, endpoint_id: str, secret: str) -> bytes:
    response = client("kms").encrypt(KeyId=get_settings().webhook_secrets_key_id, Plaintext=secret.encode(),
                                     EncryptionContext=_webhook_context(program_id, endpoint_id))
    return bytes(response["CiphertextBlob"])


def unseal_webhook_secret(program_id: str, endpoint_id: str, ciphertext: bytes) -> str:
    response = client("kms").decrypt(KeyId=get_settings().webhook_secrets_key_id, CiphertextBlob=ciphertext,
                                     EncryptionContext=_webhook_context(program_id, endpoint_id))
    return bytes(response["Plaintext"]).decode()
