"""Field types shared by every model."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from flexigift.shapes import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    validate_email,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MAX_MONEY = Decimal("1000000")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# A natural identifier chosen by a client: user006, kohls-gc-001, kohls-dogbed-001.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(_no_control_chars)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_no_control_chars)]


def _money_input(value: Any) -> Any:
    # JSON numbers arrive as int or Decimal (the parser never makes floats); strings like "50.00" are
    # accepted too. Booleans and floats are refused: true is not money, and a float cannot hold it.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("must be a decimal number such as 50 or \"50.00\"")
    if isinstance(value, str):
        if not re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
            raise ValueError("must be a decimal number such as 50 or \"50.00\"")
        return Decimal(value.strip())
    return value


def _two_places(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) > MAX_MONEY:
        raise ValueError(f"must be at most {MAX_MONEY}")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimal places")
    return value


Money = Annotated[Decimal, BeforeValidator(_money_input), AfterValidator(_two_places),
                  Field(ge=0, le=MAX_MONEY)]


def integral_number(value: Any) -> Any:
    """JSON has one number type, and JSON Schema's "integer" is any number without a fraction: 82.0 is the
    integer 82 (found by fuzzing). The parser hands it over as Decimal('82.0'); strict int fields then take it
    as 82, and still refuse strings, booleans and numbers with a fraction."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


# Money in a response: a Decimal written as a JSON number by flexigift.jsonio (pydantic would describe a
# Decimal it serialises itself as a string, which is not what the API writes).
MoneyAmount = Annotated[Decimal, WithJsonSchema({"type": "number"})]


def _iso_date_input(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be an ISO 8601 date such as \"2025-12-31\"")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_input)]


def _email_address(value: str) -> str:
    # pydantic's EmailStr rules (shapes.validate_email; the twins use pydantic's own), email-validator imported
    # when an address is first checked: most handlers never read one.
    return validate_email(value)[1]


EmailAddress = Annotated[str, AfterValidator(_email_address), WithJsonSchema({"type": "string", "format": "email"})]


def money_number(value: Decimal) -> Decimal:
    """Money written as a JSON number: 250 stays 250, 12.5 becomes 12.50."""
    if value == value.to_integral_value():
        return value.quantize(Decimal("1"))
    return value.quantize(Decimal("0.01"))


def money_string(value: Decimal) -> str:
    """Money written as a JSON string with two places, as the seed writes prices: "50.00"."""
    return f"{value.quantize(Decimal('0.01')):f}"


# Every model is built on first use, not at import: a handler's module imports the models of its neighbours
# too. flexigift.shapes always compiles on first use; defer_build says the same to the pydantic twins.
LAZY = ConfigDict(defer_build=True)


class RequestModel(BaseModel):
    """Requests refuse unknown fields: a typo must not be silently dropped."""

    model_config = ConfigDict(LAZY, extra="forbid", str_strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(LAZY, extra="ignore")


def example(body: dict[str, Any]) -> ConfigDict:
    """A request body's example in the OpenAPI contract (the seed's own where it has one): shown by /docs,
    sent by the fuzzer's examples phase."""
    return ConfigDict(json_schema_extra={"examples": [body]})


# The seed's walkthrough, corrected as the README says: Jack, his Kohl's card, the dog bed.
JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
KOHLS_CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
              "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}


def distinct_card_ids(values: list[str] | None) -> list[str] | None:
    """A list of card_ids may not name a card twice (a wallet's gift_cards, a payment's cards)."""
    if values is not None and len(set(values)) != len(values):
        raise ValueError("must not list the same card twice")
    return values
