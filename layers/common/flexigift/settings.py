"""Typed configuration: the environment is read once, here, and nowhere else."""

from __future__ import annotations

import json
import os
from functools import lru_cache

from flexigift.shapes import BaseModel, Field


class Settings(BaseModel):
    table_name: str = Field(min_length=1)
    service: str = "flexigift"
    stage: str = "dev"
    default_page_size: int = 50
    max_page_size: int = 100
    max_cards_per_user: int = 25
    # route fallback only: resource path -> "GET,POST" (from template.yaml)
    allowed_methods: dict[str, str] = Field(default_factory=dict)
    # --- rewards ---
    rewards_queue_url: str = ""           # email deliveries (SQS); the worker reads its own event source
    reward_codes_key_id: str = ""         # KMS key (id, ARN or alias) that seals reward codes
    rewards_sender_email: str = ""        # the verified SES identity reward emails come from
    catalog_feed_bucket: str = ""         # supplier feed: an S3 object ...
    catalog_feed_key: str = "catalog.json"
    catalog_feed_url: str = ""            # ... or, when set, an https URL instead
    reward_resend_limit: int = 3          # resends of one order per clock hour
    # --- webhooks ---
    webhooks_queue_url: str = ""          # one message per event (fan-out) and per (event, endpoint) delivery
    webhook_secrets_key_id: str = ""      # KMS key (id, ARN or alias) that seals endpoints' signing secrets
    webhook_allow_loopback: bool = False  # local stack only: http:// endpoints on 127.0.0.1
    webhook_retry_scale: float = 1.0      # local stack: < 1 compresses the retry schedule (1/60: minutes -> seconds)
    # read-mostly items (products, programs, catalog items) kept per execution environment (store.table)
    read_cache_seconds: float = 0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", ""),
        service=env.get("POWERTOOLS_SERVICE_NAME", "flexigift"),
        stage=env.get("STAGE", "dev"),
        allowed_methods=json.loads(env.get("ALLOWED_METHODS") or "{}"),
        rewards_queue_url=env.get("REWARDS_QUEUE_URL", ""),
        reward_codes_key_id=env.get("REWARD_CODES_KEY_ID", ""),
        rewards_sender_email=env.get("REWARDS_SENDER_EMAIL", ""),
        catalog_feed_bucket=env.get("CATALOG_FEED_BUCKET", ""),
        catalog_feed_key=env.get("CATALOG_FEED_KEY") or "catalog.json",
        catalog_feed_url=env.get("CATALOG_FEED_URL", ""),
        webhooks_queue_url=env.get("WEBHOOKS_QUEUE_URL", ""),
        webhook_secrets_key_id=env.get("WEBHOOK_SECRETS_KEY_ID", ""),
        webhook_allow_loopback=env.get("FLEXIGIFT_WEBHOOK_ALLOW_LOOPBACK", "") == "1",
        webhook_retry_scale=float(env.get("FLEXIGIFT_WEBHOOK_RETRY_SCALE") or 1.0),
        read_cache_seconds=float(env.get("READ_CACHE_SECONDS") or 0),
    )
