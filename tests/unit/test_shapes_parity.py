"""flexigift.shapes against pydantic, on the project's own models: a differential test.

At run time the models of flexigift.models are validated by flexigift.shapes, a small pydantic-compatible
subset; local.pydantic_twin.twin(Model) is the real pydantic class built from the very same source. For every
model this file proves that both engines

- accept and refuse the same inputs,
- when both accept, dump the same: model_dump(mode="json"); mode="python" with exclude_unset=True, and with
  exclude_none=True and an exclude set (enums compared by value, since the twin's enum classes are others,
  numbers by type and value, key order included); and the same model_fields_set,
- when both refuse, report the same errors in the same order: loc, type and msg,
- leave the input as it was.

Two kinds of tests: a deterministic random mutation fuzz per model (random.Random seeded by the model's name)
starting from valid inputs (the OpenAPI example, a hand-written valid body, a response built from the
model's fields) and mutating them with tricky values; and hand-written edge cases per concern, parametrized so
that a failure names its concern. A failure shows the model, the input and both outcomes.
"""

from __future__ import annotations

import copy
import enum
import importlib
import inspect
import random
import types
import typing
import zlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

import pydantic
import pytest

from flexigift import shapes
from local.pydantic_twin import twin

MODULES = ("common", "wallet", "checkout", "rewards", "events", "api_keys")
REQUEST_CASES = 3000   # per model that reads what a client, the supplier feed or the queue sends
RESPONSE_CASES = 600   # per model the service fills itself
SHOWN = 4              # mismatches shown per failing model (each shrunk to a small input)


# --- the models ----------------------------------------------------------------------------------


def _all_models() -> dict[str, type]:
    found: dict[str, type] = {}
    for name in MODULES:
        module = importlib.import_module(f"flexigift.models.{name}")
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, shapes.BaseModel) and value is not shapes.BaseModel
                    and value.__module__ == module.__name__):
                found[value.__qualname__] = value
    return {name: cls for name, cls in found.items()
            if twin(cls).model_fields or name not in ("RequestModel", "ResponseModel")}


MODELS = _all_models()


def _reads_outside_input(name: str) -> bool:
    """Request bodies, the supplier feed's entries and queue messages: strict, so fuzzed hardest."""
    config = twin(MODELS[name]).model_config
    return config.get("extra") == "forbid" or bool(config.get("str_strict"))


def _model(name: str) -> type:
    return MODELS[name]


# --- outcomes ------------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A dump made comparable across the engines: enums by value (the twin's enum classes are others), every
    scalar tagged with its type (True is not 1, 1 is not Decimal(1)), Decimals and dates by value, dict keys
    in order."""
    if isinstance(value, enum.Enum):
        return _norm(value.value)
    if value is None:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, Decimal):
        return ("Decimal", value if value.is_finite() else str(value))
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if isinstance(value, date):
        return ("date", value.isoformat())
    if isinstance(value, dict):
        return ("dict", [(_norm(k), _norm(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_norm(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(repr(_norm(v)) for v in value))
    return (type(value).__name__, repr(value))


def _safely(produce: Callable[[], Any]) -> Any:
    try:
        return _norm(produce())
    except Exception as exc:  # noqa: BLE001 - an engine that raises while dumping is an outcome too
        return ("raised", f"{type(exc).__name__}: {exc}")


def _dumps(instance: Any, data: Any) -> dict[str, Any]:
    exclude = {next(iter(data))} if isinstance(data, dict) and data else None
    return {
        "model_dump(mode='json')": _safely(lambda: instance.model_dump(mode="json")),
        "model_dump(mode='python', exclude_unset=True)":
            _safely(lambda: instance.model_dump(mode="python", exclude_unset=True)),
        f"model_dump(mode='python', exclude={exclude}, exclude_none=True)":
            _safely(lambda: instance.model_dump(mode="python", exclude=exclude, exclude_none=True)),
        "model_fields_set": _safely(lambda: sorted(instance.model_fields_set)),
    }


def _outcome(cls: type, refusal: type[Exception], data: Any, construct: bool = False) -> tuple:
    """("accepted", dumps) or ("refused", [(loc, type, msg), ...]) or ("raised", what)."""
    try:
        instance = cls(**data) if construct else cls.model_validate(data)
    except refusal as exc:
        return ("refused", [(error["loc"], error["type"], error["msg"]) for error in exc.errors()])
    except Exception as exc:  # noqa: BLE001 - anything else an engine raises is a mismatch to show
        return ("raised", f"{type(exc).__name__}: {exc}")
    return ("accepted", _dumps(instance, data))


def _compare(cls: type, data: Any, construct: bool = False) -> tuple[tuple, tuple, bool]:
    """Both engines' outcomes for one input (each given its own copy), and whether ours left it unchanged."""
    theirs = _outcome(twin(cls), pydantic.ValidationError, copy.deepcopy(data), construct)
    given = copy.deepcopy(data)
    before = repr(given)
    ours = _outcome(cls, shapes.ValidationError, given, construct)
    return theirs, ours, repr(given) == before


def _difference(theirs: tuple, ours: tuple, unchanged: bool) -> str | None:
    """What differs, in a word (used to shrink an input without losing the mismatch), or None."""
    if not unchanged:
        return "shapes changed its input"
    if theirs[0] != ours[0]:
        refusal = next((o for o in (theirs, ours) if o[0] != "accepted"), theirs)
        return f"pydantic {theirs[0]}, shapes {ours[0]} ({_first_error(refusal)})"
    if theirs[0] == "accepted":
        for key, value in theirs[1].items():
            if ours[1].get(key) != value:
                return f"both accepted; {key} differs"
        return None
    if theirs[1] != ours[1]:
        if theirs[0] == "raised":
            return "both raised, differently"
        pairs = [(a, b) for a, b in zip(theirs[1], ours[1], strict=False) if a != b]
        if not pairs:
            return f"both refused; {len(theirs[1])} errors against {len(ours[1])}"
        (_, kind, msg), (_, our_kind, our_msg) = pairs[0]
        if kind != our_kind:
            return f"both refused; type {kind} against {our_kind}"
        return f"both refused; {'msg' if msg != our_msg else 'loc'} of {kind} differs"
    return None


