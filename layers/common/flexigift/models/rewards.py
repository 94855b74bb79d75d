"""Giftcard Rewards: the catalog as the seed shows it, the supplier feed it is loaded from, orders.

The catalog item keeps the seed's field names and JSON types exactly (rewards_id an integer, max_value
and min_value numbers, denominations the seed's comma-separated string). Amounts are whole currency
units ("1 = $1"), so they are integers throughout.
"""

from __future__ import annotations

import re
from enum import Enum, IntEnum
from typing import Annotated, Any, Literal, Optional

from flexigift.models.common import (
    LAZY,
    EmailAddress,
    Identifier,
    RequestModel,
    ResponseModel,
    example,
    integral_number,
)
from flexigift.shapes import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs are fine in prose
EXPIRATION = re.compile(r"^([1-9][0-9]{0,2}) (Day|Week|Month|Year)s?$")
DENOMINATIONS = re.compile(r"^([1-9][0-9]*(,[1-9][0-9]*)*)?$")
MAX_AMOUNT = 1_000_000


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[^\s/$.?#][^\s]*", value):
        raise ValueError("must be an https URL")
    return value


def _expiration(value: str) -> str:
    if not EXPIRATION.fullmatch(value):
        raise ValueError('must be a period such as "24 Months", "90 Days" or "1 Year"')
    return value


def _denominations(value: str) -> str:
    if not DENOMINATIONS.fullmatch(value):
        raise ValueError('must be whole amounts separated by commas, such as "10,25,50" (or empty)')
    return value


def denomination_list(denominations: str) -> list[int]:
    return [int(d) for d in denominations.split(",") if d]


Prose = Annotated[str, StringConstraints(max_length=8000), AfterValidator(_no_control_chars)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_chars)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
WholeAmount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT), BeforeValidator(integral_number)]
RewardId = Annotated[StrictInt, Field(ge=1, le=2**53), BeforeValidator(integral_number)]


class ValueType(str, Enum):
    OPEN = "open_value"    # any whole amount from min_value to max_value
    FIXED = "fixed_value"  # only one of the denominations


class FeedEntry(BaseModel):
    """One reward as the supplier feed lists it: the seed's catalog item plus the country it is sold in
    and whether the supplier offers it at the moment. Fields the feed adds are ignored."""

    model_config = ConfigDict(LAZY, extra="ignore", str_strict=True)

    rewards_id: RewardId
    rewards_name: Name
    description: Prose
    terms: Prose
    expiration: Annotated[str, AfterValidator(_expiration)]
    instructions: Prose
    category: Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_control_chars)]
    image: Annotated[str, StringConstraints(max_length=2000), AfterValidator(_https_url)]
    currency: Currency
    value_type: ValueType
    max_value: WholeAmount
    min_value: WholeAmount
    delivery_type: Literal["realtime"]
    denominations: Annotated[str, StringConstraints(max_length=500), AfterValidator(_denominations)]
    country: Country
    available: StrictBool = True
    issuer: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                               AfterValidator(_no_control_chars)]] = None  # whose products its gift card buys

    @model_validator(mode="after")
    def _amounts_agree(self) -> "FeedEntry":
        if self.min_value > self.max_value:
            raise ValueError("min_value must not exceed max_value")
        amounts = denomination_list(self.denominations)
        if self.value_type is ValueType.FIXED and not amounts:
            raise ValueError("a fixed_value reward needs at least one denomination")
        outside = [a for a in amounts if not self.min_value <= a <= self.max_value]
        if outside:
            raise ValueError(f"denominations {outside} are outside min_value..max_value")
        return self


class CatalogItem(ResponseModel):
    """A reward as GET /rewards/catalog shows it: the seed's fields, names, order and JSON types."""

    rewards_id: int
    rewards_name: str
    description: str
    terms: str
    expiration: str
    instructions: str
    category: str
    image: str
    currency: str
    value_type: str
    max_value: int
    min_value: int
    delivery_type: str
    denominations: str
    issuer: Optional[str] = Field(default=None, description="Whose products the gift card buys (a checkout's "
                                                            "eligible_issuer); needed to pay the reward into a wallet")


class CatalogPage(ResponseModel):
    status: Literal["success"] = "success"
    request_id: str
    catalog: list[CatalogItem]


# --- catalog refresh -----------------------------------------------------------------------------


class RejectedEntry(BaseModel):
    model_config = LAZY

    index: int = Field(description="Position in the feed's rewards list")
    rewards_id: Optional[Any] = None
    errors: list[str]


