"""Sending one email through SES (API v2) as a MIME multipart/alternative message: a plain-text part and
an HTML part, so every mail client shows one of them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flexigift.aws import client
from flexigift.settings import get_settings


class EmailNotSent(Exception):
    """SES did not accept the message (rejected, throttled, unreachable). Nothing was sent."""


def send_email(to: str, subject: str, text: str, html: str) -> str:
    """Send; returns SES's message id. Raises EmailNotSent when SES refuses or cannot be reached."""
    from botocore.exceptions import BotoCoreError, ClientError

    sender = get_settings().rewards_sender_email
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    try:
        response = client("sesv2").send_email(FromEmailAddress=sender, Destination={"ToAddresses": [to]},
                                              Content={"Raw": {"Data": message.as_bytes()}})
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise EmailNotSent(f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()) from None
    except BotoCoreError as exc:
        raise EmailNotSent(type(exc).__name__) from None
    return str(response["MessageId"])
