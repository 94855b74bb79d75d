"""JSON in and out keeps money exact."""

from decimal import Decimal

import pytest

from flexigift import jsonio


def test_numbers_with_a_fraction_parse_as_decimal():
    parsed = jsonio.loads('{"a": 0.10, "b": 250, "c": 1e2}')
    assert parsed == {"a": Decimal("0.10"), "b": 250, "c": Decimal("1E+2")}
    assert isinstance(parsed["a"], Decimal) and str(parsed["a"]) == "0.10"


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', '{"a": -Infinity}'])
def test_non_finite_constants_are_refused(text):
    with pytest.raises(jsonio.MalformedJson):
        jsonio.loads(text)


def test_malformed_json_reports_line_and_column():
    with pytest.raises(jsonio.MalformedJson) as caught:
        jsonio.loads('{\n"user_id": "user006",\n}')
    assert (caught.value.line, caught.value.column) == (3, 1)
    assert "line 3, column 1" in str(caught.value)


def test_decimal_is_written_as_an_exact_json_number():
    text = jsonio.dumps({"balance": Decimal("12.50"), "n": 3, "s": "é\"", "l": [None, True], "big": Decimal("1E+2")})
    assert text == '{"balance":12.50,"n":3,"s":"é\\"","l":[null,true],"big":100}'
    assert jsonio.loads(text)["balance"] == Decimal("12.50")


def test_non_finite_decimal_cannot_be_written():
    with pytest.raises(ValueError):
        jsonio.dumps({"x": Decimal("NaN")})
