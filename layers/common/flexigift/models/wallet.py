"""Users, gift cards and products: the shapes of the seed's quick start, field for field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Optional

from flexigift.models.common import (
    DOG_BED,
    JACK,
    KOHLS_CARD,
    EmailAddress,
    Identifier,
    IsoDate,
    Money,
    MoneyAmount,
    RequestModel,
    ResponseModel,
    ShortText,
    Text,
    distinct_card_ids,
    example,
    money_number,
    money_string,
)
from flexigift.shapes import Field, field_validator

CardIdList = Annotated[list[Identifier], Field(max_length=25)]


# --- users ---------------------------------------------------------------------------------------


class UserCreate(RequestModel):
    model_config = example(JACK)

    user_id: Identifier
    amazon_id: Identifier
    name: Text
    email: EmailAddress
    gift_cards: Optional[CardIdList] = None
    _unique_cards = field_validator("gift_cards")(distinct_card_ids)


class UserReplace(UserCreate):
    """PUT: the whole user. Fields left out are cleared (gift_cards) or refused (required ones)."""

    model_config = example({**JACK, "gift_cards": [KOHLS_CARD["card_id"]]})

    id: Optional[int] = None  # a client may send back what it read; it must match the path


class UserPatch(RequestModel):
    user_id: Optional[Identifier] = None
    amazon_id: Optional[Identifier] = None
    name: Optional[Text] = None
    email: Optional[EmailAddress] = None
    gift_cards: Optional[CardIdList] = None
    id: Optional[int] = None
    _unique_cards = field_validator("gift_cards")(distinct_card_ids)


class User(ResponseModel):
    user_id: str
    amazon_id: str
    name: str
    email: str
    gift_cards: list[str] = []
    id: int
    created_at: str
    updated_at: str


# --- gift cards ----------------------------------------------------------------------------------


class CardState(str, Enum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"  # derived from expiry_date, never stored


class SettableCardState(str, Enum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"


class GiftCardCreate(RequestModel):
    model_config = example(KOHLS_CARD)

    card_id: Identifier
    user_id: Identifier
    issuer: ShortText
    balance: Money
    expiry_date: IsoDate
    state: SettableCardState = SettableCardState.ACTIVE


class GiftCardReplace(GiftCardCreate):
    """PUT: the whole card. `balance` may be left out or sent as stored (the ledger alone moves it); `state`
    left out keeps the current state."""

    id: Optional[int] = None
    balance: Optional[Money] = None  # type: ignore[assignment]  # left out: the stored balance
    state: Optional[SettableCardState] = None  # type: ignore[assignment]


class GiftCardPatch(RequestModel):
    card_id: Optional[Identifier] = None
    user_id: Optional[Identifier] = None
    issuer: Optional[ShortText] = None
    balance: Optional[Money] = None
    expiry_date: Optional[IsoDate] = None
    state: Optional[SettableCardState] = None
    id: Optional[int] = None


class GiftCard(ResponseModel):
    card_id: str
    user_id: str
    issuer: str
    balance: MoneyAmount = Field(description="What the card can spend now (open holds already left it)")
    held: MoneyAmount = Field(default=Decimal("0"), description="The total of the card's open authorization holds")
    expiry_date: str
    id: int
    state: CardState
    expired: bool
    linked: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, record: dict, today: date) -> "GiftCard":
        expired = date.fromisoformat(record["expiry_date"]) < today
        stored_state = record.get("state", "ACTIVE")
        return cls(
            **{k: v for k, v in record.items() if k not in ("state", "expired", "linked", "balance", "held")},
            balance=money_number(Decimal(record["balance"])),
            held=money_number(Decimal(record.get("held") or 0)),
            state=CardState.EXPIRED if expired else CardState(stored_state),
            expired=expired,
            linked=bool(record.get("linked", False)),
        )


# --- products ------------------------------------------------------------------------------------


class ProductCreate(RequestModel):
    model_config = example(DOG_BED)

    product_id: Identifier
    name: Text
    price: Annotated[Money, Field(gt=0)]
    eligible_issuer: ShortText


class ProductReplace(ProductCreate):
    id: Optional[int] = None


class ProductPatch(RequestModel):
    product_id: Optional[Identifier] = None
    name: Optional[Text] = None
    price: Optional[Annotated[Money, Field(gt=0)]] = None
    eligible_issuer: Optional[ShortText] = None
    id: Optional[int] = None


class Product(ResponseModel):
    product_id: str
    name: str
    price: str
    eligible_issuer: str
    id: int
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, record: dict) -> "Product":
        return cls(**{**record, "price": money_string(Decimal(record["price"]))})