def _first_error(outcome: tuple) -> str:
    if outcome[0] == "refused":
        return outcome[1][0][1] if outcome[1] else "no errors"
    return str(outcome[1]).split(":")[0]


def _show(outcome: tuple, other: tuple) -> str:
    if outcome[0] == "accepted" and other[0] == "accepted":
        return "accepted; " + "; ".join(f"{k} = {v!r}" for k, v in outcome[1].items() if other[1].get(k) != v)
    if outcome[0] == "accepted":
        return "accepted; " + repr(outcome[1]["model_dump(mode='json')"])
    if outcome[0] == "refused":
        return "refused: " + "; ".join(f"loc={loc!r} type={kind!r} msg={msg!r}" for loc, kind, msg in outcome[1])
    return f"raised {outcome[1]}"


def _report(name: str, data: Any, theirs: tuple, ours: tuple, unchanged: bool, construct: bool = False) -> str:
    call = f"{name}(**input)" if construct else f"{name}.model_validate(input)"
    return (f"{call}: {_difference(theirs, ours, unchanged)}\n"
            f"    input:    {data!r}\n"
            f"    pydantic: {_show(theirs, ours)}\n"
            f"    shapes:   {_show(ours, theirs)}")


def _assert_same(name: str, data: Any, construct: bool = False) -> None:
    theirs, ours, unchanged = _compare(_model(name), data, construct)
    if _difference(theirs, ours, unchanged) is not None:
        pytest.fail(_report(name, data, theirs, ours, unchanged, construct), pytrace=False)


# --- valid inputs --------------------------------------------------------------------------------

JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250, "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00", "eligible_issuer": "Kohls"}
FEED_OPEN = {
    "rewards_id": 27222, "rewards_name": "Amazon.com eGift Card", "description": "Redeemable for millions of items.",
    "terms": "Valid in US only.\nNot a credit card.", "expiration": "10 Years", "instructions": "Online: Your Account.",
    "category": "Shopping,Remote Work", "image": "https://images.flexigift.example/rewards/amazon.jpg",
    "currency": "USD", "value_type": "open_value", "max_value": 2000, "min_value": 1, "delivery_type": "realtime",
    "denominations": "1,5,10,25,50,100", "country": "US",
}
FEED_FIXED = {**FEED_OPEN, "rewards_id": 27234, "value_type": "fixed_value", "min_value": 10, "max_value": 100,
              "denominations": "10,25,100", "expiration": "1 Month", "available": False, "issuer": " Lowes ",
              "supplier_only": "ignored", "terms": "", "category": ""}

# Valid bodies for every model that reads outside input, besides the twin's OpenAPI example (if it has one).
SEEDS: dict[str, list[dict[str, Any]]] = {
    "UserCreate": [{**JACK, "gift_cards": ["kohls-gc-001", "amz.3456_x:y@z-1"]}, {**JACK, "gift_cards": None}],
    "UserReplace": [{**JACK, "gift_cards": [], "id": 6, "name": "  Jack  "}],
    "UserPatch": [{}, {"user_id": "u", "amazon_id": "a", "name": " Jack ", "email": "Jack Johnson <Jack@EXAMPLE.com>",
                       "gift_cards": ["c1", "c2"], "id": 6}],
    "GiftCardCreate": [{**CARD, "balance": "50.00", "state": "BLOCKED"}, {**CARD, "balance": Decimal("12.5")}],
    "GiftCardReplace": [{**CARD, "id": 3, "balance": None, "state": None}, {**CARD, "state": "ACTIVE"}],
    "GiftCardPatch": [{}, {"card_id": "c", "user_id": "u", "issuer": " Kohls ", "balance": Decimal("0.01"),
                           "expiry_date": "2024-02-29", "state": "ACTIVE", "id": 1}],
    "ProductCreate": [{**DOG_BED, "price": 1}, {**DOG_BED, "price": Decimal("0.01")}],
    "ProductReplace": [{**DOG_BED, "id": 2}],
    "ProductPatch": [{}, {"product_id": "p", "name": "n", "price": Decimal("999999.99"), "eligible_issuer": "K",
                          "id": 2}],
    "LineItem": [{"product_id": "kohls-dogbed-001", "quantity": 3}, {"product_id": "p"}],
    "QuoteRequest": [{"amazon_id": "amz3456", "items": [{"product_id": "a", "quantity": 2}, {"product_id": "b"}],
                      "cards": ["c1", "c2"]}],
    "PaymentCreate": [{"user_id": "user006", "items": [{"product_id": "a", "quantity": 100}], "capture": False,
                       "hold_seconds": 30, "allow_remainder": True},
                      {"amazon_id": "amz3456", "items": [{"product_id": "a"}, {"product_id": "b", "quantity": 2}],
                       "capture": True, "cards": ["kohls-gc-001"]}],
    "CaptureRequest": [{}, {"amount": "0.01"}, {"amount": None}],
    "RefundCreate": [{}, {"amount": Decimal("1000000")}],
    "BalanceActivityCreate": [{"type": "ADJUST_DECREMENT", "amount": "1.50", "reason": " typo "}],
    "FeedEntry": [FEED_OPEN, FEED_FIXED],
    "OrderRequest": [{"reward_id": 27222, "amount": 25, "delivery_method": 3, "user_id": "user006"},
                     {"reward_id": 1, "amount": 1, "delivery_method": 2, "delivery_email": "jack@example.com"}],
    "ResendRequest": [{}, {"delivery_email": None}],
    "DeliveryMessage": [{"program_id": "default", "order_id": "ro_0123456789abcdef0123", "delivery_round": 1}],
    "WebhookEndpointCreate": [{"url": "http://127.0.0.1:9000/hook", "events": ["payment.captured", "refund.created",
                                                                            "payment.captured"], "description": "d"},
                              {"url": "https://x", "events": ["payment.voided", "*"]}],
    "ApiKeyCreate": [{"name": "ops", "scopes": ["admin", "wallet:read"], "program_id": "acme"},
                     {"name": "operator", "scopes": ["issuer"], "operator": True}],
    "ProgramCreate": [{"program_id": "acme", "name": "Acme", "delivery_methods": [1, 2, 3]}],
}


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _value_for(annotation: Any, field: str, full: bool) -> Any:
    """A plausible value for a response field, from the twin's annotation."""
    annotation = _unwrap(annotation)
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _value_for(next(a for a in arguments if a is not type(None)), field, full)
    if origin is typing.Literal:
        return arguments[0]
    if origin is list:
        return [_value_for(arguments[0], field, full), _value_for(arguments[0], field, full)] if full else []
    if origin is dict:
        return {"id": "pay_1", "amount": Decimal("12.50"), "items": [{"quantity": 1}], "status": None}
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return list(annotation)[-1].value
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel):
        return _response_seed(annotation, full)
    if annotation is bool:
        return True
    if annotation is int:
        return 7
    if annotation is Decimal:
        return Decimal("12.50")
    if annotation is str:
        return "2025-06-01T12:00:00Z" if field.endswith("_at") else f"{field}-1"
    return "anything"


