"""Events and webhook endpoints: what the API shows of them, and what it accepts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Optional

from flexigift.models.common import RequestModel, ResponseModel, example
from flexigift.shapes import Field, field_validator


class EventType(StrEnum):
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_VOIDED = "payment.voided"
    PAYMENT_EXPIRED = "payment.expired"
    REFUND_CREATED = "refund.created"
    GIFT_CARD_BALANCE_CHANGED = "gift_card.balance_changed"
    GIFT_CARD_STATE_CHANGED = "gift_card.state_changed"
    REWARD_ORDER_DELIVERED = "reward_order.delivered"
    REWARD_ORDER_FAILED = "reward_order.failed"


class Event(ResponseModel):
    id: str = Field(description="evt_...: receivers deduplicate on it (a delivery may come more than once)")
    type: EventType
    created_at: str
    data: dict[str, Any] = Field(description="The resource as its GET shows it (a payment, a refund, a ledger entry, "
                                             "a gift card, a reward order)")


MAX_URL = 2048
ALL_EVENTS = "*"

EndpointUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$",
                                   description="https:// whose host resolves only to public addresses (else 422: "
                                               "loopback, private, link-local and metadata addresses are refused, "
                                               "and checked again at each delivery); the local stack also takes "
                                               "http://127.0.0.1")]


EventTypeOrAll = Literal["payment.authorized", "payment.captured", "payment.voided", "payment.expired",
                         "refund.created", "gift_card.balance_changed", "gift_card.state_changed",
                         "reward_order.delivered", "reward_order.failed", "*"]


class WebhookEndpointCreate(RequestModel):
    model_config = example({"url": "https://merchant.example/flexigift/webhooks", "events": ["payment.captured"]})

    url: EndpointUrl
    events: list[EventTypeOrAll] = Field(min_length=1, max_length=len(EventType) + 1,
                                         description='Event types to receive, or ["*"] for all of them (a type named '
                                                     'twice counts once; "*" among others means all)')
    description: Optional[Annotated[str, Field(min_length=1, max_length=200)]] = None

    @field_validator("events")
    @classmethod
    def _normal_form(cls, events: list[str]) -> list[str]:
        if ALL_EVENTS in events:
            return [ALL_EVENTS]
        return list(dict.fromkeys(events))


class WebhookEndpoint(ResponseModel):
    id: str
    url: str
    events: list[str]
    description: Optional[str] = None
    secret_last4: str = Field(description="The signing secret is shown once, when the endpoint is created")
    created_at: str


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(description="whsec_...: keep it; it signs every delivery (Flexigift-Signature) and is "
                                    "never shown again")


class WebhookAttempt(ResponseModel):
    event_id: str
    event_type: str
    attempt: int
    attempted_at: str
    outcome: str = Field(description="succeeded, retrying or failed")
    http_status: Optional[int] = None
    error: Optional[str] = None
    latency_ms: int
    next_retry_at: Optional[str] = None


class WebhookDelivery(ResponseModel):
    event_id: str
    event_type: str
    status: str = Field(description="pending, succeeded or failed")
    attempts: int
    next_attempt_at: Optional[str] = None
