"""Request models: identifiers, money, dates; response shapes."""

from datetime import date
from decimal import Decimal

import pytest

from flexigift.models.common import money_number, money_string
from flexigift.models.wallet import CardState, GiftCard, GiftCardCreate, ProductCreate, UserCreate, UserPatch
from flexigift.shapes import ValidationError

CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250, "expiry_date": "2025-12-31"}


@pytest.mark.parametrize("user_id", ["user006", "a", "amz.3456_x:y@z-1"])
def test_identifiers_accept_plain_ids(user_id):
    assert UserCreate(user_id=user_id, amazon_id="amz", name="J", email="j@example.com").user_id == user_id


@pytest.mark.parametrize("user_id", ["", " user", "user#1", "-lead", "x" * 65, "a/b"])
def test_identifiers_refuse_separators_and_blanks(user_id):
    with pytest.raises(ValidationError):
        UserCreate(user_id=user_id, amazon_id="amz", name="J", email="j@example.com")


@pytest.mark.parametrize("value, expected", [(250, "250"), ("250.00", "250.00"), (Decimal("0.1"), "0.1")])
def test_money_accepts_numbers_and_numeric_strings(value, expected):
    assert str(GiftCardCreate(**{**CARD, "balance": value}).balance) == expected


@pytest.mark.parametrize("value", [0.1, True, "1e3", "12.345", -0.01, "abc", Decimal("Infinity"), 1000000.01])
def test_money_refuses_floats_bools_exponents_fractions_of_cents_negatives(value):
    with pytest.raises(ValidationError):
        GiftCardCreate(**{**CARD, "balance": value})


def test_price_must_be_positive():
    with pytest.raises(ValidationError):
        ProductCreate(product_id="p", name="n", price=0, eligible_issuer="Kohls")


def test_a_user_cannot_list_a_card_twice():
    with pytest.raises(ValidationError):
        UserPatch(gift_cards=["a", "a"])


def test_control_characters_are_refused_in_names():
    with pytest.raises(ValidationError):
        UserCreate(user_id="u", amazon_id="a", name="Jack\x00", email="j@example.com")


def test_money_formats():
    assert money_number(Decimal("250.00")) == Decimal("250") and str(money_number(Decimal("250.00"))) == "250"
    assert str(money_number(Decimal("12.5"))) == "12.50"
    assert money_string(Decimal("50")) == "50.00"


@pytest.mark.parametrize("expiry, stored, expected", [
    ("2025-12-31", "ACTIVE", CardState.EXPIRED),
    ("2026-01-01", "ACTIVE", CardState.ACTIVE),
    ("2026-01-01", "BLOCKED", CardState.BLOCKED),
    ("2025-12-31", "BLOCKED", CardState.EXPIRED),
])
def test_card_state_derives_expiry(expiry, stored, expected):
    record = {**CARD, "expiry_date": expiry, "state": stored, "id": 1, "created_at": "t", "updated_at": "t"}
    card = GiftCard.from_record(record, today=date(2026, 1, 1))
    assert card.state == expected
    assert card.expired is (expected == CardState.EXPIRED)


@pytest.mark.parametrize("given, kept", [("jack.johnson@example.com", "jack.johnson@example.com"),
                                         ("Jack@EXAMPLE.com", "Jack@example.com"),
                                         ("Jack Johnson <jack@example.com>", "jack@example.com")])
def test_an_email_is_checked_and_normalised_as_pydantic_email_str_does(given, kept):
    """Given an address, when a user is created, then it is kept in email-validator's normal form (the
    domain in lower case), as pydantic's EmailStr keeps it."""
    assert UserCreate(user_id="u", amazon_id="a", name="J", email=given).email == kept


@pytest.mark.parametrize("bad", ["not-an-address", "jack@", "@example.com", "jack@@example.com", ""])
def test_a_malformed_email_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationError) as refused:
        UserPatch(email=bad)
    (error,) = refused.value.errors()
    assert error["loc"] == ("email",) and "email address" in error["msg"]


def test_every_request_example_in_the_contract_is_a_valid_request():
    """Given the example each request model puts in docs/openapi.json (shown by /docs, sent by the fuzzer),
    then the model accepts it: an example that drifted from its model would teach clients a 422."""
    from flexigift.models import api_keys, checkout, rewards, wallet
    from flexigift.models.common import RequestModel

    models = {cls for module in (api_keys, checkout, rewards, wallet) for cls in vars(module).values()
              if isinstance(cls, type) and issubclass(cls, RequestModel) and cls is not RequestModel}
    from local.pydantic_twin import twin

    with_examples = {cls for cls in models if "examples" in twin(cls).model_json_schema()}
    assert {"UserCreate", "UserReplace", "GiftCardCreate", "ProductCreate", "QuoteRequest", "PaymentCreate",
            "RefundCreate", "OrderRequest", "ResendRequest", "ApiKeyCreate"} <= {cls.__name__ for cls in with_examples}
    for cls in with_examples:
        for body in twin(cls).model_json_schema()["examples"]:
            cls.model_validate(body)
