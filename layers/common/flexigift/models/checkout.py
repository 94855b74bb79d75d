"""Checkout: what a merchant sends to quote, pay and refund with a user's gift cards, and what it gets back.
Every amount is a Decimal with at most two places, written as a JSON number."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Optional

from flexigift.models.common import (
    DOG_BED,
    JACK,
    Identifier,
    Money,
    MoneyAmount,
    RequestModel,
    ResponseModel,
    Text,
    distinct_card_ids,
    example,
    integral_number,
    money_number,
)
from flexigift.shapes import BeforeValidator, Field, StrictBool, field_validator, model_validator

Quantity = Annotated[int, Field(strict=True, ge=1, le=100), BeforeValidator(integral_number)]
PositiveMoney = Annotated[Money, Field(gt=0)]


class LineItem(RequestModel):
    product_id: Identifier
    quantity: Quantity = 1


def _distinct_products(items: list[LineItem]) -> list[LineItem]:
    seen: set[str] = set()
    for item in items:
        if item.product_id in seen:
            raise ValueError(f"lists product '{item.product_id}' twice: give it once with a quantity")
        seen.add(item.product_id)
    return items


class QuoteRequest(RequestModel):
    """The shopper is named by exactly one of `user_id` (Flexigift's) and `amazon_id` (the merchant's own
    account id, as Amazon knows its shopper)."""

    model_config = example({"user_id": JACK["user_id"], "items": [{"product_id": DOG_BED["product_id"], "quantity": 1}]})

    user_id: Optional[Identifier] = Field(default=None, description="The shopper's Flexigift user_id (or amazon_id)")
    amazon_id: Optional[Identifier] = Field(default=None, description="The shopper's Amazon account id (or user_id)")
    items: Annotated[list[LineItem], Field(min_length=1, max_length=50)]
    cards: Optional[Annotated[list[Identifier], Field(min_length=1, max_length=25)]] = Field(
        default=None, description="Pay only with these of the user's cards, in this order")

    _items = field_validator("items")(_distinct_products)
    _cards = field_validator("cards")(distinct_card_ids)

    @model_validator(mode="after")
    def _one_shopper(self) -> "QuoteRequest":
        if (self.user_id is None) == (self.amazon_id is None):
            raise ValueError("name the shopper by exactly one of user_id and amazon_id")
        return self


MIN_HOLD_SECONDS, MAX_HOLD_SECONDS = 30, 30 * 86400
DEFAULT_HOLD_SECONDS = 7 * 86400
HoldSeconds = Annotated[int, Field(strict=True, ge=MIN_HOLD_SECONDS, le=MAX_HOLD_SECONDS), BeforeValidator(integral_number)]


class PaymentCreate(QuoteRequest):
    allow_remainder: StrictBool = Field(
        default=False, description="Capture what the gift cards can pay even if it is less than the total")
    capture: StrictBool = Field(
        default=True, description="false: authorize only (hold the amount on the cards; capture or void later)")
    hold_seconds: Optional[HoldSeconds] = Field(
        default=None, description="How long an authorization holds the money (30 s to 30 days; default 7 days); "
                                  "only with capture: false")

    @model_validator(mode="after")
    def _hold_only_when_authorizing(self) -> "PaymentCreate":
        if self.hold_seconds is not None and self.capture:
            raise ValueError("hold_seconds applies only to an authorization (capture: false)")
        return self


class CaptureRequest(RequestModel):
    model_config = example({"amount": 50})

    amount: Optional[PositiveMoney] = Field(
        default=None, description="Left out: everything authorized; the rest of the holds is released")


class RefundCreate(RequestModel):
    model_config = example({"amount": 20})

    amount: Optional[PositiveMoney] = Field(default=None, description="Left out: everything not yet refunded")


# --- responses -----------------------------------------------------------------------------------


def _money(value: object) -> Decimal:
    return money_number(Decimal(str(value)))


class Allocation(ResponseModel):
    card_id: str
    gift_card_id: int = Field(description="The card's numeric id: /gift_cards/{id}")
    amount: MoneyAmount
    balance_after: MoneyAmount

    @classmethod
    def from_record(cls, record: dict) -> Allocation:
        return cls(card_id=record["card_id"], gift_card_id=int(record["gift_card_id"]),
                   amount=_money(record["amount"]), balance_after=_money(record["balance_after"]))


class QuoteCard(ResponseModel):
    card_id: str
    gift_card_id: int
    issuer: str
    balance: MoneyAmount
    expiry_date: str


class _PricedLine(ResponseModel):
    """What a quote line and a payment line both say of an item."""

    product_id: str
    name: str
    eligible_issuer: str
    quantity: int
    unit_price: MoneyAmount
    amount: MoneyAmount


class QuoteLine(_PricedLine):
    payable_by_gift_cards: MoneyAmount
    remainder_due: MoneyAmount
    cards: list[QuoteCard] = Field(description="The user's linked cards that can pay for this item")


class Quote(ResponseModel):
    user_id: str
    amazon_id: Optional[str] = None
    items: list[QuoteLine]
    total: MoneyAmount
    payable_by_gift_cards: MoneyAmount
    remainder_due: MoneyAmount
    allocations: list[Allocation] = Field(description="What a payment made now would debit")


class PaymentLine(_PricedLine):
    paid_by_gift_cards: MoneyAmount
    remainder_due: MoneyAmount

    @classmethod
    def from_record(cls, record: dict) -> PaymentLine:
        return cls(**{**record, "quantity": int(record["quantity"]),
                      **{k: _money(record[k]) for k in ("unit_price", "amount", "paid_by_gift_cards",
                                                        "remainder_due")}})


class Refund(ResponseModel):
    id: str
    payment_id: str
    amount: MoneyAmount
    allocations: list[Allocation]
    created_at: str

    @classmethod
    def from_record(cls, record: dict) -> Refund:
        return cls(id=record["id"], payment_id=record["payment_id"], amount=_money(record["amount"]),
                   allocations=[Allocation.from_record(a) for a in record["allocations"]],
                   created_at=record["created_at"])


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"                   # held on the cards; capture or void it before expires_at
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"                           # the merchant released the holds
    EXPIRED = "expired"                         # the holds were released when the authorization expired


REFUNDABLE_STATUSES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)


def _optional_money(record: dict, name: str) -> Optional[Decimal]:
    return _money(record[name]) if record.get(name) is not None else None


class Payment(ResponseModel):
    id: str
    status: PaymentStatus
    amount: MoneyAmount = Field(description="Captured from gift cards (while authorized: held on them)")
    total: MoneyAmount = Field(description="The items' total price")
    remainder_due: MoneyAmount = Field(description="Left for the merchant to collect by other means")
    allocations: list[Allocation] = Field(description="What the payment took from each card (while authorized: "
                                                      "what it holds on each)")
    refunded_amount: MoneyAmount
    user_id: str
    amazon_id: Optional[str] = None
    items: list[PaymentLine]
    created_at: str
    refunds: list[Refund] = []
    authorized_amount: Optional[MoneyAmount] = Field(default=None, description="Held when authorized")
    captured_amount: Optional[MoneyAmount] = None
    released_amount: Optional[MoneyAmount] = Field(default=None, description="Given back to the cards unused")
    expires_at: Optional[str] = Field(default=None, description="When an authorization's holds are released")
    captured_at: Optional[str] = None
    released_at: Optional[str] = Field(default=None, description="When a void or the expiry released the holds")

    @classmethod
    def from_record(cls, record: dict, refunds: list[dict] | None = None) -> Payment:
        return cls(
            id=record["id"], status=PaymentStatus(record["status"]), amount=_money(record["amount"]),
            total=_money(record["total"]), remainder_due=_money(record["remainder_due"]),
            allocations=[Allocation.from_record(a) for a in record["allocations"]],
            refunded_amount=_money(record.get("refunded_amount", 0)), user_id=record["user_id"],
            amazon_id=record.get("amazon_id"),
            items=[PaymentLine.from_record(i) for i in record["items"]], created_at=record["created_at"],
            refunds=[Refund.from_record(r) for r in refunds or []],
            authorized_amount=_optional_money(record, "authorized_amount"),
            captured_amount=_optional_money(record, "captured_amount"),
            released_amount=_optional_money(record, "released_amount"),
            expires_at=record.get("hold_expires_at"), captured_at=record.get("captured_at"),
            released_at=record.get("released_at"),
        )


class SweepReport(ResponseModel):
    """What one run of the expiry sweep did."""

    minutes: int = Field(description="Expiry minutes read")
    expired: int = Field(description="Authorizations released by this run")
    already_closed: int = Field(description="Found, but captured, voided or expired meanwhile")
    failed: int = Field(description="Could not be released this time (read again by the next run)")
    next_minute: str = Field(description="Where the next run starts reading")


# --- ledger --------------------------------------------------------------------------------------


class ActivityType(StrEnum):
    ACTIVATE = "ACTIVATE"                   # the card was registered with its opening balance
    REDEEM = "REDEEM"                       # a payment debited the card
    REFUND = "REFUND"                       # a refund credited the card back
    LOAD = "LOAD"                           # the issuer loaded value onto the card
    ADJUST_INCREMENT = "ADJUST_INCREMENT"   # the issuer corrected the balance up
    ADJUST_DECREMENT = "ADJUST_DECREMENT"   # the issuer corrected the balance down (never below zero)
    HOLD = "HOLD"                           # an authorization held money: it leaves the balance at once
    CAPTURE = "CAPTURE"                     # a hold became a payment (amount 0: the money had already left)
    RELEASE = "RELEASE"                     # a hold (or its unused part) came back: void, expiry, partial capture


class BalanceActivityType(StrEnum):
    LOAD = "LOAD"
    ADJUST_INCREMENT = "ADJUST_INCREMENT"
    ADJUST_DECREMENT = "ADJUST_DECREMENT"


class BalanceActivityCreate(RequestModel):
    """POST /gift_cards/{id}/activities: the only way to change a card's balance after it is registered,
    besides payments and refunds. `amount` is positive; the type says which way it moves the balance."""

    model_config = example({"type": "LOAD", "amount": 25, "reason": "Holiday top-up"})

    type: BalanceActivityType
    amount: PositiveMoney
    reason: Text


class Activity(ResponseModel):
    sequence: int = Field(description="Position in the card's ledger (gaps allowed, never reordered)")
    gift_card_id: int
    card_id: str
    type: ActivityType
    amount: MoneyAmount = Field(description="Signed: what the balance changed by (REDEEM is negative)")
    balance_after: MoneyAmount
    reference: Optional[str] = Field(default=None, description="The payment id for REDEEM and REFUND")
    refund_id: Optional[str] = None
    reason: Optional[str] = Field(default=None, description="Why the issuer loaded or adjusted the balance")
    key_id: Optional[str] = Field(default=None, description="The API key that made the change")
    hold_amount: Optional[MoneyAmount] = Field(
        default=None, description="HOLD, CAPTURE, RELEASE: the part of the authorization's hold this entry opens, "
                                  "converts into a payment or gives back")
    held_after: Optional[MoneyAmount] = Field(default=None, description="The card's open holds after this entry")
    created_at: str

    @classmethod
    def from_record(cls, record: dict) -> Activity:
        return cls(sequence=int(record["sequence"]), gift_card_id=int(record["gift_card_id"]),
                   card_id=record["card_id"], type=ActivityType(record["activity_type"]),
                   amount=_money(record["amount"]), balance_after=_money(record["balance_after"]),
                   reference=record.get("reference"), refund_id=record.get("refund_id"),
                   reason=record.get("reason"), key_id=record.get("key_id"),
                   hold_amount=_optional_money(record, "hold_amount"),
                   held_after=_optional_money(record, "held_after"), created_at=record["created_at"])


class BalanceActivity(Activity):
    """The answer of POST /gift_cards/{id}/activities: the ledger entry and the card's balance after it."""

    balance: MoneyAmount = Field(description="The card's balance after this activity")