class RefreshReport(BaseModel):
    """What one refresh did. `applied` is False when the feed was refused as a whole (nothing changed)."""

    model_config = LAZY

    source: str
    applied: bool
    reason: Optional[str] = None
    entries: int = 0
    valid: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_unavailable: int = 0
    conflicts: int = 0
    rejected: list[RejectedEntry] = []


# --- orders --------------------------------------------------------------------------------------


class DeliveryMethod(IntEnum):
    API = 1
    EMAIL = 2
    WALLET = 3   # into a Flexigift user's wallet, as a new gift card


class OrderRequest(RequestModel):
    model_config = example({"reward_id": 27222, "amount": 1})  # the seed's sample order

    reward_id: RewardId
    amount: WholeAmount = Field(description="Whole currency units: 1 = $1")
    delivery_method: Optional[Literal[1, 2, 3]] = Field(
        default=None, description="1 = in this response, 2 = by email, 3 = into the Flexigift wallet of user_id. "
                                  "Left out: 2 if the program allows email and delivery_email is given, else 1")
    delivery_email: Optional[EmailAddress] = None
    user_id: Optional[Identifier] = Field(default=None, description="delivery_method 3: the user whose wallet "
                                                                    "receives the reward as a gift card")

    @model_validator(mode="after")
    def _user_only_for_the_wallet(self) -> "OrderRequest":
        if (self.delivery_method == 3) != (self.user_id is not None):
            raise ValueError("user_id is required with delivery_method 3 (into a wallet), and only with it")
        return self


class ResendRequest(RequestModel):
    model_config = example({"delivery_email": "jack.johnson@example.com"})

    delivery_email: Optional[EmailAddress] = Field(default=None, description="A corrected recipient address")


class OrderStatus(str, Enum):
    PENDING = "pending"    # email not delivered yet
    COMPLETE = "complete"  # the code reached the caller (API) or the recipient's mail server (email)
    FAILED = "failed"      # email delivery gave up; POST /rewards/orders/{id}/resend tries again


class DeliveryStatus(str, Enum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Reward(ResponseModel):
    """The seed's reward object (API delivery only)."""

    reward_id: int
    reward_code: str
    reward_pin: str
    reward_amount: str
    valid_till: str
    currency: str
    reward_type: Literal["codePin"] = "codePin"
    id: Optional[int] = Field(default=None, description="delivery_method 3: the new gift card's id (/gift_cards/{id})")
    card_id: Optional[str] = Field(default=None, description="delivery_method 3: the new gift card's card_id")


class OrderPlaced(ResponseModel):
    """POST /rewards/order: the seed's answer (its `"reward:"` typo is `"reward"` here) plus the order id."""

    status: Literal["success"] = "success"
    request_id: str
    order_status: OrderStatus
    reward: Optional[Reward] = None
    order_id: str

    def to_json(self) -> dict[str, Any]:
        """The email answer carries no reward object at all (not even null); an API answer no card fields."""
        return self.model_dump(mode="python", exclude_none=True)


class AddressChange(ResponseModel):
    """A change of an order's delivery_email, as recorded on the order: never an address in clear."""

    changed_at: str
    key_id: str = Field(description="The API key that made the change")
    old_email: str = Field(description="The previous address, masked (j***@example.com)")
    new_email: str = Field(description="The new address, masked")


class Order(ResponseModel):
    """An order as the orders API shows it: never the code, only its last 4 characters."""

    order_id: str
    reward_id: int
    rewards_name: str
    amount: int
    reward_amount: str
    currency: str
    delivery_method: int
    delivery_email: Optional[str] = None
    user_id: Optional[str] = Field(default=None, description="delivery_method 3: whose wallet received it")
    card_id: Optional[str] = Field(default=None, description="delivery_method 3: the gift card it became")
    order_status: OrderStatus
    delivery_status: DeliveryStatus
    reward_code_last4: str
    reward_type: Literal["codePin"] = "codePin"
    valid_till: str
    created_at: str
    updated_at: str
    delivered_at: Optional[str] = None
    failure_reason: Optional[str] = None
    resend_count: int = 0
    address_changes: list[AddressChange] = Field(
        default=[], description="Each change of delivery_email (made by a resend of a failed order), oldest first; "
                                "both addresses masked")


class OrderEnvelope(ResponseModel):
    status: Literal["success"] = "success"
    request_id: str
    order: Order


class DeliveryMessage(BaseModel):
    """What the delivery queue carries: which order of which program, and which delivery round (the order's
    key is built from program and order, so a worker reads only that program's item). Never the code."""

    model_config = ConfigDict(LAZY, extra="forbid")

    program_id: Identifier
    order_id: Annotated[str, StringConstraints(pattern=r"^ro_[0-9a-f]{20}$")]
    delivery_round: Annotated[StrictInt, Field(ge=1)]
