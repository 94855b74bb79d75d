"""flexigift.shapes' own promises, beside its parity with pydantic (test_shapes_parity.py): nothing is compiled
when a model class is defined, a constraint it does not implement is refused where it is written, and a
trailing newline does not slip past a pattern anchored with `$`."""

from __future__ import annotations

import pytest

from flexigift import shapes


def test_a_model_is_compiled_on_first_use_not_when_its_class_is_defined():
    """Given a model class just defined, then it holds no compiled validator (defining the models of every
    module a handler imports costs its cold start nothing); after one validation it holds one, reused."""

    class Order(shapes.BaseModel):
        amount: int = shapes.Field(ge=1)

    assert Order.__dict__.get("_BaseModel__compiled") is None
    assert Order.model_validate({"amount": 2}).amount == 2
    compiled = Order.__dict__.get("_BaseModel__compiled")
    assert compiled is not None
    Order.model_validate({"amount": 3})
    assert Order.__dict__.get("_BaseModel__compiled") is compiled


def test_a_constraint_the_engine_does_not_implement_is_refused_where_it_is_written():
    """Given Field() with an option that is neither an implemented constraint nor documentation (a typo, or
    pydantic's multiple_of), then defining the field fails at once, instead of a check silently not made."""
    with pytest.raises(TypeError, match="max_len"):
        shapes.Field(max_len=3)
    with pytest.raises(TypeError, match="multiple_of"):
        shapes.Field(multiple_of=5)
    assert shapes.Field(description="shown in the OpenAPI document", max_length=3).constraints == {"max_length": 3}


def test_a_pattern_anchored_with_dollar_refuses_a_trailing_newline_as_pydantic_does():
    """Python's `$` also matches before a final newline; pydantic's patterns (Rust's regex) do not."""

    class Named(shapes.BaseModel):
        name: str = shapes.Field(pattern=r"^[a-z0-9]+$")

    assert Named.model_validate({"name": "user006"}).name == "user006"
    with pytest.raises(shapes.ValidationError) as refused:
        Named.model_validate({"name": "user006\n"})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("name",), "string_pattern_mismatch")]


def test_a_field_validator_of_a_field_the_model_lacks_is_refused():
    """Given a validator naming a field the model does not have (a typo, a field renamed), then the model
    refuses to compile instead of a check that would never run."""

    class Card(shapes.BaseModel):
        card_id: str
        _checked = shapes.field_validator("card_ids")(lambda value: value)

    with pytest.raises(TypeError, match="card_ids"):
        Card.model_validate({"card_id": "c"})
