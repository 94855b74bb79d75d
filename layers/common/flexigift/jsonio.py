"""JSON in and out with money kept as Decimal.

The standard library parses numbers with a fraction into float and cannot write a Decimal as a JSON
number. Money must never pass through a float, so requests are parsed with parse_float=Decimal and
responses are written by a small encoder that prints Decimals as exact number literals.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class MalformedJson(ValueError):
    """The body is not JSON; carries where parsing stopped."""

    def __init__(self, msg: str, line: int, column: int, position: int) -> None:
        super().__init__(f"{msg} at line {line}, column {column} (character {position})")
        self.line, self.column, self.position = line, column, position


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes | None) -> Any:
    """Parse JSON, numbers with a fraction or exponent become Decimal; NaN/Infinity are refused."""
    if text is None or (isinstance(text, (str, bytes)) and not text.strip()):
        raise MalformedJson("Expecting a JSON value: the body is empty", 1, 1, 0)
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJson(exc.msg, exc.lineno, exc.colno, exc.pos) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJson(str(exc), 1, 1, 0) from exc
    except RecursionError:
        raise MalformedJson("JSON nested too deeply", 1, 1, 0) from None


def _encode(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as JSON")
        out.append(format(value, "f"))
    elif isinstance(value, float):  # never money; only derived figures such as benchmark ratios
        out.append(json.dumps(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, (datetime, date)):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Enum):
        _encode(value.value, out)
    elif hasattr(value, "model_dump"):
        _encode(value.model_dump(mode="python", exclude_none=False), out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """Serialise to compact JSON; Decimal is written as an exact JSON number."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