def _response_seed(twin_cls: type, full: bool) -> dict[str, Any]:
    return {name: _value_for(info.annotation, name, full) for name, info in twin_cls.model_fields.items()
            if full or info.is_required()}


def _seeds(name: str) -> list[Any]:
    twin_cls = twin(_model(name))
    seeds = list(twin_cls.model_json_schema().get("examples", []))
    seeds += SEEDS.get(name, [])
    if not _reads_outside_input(name):
        seeds += [_response_seed(twin_cls, full=True), _response_seed(twin_cls, full=False)]
    assert seeds, f"{name}: no valid input to start from; add one to SEEDS"
    return seeds


# --- mutations -----------------------------------------------------------------------------------

TRICKY: list[Any] = [
    None, True, False, 0, 1, -1, 2, 2**70, Decimal("0"), Decimal("1.0"), Decimal("-0.001"), Decimal("12.345"),
    Decimal("1000000.01"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+2"), 1.5, 5.0, "", " ", " x ", "x",
    "a" * 65, "a" * 201, "5", " 5 ", "+5", "5.0", "1_0", "true", "yes", "off", "2025-02-30", "2025-13-01",
    "0000-01-01", "2030-12-31", "2030-1-1", "ACTIVE", "BLOCKED", "EXPIRED", "LOAD", "payment.captured", "*",
    "https://x.example/a", "http://x", "jack@example.com", "Jack <Jack@EXAMPLE.com>", "x@localhost", "a\n", "a\x01",
    "٥", [], [1], ["a", "a"], ["a", "b"], {}, {"a": 1}, (1,),
    # beyond the brief's list: neighbours of the limits the models draw
    Decimal("-0"), Decimal("0.01"), Decimal("1000000"), Decimal("-Infinity"), Decimal("82.0"), 100, 101, 30,
    2592000, 2**53, 2**53 + 1, "-1", "1e3", "0.10", "a" * 64, "ro_0123456789abcdef0123", "open_value", "fixed_value",
    "realtime", "US", "USD", "24 Months", "10,25", "issuer", "admin", "success", "\t", "é", "Kohls", "9" * 4301,
]
PYTHON_ONLY: list[Any] = [1.0, -0.0, float("nan"), float("inf"), 1e300, ("a", "b"), {"a"}, frozenset({1}),
                          date(2030, 12, 31)]  # no bytes: nothing the application validates holds any
UNKNOWN_KEYS = ["extra", "ID", "User_id", " user_id", "user_id ", "model_config", "__class__", "_private", "0",
                "model_fields_set", "__dict__"]


def _paths(value: Any, path: tuple = ()) -> typing.Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replace(root: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return root


def _leaves(values: list[Any]) -> list[Any]:
    return [v for seed in values for _, v in _paths(seed) if not isinstance(v, (dict, list))]


class Mutator:
    def __init__(self, rng: random.Random, seeds: list[Any]) -> None:
        self.rng, self.seeds = rng, seeds
        self.valid = _leaves(seeds) or ["x"]

    def value(self) -> Any:
        roll = self.rng.random()
        if roll < 0.65:
            return copy.deepcopy(self.rng.choice(TRICKY))
        if roll < 0.75:
            return copy.deepcopy(self.rng.choice(PYTHON_ONLY))
        if roll < 0.85:
            return [copy.deepcopy(self.rng.choice(TRICKY + self.valid)) for _ in range(self.rng.randrange(4))]
        return copy.deepcopy(self.rng.choice(self.valid))

    def case(self) -> Any:
        data = copy.deepcopy(self.rng.choice(self.seeds))
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            data = self.mutate(data)
        return data

    def mutate(self, data: Any) -> Any:
        rng = self.rng
        paths = list(_paths(data))
        dicts = [(p, v) for p, v in paths if isinstance(v, dict)]
        lists = [(p, v) for p, v in paths if isinstance(v, list) and v]
        op = rng.choices(("set", "valid", "drop", "unknown", "list"), weights=(45, 15, 15, 8, 17))[0]
        if op == "drop" and any(v for _, v in dicts):
            _, where = rng.choice([(p, v) for p, v in dicts if v])
            del where[rng.choice(list(where))]
            return data
        if op == "unknown" and dicts:
            _, where = rng.choice(dicts)
            where[rng.choice(UNKNOWN_KEYS)] = self.value()
            return data
        if op == "list" and lists:
            path, items = rng.choice(lists)
            return _replace(data, path, self.reshaped(items))
        inner = [p for p, _ in paths if p] or [()]
        if op == "valid":
            return _replace(data, rng.choice(inner), copy.deepcopy(rng.choice(self.valid)))
        path = () if rng.random() < 0.01 else rng.choice(inner)
        return _replace(data, path, self.value())

    def reshaped(self, items: list[Any]) -> Any:
        rng = self.rng
        kind = rng.choice(("duplicate", "length", "length", "element", "tuple", "set"))
        if kind == "duplicate":
            return [*items, copy.deepcopy(rng.choice(items))]
        if kind == "element":
            items[rng.randrange(len(items))] = self.value()
            return items
        if kind == "tuple":
            return tuple(items)
        if kind == "set":
            try:
                return set(items)
            except TypeError:
                return tuple(items)
        length = rng.choice((0, 1, 25, 26, 50, 51))
        if rng.random() < 0.3:
            return [copy.deepcopy(items[i % len(items)]) for i in range(length)]
        return [_distinct(items[i % len(items)], i) for i in range(length)]


def _distinct(item: Any, index: int) -> Any:
    """A copy of a list element made distinct by its index (distinct card ids, distinct products)."""
    if isinstance(item, str):
        return f"{item}{index}" if index else item
    if isinstance(item, dict):
        return {k: (f"{v}{index}" if isinstance(v, str) and index and k.endswith("id") else copy.deepcopy(v))
                for k, v in item.items()}
    return copy.deepcopy(item)


# --- shrinking a mismatch ------------------------------------------------------------------------


def _smaller(data: Any) -> typing.Iterator[Any]:
    """Inputs one step smaller than data: a key or list element dropped, a container emptied."""
    for path, value in list(_paths(data)):
        if isinstance(value, (dict, list)):
            for key in list(value) if isinstance(value, dict) else range(len(value)):
                smaller = copy.deepcopy(data)
                parent = smaller
                for step in path:
                    parent = parent[step]
                del parent[key]
                yield smaller


def _shrink(cls: type, data: Any, what: str, budget: int = 300) -> Any:
    improved = True
    while improved and budget > 0:
        improved = False
        for smaller in _smaller(data):
            budget -= 1
            if _difference(*_compare(cls, smaller)) == what:
                data, improved = smaller, True
                break
            if budget <= 0:
                break
    return data


# --- the fuzz ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_agrees_with_pydantic_on_mutated_inputs(name):
    """Given valid inputs for the model (its OpenAPI example, hand-written bodies, or a response built from
    its fields) mutated at random (a field dropped, an unknown field added, a field, nested field or list
    element set to a tricky value, a list duplicated, emptied or grown past its limit), when shapes and
    pydantic validate each, then both accept or both refuse; having accepted, they dump the same and know
    the same fields set; having refused, they report the same errors (loc, type, msg) in the same order. The
    responses are also built by keyword arguments, as their from_record methods build them."""
    cls = _model(name)
    rng = random.Random(zlib.crc32(name.encode()))
    mutator = Mutator(rng, _seeds(name))
    reading = _reads_outside_input(name)
    cases = [*mutator.seeds, *(mutator.case() for _ in range(REQUEST_CASES if reading else RESPONSE_CASES))]
    found: dict[str, tuple[Any, bool]] = {}
    mismatches = 0
    for number, data in enumerate(cases):
        construct = not reading and number % 2 == 1 and isinstance(data, dict)
        what = _difference(*_compare(cls, data, construct))
        if what is not None:
            mismatches += 1
            found.setdefault(what, (data, construct))
    shown = []
    for what, (data, construct) in list(found.items())[:SHOWN]:
        if not construct:
            data = _shrink(cls, data, what)
        shown.append(_report(name, data, *_compare(cls, data, construct), construct=construct))
    if found:
        pytest.fail(f"{name}: {mismatches} of {len(cases)} inputs differ, in {len(found)} ways; the first "
                    f"{len(shown)}, shrunk:\n" + "\n".join(shown), pytrace=False)


def test_every_model_is_fuzzed():
    """Given the model modules, when their classes are collected, then every model of flexigift.models (on
    shapes.BaseModel) is among them, each with its pydantic twin, and the valid inputs the fuzz starts from
    are valid for both engines."""
    assert len(MODELS) >= 50, sorted(MODELS)
    for name, cls in MODELS.items():
        assert issubclass(twin(cls), pydantic.BaseModel) and twin(cls).__name__ == cls.__name__
        for seed in _seeds(name):
            theirs, ours, _ = _compare(cls, seed)
            assert theirs[0] == ours[0] == "accepted", _report(name, seed, theirs, ours, True)


# --- edge cases, by concern ----------------------------------------------------------------------

IDENTIFIERS = ["user006", "a", "a" * 64, "a" * 65, "", " ", "-lead", ".x", "x y", "a\n", "a\x01", "a/b", "٥", "é",
               "１", "amz.3456_x:y@z-1", 5, None, True, Decimal("1"), ["a"]]
TEXTS = [" x ", " ", "", "x", "a" * 200, "a" * 201, " " + "a" * 200 + " ", "a\n", "\na", "a\x01", "a\x7f", "a\tb",
         "\u00a0a\u00a0", "\u2003", "é" * 200, 5, None, ["x"]]
MONEY = [0, 1, -1, 2**70, 1000000, 1000001, True, False, 1.5, 5.0, Decimal("0"), Decimal("-0"), Decimal("1.0"),
         Decimal("0.01"), Decimal("-0.001"), Decimal("0.001"), Decimal("12.345"), Decimal("12.340"),
         Decimal("1000000.00"), Decimal("1000000.01"), Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN"),
         Decimal("Infinity"), Decimal("-Infinity"), Decimal("1E+2"), Decimal("1E-2"), Decimal("1E+100000"),
         Decimal("1E-100000"), "9" * 4301, "5", " 5 ", "+5", "-5", "5.0", "5.", ".5", "1_0", "1e3", "0.001", "-0", "٥", "", " ",
         "abc", None, [], {}, (1,)]
DATES = ["2030-12-31", "2024-02-29", "2023-02-29", "2025-02-30", "2025-13-01", "2025-00-10", "0000-01-01",
         "0001-01-01", "9999-12-31", "2030-1-1", "2030-12-31 ", "2030-12-31T00:00:00", "20301231", "٢٠٣٠-١٢-٣١",
         "", 20301231, None, date(2030, 12, 31), datetime(2030, 12, 31), ["2030-12-31"]]
EMAILS = ["jack@example.com", "Jack <Jack@EXAMPLE.com>", "Jack Johnson <jack@example.com>", "x@localhost",
          "jack@", "@example.com", "jack@@example.com", "", " jack@example.com ", "jack@example.com\n",
          "jack@exa mple.com", "ジャック@example.com", "jack@bücher.example", "a" * 65 + "@example.com",
          "jack@" + "a" * 64 + ".com", "jack..j@example.com", '"jack j"@example.com', "<jack@example.com>", 5, None]
STRICT_INTS = [1, 100, 0, 101, -1, True, False, "5", 5.0, 5.5, Decimal("5"), Decimal("5.0"), Decimal("5.5"),
               Decimal("NaN"), Decimal("Infinity"), Decimal("1E+1"), 2**70, None, [5]]
LAX_INTS = [5, -1, 0, 2**70, True, "5", " 5 ", "+5", "-5", "5.0", "5.5", "1_0", "0x10", "٥", "", 5.0, 5.5,
            float("nan"), 1e20, 1e300, "9" * 4300, "9" * 4301, Decimal("5"), Decimal("5.0"), Decimal("5.5"), Decimal("NaN"), None, [5]]
LAX_BOOLS = [True, False, 0, 1, 2, -1, "true", "True", "TRUE", "false", "yes", "no", "on", "off", "t", "f", "y",
             "n", "1", "0", " true", "", 1.0, 0.0, 1.5, Decimal("1"), Decimal("0"), None, []]
LISTS_OF_IDS = [[], ["a"], ["a", "a"], ["a", "b", "a"], [f"c{i}" for i in range(25)], [f"c{i}" for i in range(26)],
                ["c"] * 26, ("a", "b"), {"a"}, frozenset({"a"}), "ab", ["a", 5], ["a", None], [""], {"a": 1}, None,
                [["a"]]]
ENUM_VALUES = ["ACTIVE", "BLOCKED", "EXPIRED", "active", " ACTIVE", "ACTIVE ", "", 1, None, True, ["ACTIVE"]]

EDGES: list[tuple[str, str, Any]] = [
    # identifiers
    *[("identifier", "UserPatch", {"user_id": v}) for v in IDENTIFIERS],
    *[("identifier", "DeliveryMessage", {"program_id": v, "order_id": "ro_0123456789abcdef0123",
                                         "delivery_round": 1}) for v in IDENTIFIERS],
    *[("identifier", "DeliveryMessage", {"program_id": "p", "order_id": v, "delivery_round": 1})
      for v in ["ro_0123456789abcdef0123", "ro_0123456789ABCDEF0123", "ro_0123456789abcdef012", "ro_0123456789abcdef0123\n",
                "ro_٠123456789abcdef0123", 5]],
    # text: stripped, bounded, no control characters; str_strict in requests, lax str in responses
    *[("text", "UserPatch", {"name": v}) for v in TEXTS],
    *[("text", "GiftCardPatch", {"issuer": v}) for v in [*TEXTS, "a" * 64, "a" * 65, "  " + "a" * 64 + "  "]],
    *[("text", "WebhookEndpointCreate", {"url": "https://x", "events": ["*"], "description": v}) for v in TEXTS],
    *[("text", "FeedEntry", {**FEED_OPEN, "rewards_name": v}) for v in TEXTS],
    *[("text", "FeedEntry", {**FEED_OPEN, "terms": v}) for v in ["", "a\nb\r\n\tc", "a\x0b", "a" * 8000, "a" * 8001, 5]],
    *[("text", "User", {"user_id": v, "amazon_id": "a", "name": "n", "email": "e", "id": 1, "created_at": "t",
                        "updated_at": "t"}) for v in ["x", "", 5, 5.5, Decimal("5"), True, None,
                                                      ["x"], date(2030, 1, 1)]],
    # money: Decimal with at most 2 places, 0..1000000, no bool or float, numeric strings only
    *[("money", "GiftCardPatch", {"balance": v}) for v in MONEY],
    *[("money", "ProductPatch", {"price": v}) for v in [0, Decimal("0.00"), "0.00", Decimal("0.01"), "-0.01", 1]],
    *[("money", "CaptureRequest", {"amount": v}) for v in MONEY],
    *[("money", "GiftCard", {"card_id": "c", "user_id": "u", "issuer": "i", "balance": v, "expiry_date": "2030-12-31",
                             "id": 1, "state": "ACTIVE", "expired": False, "linked": True, "created_at": "t",
                             "updated_at": "t"}) for v in MONEY],
    # dates: YYYY-MM-DD that is a real date
    *[("date", "GiftCardPatch", {"expiry_date": v}) for v in DATES],
    # enums and literals
    *[("enum", "GiftCardPatch", {"state": v}) for v in ENUM_VALUES],
    *[("enum", "GiftCardCreate", {**CARD, "state": v}) for v in ENUM_VALUES],
    *[("enum", "BalanceActivityCreate", {"type": v, "amount": 1, "reason": "r"})
      for v in ["LOAD", "REDEEM", "load", "ADJUST_INCREMENT", 1, None]],
    *[("enum", "Payment", {"id": "p", "status": v, "amount": 1, "total": 1, "remainder_due": 0, "allocations": [],
                           "refunded_amount": 0, "user_id": "u", "items": [], "created_at": "t"})
      for v in ["captured", "CAPTURED", "authorized", "", 1, None]],
    *[("literal", "OrderRequest", {"reward_id": 1, "amount": 1, "delivery_method": v})
      for v in [1, 2, 3, 0, 4, True, False, 1.0, 2.5, Decimal("1"), Decimal("1.0"), "1", " 1", None, [1]]],
    *[("literal", "ProgramCreate", {"program_id": "p", "name": "n", "delivery_methods": v})
      for v in [[], [1], [1, 2, 3], [1, 1, 1], [1, 1, 1, 1], [True], [1.0], [Decimal("2")], ["1"], [0], [4], (1, 2),
                {1, 2}, None, 1]],
    *[("literal", "WebhookEndpointCreate", {"url": "https://x", "events": v})
      for v in [["*"], [], ["payment.captured", "*"], ["payment.captured"] * 11, ["payment.captured"] * 10,
                ["PAYMENT.CAPTURED"], ["payment.captured "], ["x", "y"], "payment.captured", [1], [None],
                ("*",), {"*"}]],
    *[("literal", "ApiKeyCreate", {"name": "n", "scopes": v})
      for v in [["admin"], [], ["admin"] * 8, ["admin"] * 9, ["Admin"], ["admin", "nope", "issuer"], "admin"]],
    *[("literal", "FeedEntry", {**FEED_OPEN, "delivery_type": v}) for v in ["realtime", "Realtime", "", None, 1]],
    *[("literal", "CatalogPage", {"status": v, "request_id": "r", "catalog": []}) for v in ["success", "failure", 1]],
    # integers: strict (quantity, hold_seconds, reward ids, amounts, rounds) and lax (ids, response counts)
    *[("strict int", "LineItem", {"product_id": "p", "quantity": v}) for v in STRICT_INTS],
    *[("strict int", "PaymentCreate", {"user_id": "u", "items": [{"product_id": "p"}], "capture": False,
                                       "hold_seconds": v})
      for v in [30, 29, 2592000, 2592001, Decimal("30.0"), "30", 30.0, True, None]],
    *[("strict int", "OrderRequest", {"reward_id": v, "amount": 1})
      for v in [1, 0, 2**53, 2**53 + 1, Decimal("27222.0"), Decimal("27222.5"), "27222", True, 27222.0, -5]],
    *[("strict int", "OrderRequest", {"reward_id": 1, "amount": v}) for v in [1000000, 1000001, 0, Decimal("1E+2")]],
    *[("strict int", "DeliveryMessage", {"program_id": "p", "order_id": "ro_0123456789abcdef0123",
                                         "delivery_round": v}) for v in [1, 0, True, 1.0, "1", Decimal("1"), 2**70]],
    *[("lax int", "UserPatch", {"id": v}) for v in LAX_INTS],
    *[("lax int", "SweepReport", {"minutes": v, "expired": 0, "already_closed": 0, "failed": 0, "next_minute": "m"})
      for v in LAX_INTS],
    # booleans: strict (capture, allow_remainder, available) and lax (operator, expired)
    *[("strict bool", "PaymentCreate", {"user_id": "u", "items": [{"product_id": "p"}], "capture": v})
      for v in LAX_BOOLS],
    *[("strict bool", "FeedEntry", {**FEED_OPEN, "available": v}) for v in [True, False, 1, "true", None]],
    *[("lax bool", "ApiKeyCreate", {"name": "n", "scopes": ["admin"], "operator": v}) for v in LAX_BOOLS],
    # email addresses: checked and normalised as pydantic's EmailStr
    *[("email", "UserPatch", {"email": v}) for v in EMAILS],
    *[("email", "ResendRequest", {"delivery_email": v}) for v in EMAILS],
    # lists: lengths, duplicates, sequences that are not lists
    *[("list", "UserPatch", {"gift_cards": v}) for v in LISTS_OF_IDS],
    *[("list", "QuoteRequest", {"user_id": "u", "items": [{"product_id": "p"}], "cards": v}) for v in LISTS_OF_IDS],
    *[("list", "QuoteRequest", {"user_id": "u", "items": v})
      for v in [[], [{"product_id": "p"}] * 2, [{"product_id": f"p{i}"} for i in range(50)],
                [{"product_id": f"p{i}"} for i in range(51)], [{"product_id": "p"}] * 51, ({"product_id": "p"},),
                [{"product_id": "p"}, {"product_id": "q", "quantity": 0}], [{"product_id": "p", "extra": 1}], [None],
                ["p"], [[("product_id", "p")]], {"product_id": "p"}]],
    *[("list", "User", {"user_id": "u", "amazon_id": "a", "name": "n", "email": "e", "id": 1, "created_at": "t",
                        "updated_at": "t", "gift_cards": v}) for v in [[], ["a", "a"], ("a",), {"a"}, "a", [1], None]],
    # unknown fields: refused by requests, ignored by responses and the feed
    *[("extra", m, {**body, k: 1}) for m, body in [("UserCreate", JACK), ("FeedEntry", FEED_OPEN),
                                                   ("ResendRequest", {}), ("Allocation", {})]
      for k in ["extra", "ID", "__class__", "model_config", "_private", "model_fields_set"]],
    ("extra", "UserCreate", {**JACK, "b": 1, "a": 2, "user_id": 5}),
    ("extra", "DeliveryMessage", {"program_id": "p", "order_id": "ro_0123456789abcdef0123", "delivery_round": 1,
                                  "extra": None}),
    # model validators: their errors at loc (), and only once the fields are valid
    *[("model validator", "QuoteRequest", v) for v in [
        {"items": [{"product_id": "p"}]}, {"user_id": "u", "amazon_id": "a", "items": [{"product_id": "p"}]},
        {"user_id": None, "amazon_id": None, "items": [{"product_id": "p"}]}, {"user_id": "u", "items": []},
        {"items": []}, {"user_id": "", "items": [{"product_id": "p"}]}]],
    *[("model validator", "PaymentCreate", v) for v in [
        {"user_id": "u", "items": [{"product_id": "p"}], "hold_seconds": 30},
        {"user_id": "u", "items": [{"product_id": "p"}], "hold_seconds": 30, "capture": True},
        {"user_id": "u", "amazon_id": "a", "items": [{"product_id": "p"}], "hold_seconds": 30},
        {"items": [{"product_id": "p"}], "hold_seconds": 30, "capture": False}]],
    *[("model validator", "ApiKeyCreate", v) for v in [
        {"name": "n", "scopes": ["issuer"]}, {"name": "n", "scopes": ["admin"], "issuer": "K"},
        {"name": "n", "scopes": ["issuer", "admin"], "issuer": "K"}, {"name": "n", "scopes": ["issuer"],
                                                                      "issuer": "K", "operator": True},
        {"name": "n", "scopes": ["issuer"], "issuer": " K "}, {"name": "n", "scopes": ["issuer"], "issuer": " "}]],
    *[("model validator", "OrderRequest", v) for v in [
        {"reward_id": 1, "amount": 1, "delivery_method": 3}, {"reward_id": 1, "amount": 1, "user_id": "u"},
        {"reward_id": 1, "amount": 1, "delivery_method": 1, "user_id": "u"}, {"reward_id": 0, "amount": 1,
                                                                             "user_id": "u"}]],
    *[("model validator", "FeedEntry", {**FEED_OPEN, **v}) for v in [
        {"min_value": 3000}, {"value_type": "fixed_value", "denominations": ""}, {"denominations": "1,5,5000"},
        {"denominations": "01,5"}, {"denominations": "1,,5"}, {"denominations": "1, 5"}, {"expiration": "0 Days"},
        {"expiration": "1000 Years"}, {"expiration": "2 Fortnights"}, {"image": "http://x"}, {"image": "https://"},
        {"country": "us"}, {"currency": "USDX"}, {"min_value": 0}, {"max_value": 1000001}]],
    *[("normal form", "WebhookEndpointCreate", {"url": u, "events": ["payment.voided", "refund.created",
                                                                      "payment.voided"]})
      for u in ["https://merchant.example/h", "HTTP://x", "ftp://x", "https://", "https:// x", "https://x\n",
                "https://" + "x" * 2040, "https://" + "x" * 2041]],
    # nested errors: their loc through lists and models, in order
    ("nested loc", "QuoteRequest", {"user_id": "u", "items": [{"product_id": "", "quantity": 0, "x": 1}, {},
                                                              {"product_id": "p", "quantity": "2"}], "cards": [5, ""],
                                    "extra": 1}),
    ("nested loc", "Quote", {"user_id": "u", "items": [{"cards": [{}]}], "total": "x", "allocations": [None]}),
    ("nested loc", "Payment", {"id": "p", "status": "captured", "amount": 1, "total": 1, "remainder_due": 0,
                               "allocations": [{"card_id": "c", "gift_card_id": "1", "amount": "1.5",
                                                "balance_after": 0}], "refunded_amount": 0, "user_id": "u",
                               "items": [], "created_at": "t", "refunds": [{"allocations": [{}]}]}),
    ("nested loc", "Event", {"id": "e", "type": "payment.captured", "created_at": "t",
                             "data": {"a": Decimal("1.50"), "b": [Decimal("NaN"), None], "c": {"d": date(2030, 1, 1)},
                                      5: "int key"}}),
    ("nested loc", "Event", {"id": "e", "type": "payment.captured", "created_at": "t", "data": [("a", 1)]}),
    ("nested loc", "OrderEnvelope", {"request_id": "r", "order": {"address_changes": [{"changed_at": 1}]}}),
    ("nested loc", "RefreshReport", {"source": "s", "applied": "yes", "rejected": [{"index": "1", "errors": ["e", 5]},
                                                                                   {"rewards_id": {"a": 1}}]}),
    # what is not a dictionary at all
    *[("not a dict", m, v) for m in ["UserCreate", "QuoteRequest", "User", "FeedEntry"]
      for v in [None, [], [("user_id", "u")], "x", 5, ()]],
    # bytes: never from the JSON parser nor the table, but Python-mode validation would see them
    *[("bytes", m, {**body, k: v}) for m, body, k in [
        ("UserPatch", {}, "name"), ("UserPatch", {}, "user_id"), ("UserPatch", {}, "id"), ("ApiKeyCreate",
        {"name": "n", "scopes": ["admin"]}, "operator"), ("GiftCardPatch", {}, "balance"), ("User", {}, "user_id")]
      for v in [b"5", bytearray(b"5"), b"true"]],
    *[("bytes", "UserCreate", v) for v in [b"{}", bytearray(b"{}")]],
]


@pytest.mark.parametrize("concern, name, data", EDGES,
                         ids=[f"{concern}-{name}-{i}" for i, (concern, name, _) in enumerate(EDGES)])
def test_shapes_agrees_with_pydantic_on_edge_cases(concern, name, data):
    """Given an input at the edge of one concern (identifiers, text, money, dates, enums and literals, strict
    and lax integers and booleans, addresses, lists, unknown fields, model validators, nested locations, no
    dictionary at all), when shapes and pydantic validate it, then both accept it and dump it alike, or both
    refuse it with the same errors."""
    _assert_same(name, data)


# --- what the application does with the models besides model_validate ----------------------------

RECORD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": "250.5", "held": "0",
          "expiry_date": "2030-12-31", "id": 3, "state": "BLOCKED", "linked": 1, "created_at": "t", "updated_at": "t"}
ALLOCATION = {"card_id": "c", "gift_card_id": "3", "amount": "12.5", "balance_after": Decimal("0")}
PAYMENT = {"id": "pay_1", "status": "authorized", "amount": "12.5", "total": 20, "remainder_due": "7.50",
           "allocations": [ALLOCATION], "user_id": "u", "amazon_id": None, "created_at": "t",
           "items": [{"product_id": "p", "name": "n", "eligible_issuer": "K", "quantity": Decimal("2"),
                      "unit_price": "10", "amount": "20", "paid_by_gift_cards": "12.5", "remainder_due": "7.5"}],
           "authorized_amount": "12.50", "hold_expires_at": "h"}
ACTIVITY = {"sequence": "4", "gift_card_id": 3, "card_id": "c", "activity_type": "HOLD", "amount": "-12.5",
            "balance_after": "238", "reference": "pay_1", "hold_amount": "12.5", "held_after": "12.5",
            "created_at": "t"}
BUILDERS: list[tuple[str, str, tuple, dict]] = [
    ("GiftCard", "from_record", (RECORD,), {"today": date(2026, 1, 1)}),
    ("GiftCard", "from_record", ({**RECORD, "expiry_date": "2025-12-31", "state": "ACTIVE"},), {"today": date(2026, 1, 1)}),
    ("Product", "from_record", ({**DOG_BED, "price": Decimal("50"), "id": 1, "created_at": "t", "updated_at": "t"},), {}),
    ("Allocation", "from_record", (ALLOCATION,), {}),
    ("PaymentLine", "from_record", (PAYMENT["items"][0],), {}),
    ("Refund", "from_record", ({"id": "r", "payment_id": "pay_1", "amount": "5", "allocations": [ALLOCATION],
                                "created_at": "t"},), {}),
    ("Payment", "from_record", (PAYMENT,), {"refunds": [{"id": "r", "payment_id": "pay_1", "amount": "5",
                                                          "allocations": [], "created_at": "t"}]}),
    ("Activity", "from_record", (ACTIVITY,), {}),
]


@pytest.mark.parametrize("name, method, args, kwargs", BUILDERS, ids=[f"{b[0]}.{b[1]}-{i}" for i, b in enumerate(BUILDERS)])
def test_from_record_builds_the_same_response(name, method, args, kwargs):
    """Given a stored record, when a response model's from_record builds its response (keyword arguments,
    enum members of its own module), then shapes builds what pydantic builds: the same dumps, the same fields
    set."""
    cls = _model(name)
    theirs = _norm_built(lambda: getattr(twin(cls), method)(*copy.deepcopy(args), **copy.deepcopy(kwargs)),
                         pydantic.ValidationError)
    ours = _norm_built(lambda: getattr(cls, method)(*copy.deepcopy(args), **copy.deepcopy(kwargs)),
                       shapes.ValidationError)
    assert theirs == ours, f"{name}.{method}{args!r} {kwargs!r}\n    pydantic: {theirs}\n    shapes:   {ours}"


def _norm_built(build: Callable[[], Any], refusal: type[Exception]) -> tuple:
    try:
        instance = build()
    except refusal as exc:
        return ("refused", [(e["loc"], e["type"], e["msg"]) for e in exc.errors()])
    return ("accepted", _dumps(instance, None))


@pytest.mark.parametrize("reward", [None, {"reward_id": 1, "reward_code": "C", "reward_pin": "P", "reward_amount": "5",
                                           "valid_till": "v", "currency": "USD"}])
def test_an_order_placed_is_written_alike(reward):
    """Given an order's answer with or without a reward, when OrderPlaced.to_json writes it (exclude_none),
    then shapes writes what pydantic writes, key for key and in the same order."""
    data = {"request_id": "r", "order_status": "complete", "order_id": "o", "reward": reward}
    cls = _model("OrderPlaced")
    theirs = _norm(twin(cls).model_validate(copy.deepcopy(data)).to_json())
    ours = _norm(cls.model_validate(copy.deepcopy(data)).to_json())
    assert theirs == ours, f"input {data!r}\n    pydantic: {theirs}\n    shapes:   {ours}"


@pytest.mark.parametrize("body", ['{"program_id":"p","order_id":"ro_0123456789abcdef0123","delivery_round":2}',
                                  '{"program_id":"p","order_id":"ro_0123456789abcdef0123","delivery_round":2.0}',
                                  '{"program_id":"p","order_id":"ro_0123456789abcdef0123","delivery_round":true}',
                                  '{"program_id":"p","order_id":"ro_0123456789abcdef0123"}'])
def test_a_queue_message_reads_and_writes_alike(body):
    """Given a delivery message as the queue carries it, when DeliveryMessage reads it (model_validate_json)
    and writes it back (model_dump_json), then shapes and pydantic accept and refuse alike and write the same
    text. (How invalid JSON is described is left out: the JSON parsers differ.)"""
    cls = _model("DeliveryMessage")
    outcomes = []
    for engine, refusal in ((twin(cls), pydantic.ValidationError), (cls, shapes.ValidationError)):
        try:
            outcomes.append(("accepted", engine.model_validate_json(body).model_dump_json()))
        except refusal as exc:
            outcomes.append(("refused", [(e["loc"], e["type"]) for e in exc.errors()]))
    assert outcomes[0] == outcomes[1], f"input {body!r}\n    pydantic: {outcomes[0]}\n    shapes:   {outcomes[1]}"


@pytest.mark.parametrize("name, data, field", [
    ("User", {"user_id": "u", "amazon_id": "a", "name": "n", "email": "e", "id": 1, "created_at": "t",
              "updated_at": "t"}, "gift_cards"),
    ("Order", {"order_id": "o", "reward_id": 1, "rewards_name": "n", "amount": 1, "reward_amount": "1",
               "currency": "USD", "delivery_method": 1, "order_status": "pending", "delivery_status": "queued",
               "reward_code_last4": "1234", "valid_till": "v", "created_at": "t", "updated_at": "t"},
     "address_changes"),
])
def test_a_mutable_default_is_not_shared(name, data, field):
    """Given a model with a list default, when one instance's default list is changed, then the next instance
    still starts from an empty list, with shapes as with pydantic (which copies defaults)."""
    for cls in (twin(_model(name)), _model(name)):
        first = cls.model_validate(copy.deepcopy(data))
        getattr(first, field).append("changed")
        assert getattr(cls.model_validate(copy.deepcopy(data)), field) == [], cls


@pytest.mark.parametrize("name", ["GiftCardCreate", "QuoteRequest", "FeedEntry"])
def test_a_valid_input_is_not_changed_by_validation(name):
    """Given a valid body, when it is validated by either engine, then the body is left as it was (the engines
    copy what they keep: a model's lists are not the caller's)."""
    seed = _seeds(name)[0]
    for cls in (twin(_model(name)), _model(name)):
        given = copy.deepcopy(seed)
        instance = cls.model_validate(given)
        assert given == seed, cls
        for value in vars(instance).values():
            assert not any(value is v for v in given.values() if isinstance(v, (list, dict))), (cls, value)
