"""The request, response and stored shapes' validation, without pydantic at run time.

The models in flexigift.models are written in pydantic v2's vocabulary (BaseModel, Field, Annotated
constraints, field and model validators) and import it from here. This module implements the part of that
vocabulary the models use, with pydantic's rules (lax and strict modes, the order in which Annotated metadata
applies, error locations, types and messages), in plain Python compiled on a model's first use.

Why not pydantic itself: importing it (pydantic_core and its schema machinery) and building one model costs
about 50 ms of every cold start, more than the whole budget a handler has above a bare boto3 client (issue
14: a handler's init within 1.2x of `import boto3` + one client, about 240 ms here; `make bench`, figure a,
prints the pydantic row beside it). The house style's first rule is kept in spirit: one declarative model per
shape, written in pydantic's words; only the engine that runs it in Lambda differs.

pydantic stays the reference: local/pydantic_twin.py re-executes the same model modules with pydantic in
place of this module. The OpenAPI document is generated from those twins, and tests/unit/test_shapes_parity.py
checks that both engines accept, refuse and dump the same inputs alike.
"""

from __future__ import annotations

import copy
import enum
import json
import re
import types
import typing
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Callable, ClassVar, Iterable, Literal

__all__ = ["AfterValidator", "BaseModel", "BeforeValidator", "ConfigDict", "CustomError", "Field", "FieldInfo",
           "StrictBool", "StrictInt", "StringConstraints", "ValidationError", "WithJsonSchema", "field_validator",
           "model_validator", "validate_email"]


# --- errors --------------------------------------------------------------------------------------


class ValidationError(ValueError):
    """What model_validate raises: every error found, each with its location, type and message."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s) for {title}: "
                         + "; ".join(f"{'.'.join(map(str, e['loc'])) or '(model)'}: {e['msg']}" for e in errors))
        self.title = title
        self._errors = errors

    def errors(self, *, include_input: bool = True) -> list[dict[str, Any]]:
        return [{k: v for k, v in error.items() if include_input or k != "input"} for error in self._errors]


class CustomError(ValueError):
    """Raised by a validator function for an error with its own type and message (no "Value error, ")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Invalid(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _error(loc: tuple, kind: str, message: str, value: Any) -> _Invalid:
    return _Invalid([{"type": kind, "loc": loc, "msg": message, "input": value}])


# --- the vocabulary ------------------------------------------------------------------------------


ConfigDict = dict  # ConfigDict(LAZY, extra="forbid") merges as pydantic's TypedDict does


_UNSET: Any = object()
_CONSTRAINTS = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern")
_DOCUMENTATION = ("description", "title", "examples", "json_schema_extra")  # the OpenAPI document's, not ours


class FieldInfo:
    """Field(...): a default (or default_factory) and constraints; descriptions and examples are for the
    OpenAPI document only, which the pydantic twins write."""

    def __init__(self, default: Any = _UNSET, *, default_factory: Callable[[], Any] | None = None,
                 strict: bool | None = None, **options: Any) -> None:
        unknown = set(options) - set(_CONSTRAINTS) - set(_DOCUMENTATION)
        if unknown:  # a misspelt constraint must not be a constraint silently not checked
            raise TypeError(f"Field() got options flexigift.shapes does not implement: {sorted(unknown)}")
        self.default = default
        self.default_factory = default_factory
        self.strict = strict
        self.constraints = {name: options[name] for name in _CONSTRAINTS if options.get(name) is not None}
        self.description = options.get("description")


def Field(default: Any = _UNSET, **options: Any) -> Any:  # noqa: N802 - pydantic's name
    return FieldInfo(default, **options)


# Annotated metadata. Plain classes, compared and hashed by identity (typing hashes Annotated metadata): a
# dataclass each would cost the import a few milliseconds of code generation.


class StringConstraints:
    __slots__ = ("strip_whitespace", "min_length", "max_length", "pattern")

    def __init__(self, *, strip_whitespace: bool | None = None, min_length: int | None = None,
                 max_length: int | None = None, pattern: str | None = None) -> None:
        self.strip_whitespace, self.min_length, self.max_length, self.pattern = \
            strip_whitespace, min_length, max_length, pattern


class _ValidatorFunction:
    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


class AfterValidator(_ValidatorFunction):
    __slots__ = ()


class BeforeValidator(_ValidatorFunction):
    __slots__ = ()


class WithJsonSchema:
    __slots__ = ("json_schema", "mode")

    def __init__(self, json_schema: Any, mode: Any = None) -> None:
        self.json_schema, self.mode = json_schema, mode


class _Strict:
    __slots__ = ()


StrictInt = Annotated[int, _Strict()]
StrictBool = Annotated[bool, _Strict()]


class _FieldValidator:
    __slots__ = ("fields", "func")

    def __init__(self, fields: tuple[str, ...], func: Any) -> None:
        self.fields, self.func = fields, func


class _ModelValidator:
    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


def field_validator(*fields: str, mode: str = "after") -> Callable[[Any], _FieldValidator]:
    if mode != "after":
        raise NotImplementedError("only after-validators are used")
    return lambda func: _FieldValidator(fields, func)


def model_validator(*, mode: str) -> Callable[[Any], _ModelValidator]:
    if mode != "after":
        raise NotImplementedError("only after-validators are used")
    return lambda func: _ModelValidator(func)


# --- validators of one value ---------------------------------------------------------------------

Check = Callable[[Any, tuple], Any]  # (value, location) -> the value validated, or raises _Invalid


def _called(func: Callable[[Any], Any], value: Any, loc: tuple) -> Any:
    """A validator function's answer, its ValueError an error at `loc` as pydantic words it."""
    try:
        return func(value)
    except CustomError as exc:
        raise _error(loc, exc.kind, exc.message, value) from None
    except ValueError as exc:
        raise _error(loc, "value_error", f"Value error, {exc}", value) from None
    except AssertionError as exc:
        raise _error(loc, "assertion_error", f"Assertion failed, {exc}", value) from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _constraint_checks(constraints: dict[str, Any]) -> list[Check]:
    """Field(ge=..., max_length=..., ...) applied to what the validator before it made."""
    return [_constraint(name, limit) for name, limit in constraints.items()]


def _constraint(name: str, limit: Any) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        if name in ("gt", "ge", "lt", "le"):
            ok = {"gt": value > limit, "ge": value >= limit, "lt": value < limit, "le": value <= limit}[name]
            if not ok:
                words = {"gt": ("greater_than", "greater than"), "ge": ("greater_than_equal", "greater than or equal to"),
                         "lt": ("less_than", "less than"), "le": ("less_than_equal", "less than or equal to")}[name]
                raise _error(loc, words[0], f"Input should be {words[1]} {limit}", value)
            return value
        if name == "pattern":
            if not _regex(limit).search(value):
                raise _error(loc, "string_pattern_mismatch", f"String should match pattern '{limit}'", value)
            return value
        size = len(value)
        noun = "String" if isinstance(value, str) else "List"
        unit = "character" if isinstance(value, str) else "item"
        after = "" if isinstance(value, str) else " after validation"
        if name == "min_length" and size < limit:
            kind = "string_too_short" if isinstance(value, str) else "too_short"
            tail = "" if isinstance(value, str) else f", not {size}"
            raise _error(loc, kind, f"{noun} should have at least {_plural(limit, unit)}{after}{tail}", value)
        if name == "max_length" and size > limit:
            kind = "string_too_long" if isinstance(value, str) else "too_long"
            tail = "" if isinstance(value, str) else f", not {size}"
            raise _error(loc, kind, f"{noun} should have at most {_plural(limit, unit)}{after}{tail}", value)
        return value

    return check


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    """pydantic's patterns follow Rust's regex, where `$` is the end of the text; Python's `$` also matches
    before a final newline ("user006\\n" would pass), so a trailing `$` becomes `\\Z`."""
    found = _PATTERNS.get(pattern)
    if found is None:
        source = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
        found = _PATTERNS[pattern] = re.compile(source)
    return found


def _string_check(strict: bool) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise _error(loc, "string_unicode", "Input should be a valid string, unable to parse raw data as a "
                                                    "unicode string", value) from None
        if not isinstance(value, str) or (strict and isinstance(value, enum.Enum)):
            raise _error(loc, "string_type", "Input should be a valid string", value)
        if isinstance(value, enum.Enum):
            value = value.value
        return str(value)

    return check


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0*)?", re.ASCII)
_MAX_DIGITS = 4300  # Python's own limit on converting text to int
_I64 = 2**63


def _too_big(value: Any, loc: tuple) -> _Invalid:
    return _error(loc, "int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size", value)


def _int_check(strict: bool) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        if isinstance(value, bool):
            if strict:
                raise _error(loc, "int_type", "Input should be a valid integer", value)
            return int(value)
        if isinstance(value, int):
            return int(value)
        if strict:
            raise _error(loc, "int_type", "Input should be a valid integer", value)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, float) and abs(value) >= _I64 and value == value and abs(value) != float("inf"):
            raise _too_big(value, loc)
        if isinstance(value, (float, Decimal)):
            if isinstance(value, Decimal) and not value.is_finite() or isinstance(value, float) and value != value:
                raise _error(loc, "finite_number", "Input should be a finite number", value)
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                raise _error(loc, "finite_number", "Input should be a finite number", value)
            if value != int(value):
                raise _error(loc, "int_from_float", "Input should be a valid integer, got a number with a fractional part",
                             value)
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if _INTEGER_TEXT.fullmatch(text):
                digits = text.split(".")[0].replace("_", "")
                if len(digits.lstrip("+-")) > _MAX_DIGITS:
                    raise _too_big(value, loc)
                return int(digits)
            raise _error(loc, "int_parsing", "Input should be a valid integer, unable to parse string as an integer",
                         value)
        raise _error(loc, "int_type", "Input should be a valid integer", value)

    return check


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _bool_check(strict: bool) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        if isinstance(value, bool):
            return value
        if strict:
            raise _error(loc, "bool_type", "Input should be a valid boolean", value)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            text = value.lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
        elif isinstance(value, int):
            if not -_I64 <= value < _I64:
                raise _error(loc, "bool_type", "Input should be a valid boolean", value)
            if value in (0, 1):
                return value == 1
        elif isinstance(value, (float, Decimal)):
            whole = value.is_finite() if isinstance(value, Decimal) else (value == value and abs(value) < _I64)
            whole = whole and value == int(value)
            if not whole:
                raise _error(loc, "bool_type", "Input should be a valid boolean", value)
            if value in (0, 1):
                return value == 1
        else:
            raise _error(loc, "bool_type", "Input should be a valid boolean", value)
        raise _error(loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input", value)

    return check


def _decimal_check(value: Any, loc: tuple) -> Any:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise _error(loc, "decimal_type", "Decimal input should be an integer, float, string or Decimal object", value)
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _error(loc, "decimal_parsing", "Input should be a valid decimal", value) from None
    else:
        raise _error(loc, "decimal_type", "Decimal input should be an integer, float, string or Decimal object", value)
    if not number.is_finite():
        raise _error(loc, "finite_number", "Input should be a finite number", value)
    return number


def _float_check(value: Any, loc: tuple) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _error(loc, "float_type", "Input should be a valid number", value)
    try:
        return float(value)
    except ValueError:
        raise _error(loc, "float_parsing", "Input should be a valid number, unable to parse string as a number",
                     value) from None


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")  # any digits: which part is not ASCII is the error


def _date_check(value: Any, loc: tuple) -> Any:
    if isinstance(value, date):
        return value
    found = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise _error(loc, "date_type" if not isinstance(value, str) else "date_parsing",
                     "Input should be a valid date" if not isinstance(value, str)
                     else "Input should be a valid date in the format YYYY-MM-DD, invalid character in year", value)
    for part, name in zip(found.groups(), ("year", "month", "day"), strict=True):
        if not part.isascii():
            raise _error(loc, "date_from_datetime_parsing",
                         f"Input should be a valid date or datetime, invalid character in {name}", value)
    year, month, day = (int(part) for part in found.groups())
    if year == 0:
        raise _error(loc, "date_parsing", "Input should be a valid date in the format YYYY-MM-DD, year 0 is out of range",
                     value)
    if not 1 <= month <= 12:
        raise _error(loc, "date_from_datetime_parsing",
                     "Input should be a valid date or datetime, month value is outside expected range of 1-12", value)
    try:
        return date(year, month, day)
    except ValueError:
        raise _error(loc, "date_from_datetime_parsing",
                     "Input should be a valid date or datetime, day value is outside expected range", value) from None


def _any_check(value: Any, loc: tuple) -> Any:
    return value


def _expected(values: list[Any]) -> str:
    shown = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _literal_check(allowed: tuple[Any, ...]) -> Check:
    message = f"Input should be {_expected(list(allowed))}"

    numbers = any(not isinstance(option, str) for option in allowed)

    def check(value: Any, loc: tuple) -> Any:
        if numbers and isinstance(value, int) and not -_I64 <= value < _I64:
            raise _too_big(value, loc)
        for option in allowed:
            if isinstance(option, str):
                if isinstance(value, str) and value == option:
                    return option
            elif not isinstance(value, str) and type(value) is not type(None) and _same_number(value, option):
                return option
        raise _error(loc, "literal_error", message, value)

    return check


def _same_number(value: Any, option: Any) -> bool:
    try:
        return isinstance(value, (int, float, Decimal)) and value == option
    except (TypeError, InvalidOperation):
        return False


def _enum_check(kind: type[enum.Enum]) -> Check:
    members = list(kind)
    message = f"Input should be {_expected([m.value for m in members])}"
    text_values = issubclass(kind, str)

    def check(value: Any, loc: tuple) -> Any:
        if isinstance(value, kind):
            return value
        for member in members:
            if text_values:
                if isinstance(value, str) and value == member.value:
                    return member
            elif not isinstance(value, str) and _same_number(value, member.value):
                return member
        raise _error(loc, "enum", message, value)

    return check


def _list_check(item: Check, max_length: int | None) -> Check:
    too_long = _constraint("max_length", max_length) if max_length is not None else None

    def check(value: Any, loc: tuple) -> Any:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise _error(loc, "list_type", "Input should be a valid list", value)
        if too_long is not None:  # as pydantic: a list too long is refused for its length alone
            too_long(value, loc)
        return _each(enumerate(value), lambda index, element: item(element, (*loc, index)))

    return check


def _dict_check(key: Check, item: Check) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        if not isinstance(value, dict):
            raise _error(loc, "dict_type", "Input should be a valid dictionary", value)
        return dict(_each(value.items(), lambda name, element: (key(name, (*loc, name, "[key]")),
                                                                 item(element, (*loc, name)))))

    return check


def _each(entries: Iterable[tuple[Any, Any]], check_one: Callable[[Any, Any], Any]) -> list[Any]:
    """check_one(position, element) of every entry of a container: the values, or every entry's errors."""
    out, errors = [], []
    for position, element in entries:
        try:
            out.append(check_one(position, element))
        except _Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise _Invalid(errors)
    return out


def _optional(inner: Check) -> Check:
    def check(value: Any, loc: tuple) -> Any:
        return None if value is None else inner(value, loc)

    return check


def _chain(first: Check, then: Check) -> Check:
    return lambda value, loc: then(first(value, loc), loc)


def _before(func: Callable[[Any], Any], inner: Check) -> Check:
    return lambda value, loc: inner(_called(func, value, loc), loc)


def _after(inner: Check, func: Callable[[Any], Any]) -> Check:
    return lambda value, loc: _called(func, inner(value, loc), loc)


def compile_type(annotation: Any, config: dict[str, Any], extra: tuple[Any, ...] = ()) -> Check:
    """The check of a value of `annotation`, with `extra` metadata (a field's own Field(...)) applied last.
    Annotated metadata applies in order, as pydantic applies it: a BeforeValidator runs before everything
    declared to its left, an AfterValidator and a constraint after it."""
    metadata: list[Any] = []
    if typing.get_origin(annotation) is Annotated:
        metadata = list(annotation.__metadata__)
        annotation = annotation.__origin__
    metadata += list(extra)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        inner = compile_type(members[0], config, tuple(metadata))
        return _optional(inner)
    strict = any(isinstance(m, _Strict) or (isinstance(m, FieldInfo) and m.strict) for m in metadata)
    longest = [m.constraints["max_length"] for m in metadata if isinstance(m, FieldInfo) and "max_length" in m.constraints]
    check = _base_check(annotation, config, strict, min(longest) if longest else None)
    for marker in metadata:
        if isinstance(marker, BeforeValidator):
            check = _before(marker.func, check)
        elif isinstance(marker, AfterValidator):
            check = _after(check, marker.func)
        elif isinstance(marker, StringConstraints):
            limits = {n: getattr(marker, n) for n in ("min_length", "max_length", "pattern")
                      if getattr(marker, n) is not None}
            if marker.strip_whitespace:
                check = _chain(check, lambda value, loc: value.strip())
            for step in _constraint_checks(limits):
                check = _chain(check, step)
        elif isinstance(marker, FieldInfo):
            for step in _constraint_checks(marker.constraints):
                check = _chain(check, step)
        elif isinstance(marker, (WithJsonSchema, _Strict)):
            continue
        else:
            raise TypeError(f"unsupported metadata {marker!r}")
    return check


def _base_check(annotation: Any, config: dict[str, Any], strict: bool,
                max_length: int | None) -> Check:
    origin = typing.get_origin(annotation)
    if annotation is str:
        return _string_check(strict or bool(config.get("str_strict")))
    if annotation is bool:
        return _bool_check(strict)
    if annotation is int:
        return _int_check(strict)
    if annotation is Decimal:
        return _decimal_check
    if annotation is float:
        return _float_check
    if annotation is date:
        return _date_check
    if annotation is Any:
        return _any_check
    if origin is Literal:
        return _literal_check(typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return _list_check(compile_type(item, config), max_length)
    if origin is dict or annotation is dict:
        key, item = typing.get_args(annotation) or (Any, Any)
        return _dict_check(compile_type(key, config), compile_type(item, config))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_check(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation._check_nested
    raise TypeError(f"unsupported type {annotation!r}")


# --- models --------------------------------------------------------------------------------------


class _Field:
    __slots__ = ("name", "check", "default", "default_factory", "validators")

    def __init__(self, name: str, check: Check, default: Any, default_factory: Callable[[], Any] | None,
                 validators: list[Callable[[type, Any], Any]]) -> None:
        self.name, self.check, self.default, self.default_factory, self.validators = \
            name, check, default, default_factory, validators

    @property
    def required(self) -> bool:
        return self.default is _UNSET and self.default_factory is None

    def default_value(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return copy.deepcopy(self.default) if isinstance(self.default, (list, dict, set)) else self.default


class _Compiled:
    __slots__ = ("fields", "model_validators", "forbid_extra")

    def __init__(self, fields: dict[str, _Field], model_validators: list[Callable[[Any], Any]],
                 forbid_extra: bool) -> None:
        self.fields, self.model_validators, self.forbid_extra = fields, model_validators, forbid_extra


def _field_validator_call(func: Any) -> Callable[[type, Any], Any]:
    if isinstance(func, classmethod):
        bound = func.__func__
        return lambda cls, value: bound(cls, value)
    return lambda cls, value: func(value)


class BaseModel:
    """A model whose fields are its annotations; validated on construction (model_validate or keyword
    arguments), compiled on first use."""

    model_config: ClassVar[dict[str, Any]] = {}
    __compiled: ClassVar[_Compiled | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update(base.__dict__.get("model_config") or {})
        merged.update(cls.__dict__.get("model_config") or {})
        cls.model_config = merged
        cls._BaseModel__compiled = None

    # --- compiling

    @classmethod
    def _compiled(cls) -> _Compiled:
        compiled = cls.__dict__.get("_BaseModel__compiled")
        if compiled is None:
            compiled = cls._compile()
            cls._BaseModel__compiled = compiled
        return compiled

    @classmethod
    def _compile(cls) -> _Compiled:
        hints = typing.get_type_hints(cls, include_extras=True)
        owners: dict[str, type] = {}
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                owners[name] = klass
        field_validators: dict[str, _FieldValidator] = {}
        model_validators: dict[str, _ModelValidator] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in klass.__dict__.items():
                if isinstance(value, _FieldValidator):
                    field_validators[attribute] = value
                elif isinstance(value, _ModelValidator):
                    model_validators[attribute] = value
        fields: dict[str, _Field] = {}
        for name, owner in owners.items():
            if name.startswith("_") or name == "model_config" or typing.get_origin(hints[name]) is ClassVar:
                continue
            declared = owner.__dict__.get(name, _UNSET)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
            check = compile_type(hints[name], cls.model_config, (info,) if info.constraints else ())
            fields[name] = _Field(name, check, info.default, info.default_factory,
                                  [_field_validator_call(v.func) for v in field_validators.values() if name in v.fields])
        unknown = {name for v in field_validators.values() for name in v.fields} - set(fields)
        if unknown:  # pydantic refuses it too: a validator of a field that is not there would never run
            raise TypeError(f"{cls.__name__}: field validators name fields it does not have: {sorted(unknown)}")
        return _Compiled(fields, [v.func for v in model_validators.values()],
                         cls.model_config.get("extra") == "forbid")

    # --- validating

    @classmethod
    def _check_nested(cls, value: Any, loc: tuple) -> Any:
        if isinstance(value, cls):
            return value
        return cls._from_dict(value, loc)

    @classmethod
    def _from_dict(cls, data: Any, loc: tuple) -> Any:
        if not isinstance(data, dict):
            raise _error(loc, "model_type", f"Input should be a valid dictionary or instance of {cls.__name__}", data)
        compiled = cls._compiled()
        values: dict[str, Any] = {}
        given: set[str] = set()
        errors: list[dict[str, Any]] = []
        for name, field in compiled.fields.items():
            if name not in data:
                if field.required:
                    errors.append({"type": "missing", "loc": (*loc, name), "msg": "Field required", "input": data})
                else:
                    values[name] = field.default_value()
                continue
            given.add(name)
            try:
                value = field.check(data[name], (*loc, name))
                for validator in field.validators:
                    value = _called(lambda v, validator=validator: validator(cls, v), value, (*loc, name))
                values[name] = value
            except _Invalid as exc:
                errors.extend(exc.errors)
        if compiled.forbid_extra:
            errors.extend({"type": "extra_forbidden", "loc": (*loc, key), "msg": "Extra inputs are not permitted",
                           "input": data[key]} for key in data if key not in compiled.fields)
        if errors:
            raise _Invalid(errors)
        made = cls.__new__(cls)
        made.__dict__.update(values)
        object.__setattr__(made, "_BaseModel__fields_set", given)
        for validator in compiled.model_validators:
            made = _called(validator, made, loc)
        return made

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        try:
            return cls._from_dict(data, ())
        except _Invalid as exc:
            raise ValidationError(cls.__name__, exc.errors) from None

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Any:
        from flexigift import jsonio

        try:
            data = jsonio.loads(text)
        except ValueError as exc:
            raise ValidationError(cls.__name__, [{"type": "json_invalid", "loc": (), "msg": f"Invalid JSON: {exc}",
                                                  "input": text}]) from None
        return cls.model_validate(data)

    def __init__(self, **data: Any) -> None:
        try:
            made = type(self)._from_dict(data, ())
        except _Invalid as exc:
            raise ValidationError(type(self).__name__, exc.errors) from None
        self.__dict__.update(made.__dict__)

    # --- reading

    @property
    def model_fields_set(self) -> set[str]:
        return set(self.__dict__.get("_BaseModel__fields_set", ()))

    def model_dump(self, *, mode: str = "python", exclude: set[str] | None = None, exclude_unset: bool = False,
                   exclude_none: bool = False) -> dict[str, Any]:
        given = self.model_fields_set
        out: dict[str, Any] = {}
        for name in type(self)._compiled().fields:
            if (exclude and name in exclude) or (exclude_unset and name not in given):
                continue
            value = self.__dict__[name]
            if exclude_none and value is None:
                continue
            out[name] = _dumped(value, mode, exclude_unset, exclude_none)
        return out

    def model_dump_json(self, **options: Any) -> str:
        return json.dumps(self.model_dump(mode="json", **options), separators=(",", ":"), ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and _public(self.__dict__) == _public(other.__dict__)  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in _public(self.__dict__).items())
        return f"{type(self).__name__}({shown})"


def _public(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("_")}


def _dumped(value: Any, mode: str, exclude_unset: bool, exclude_none: bool) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode=mode, exclude_unset=exclude_unset, exclude_none=exclude_none)
    if isinstance(value, list) or (mode == "json" and isinstance(value, (tuple, set, frozenset))):
        return [_dumped(v, mode, exclude_unset, exclude_none) for v in value]
    if isinstance(value, tuple):
        return tuple(_dumped(v, mode, exclude_unset, exclude_none) for v in value)
    if isinstance(value, dict):
        return {k: _dumped(v, mode, exclude_unset, exclude_none) for k, v in value.items()}
    if mode == "json":
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return None
        if isinstance(value, enum.Enum):
            return _dumped(value.value, mode, exclude_unset, exclude_none)
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
    return value


# --- e-mail addresses ----------------------------------------------------------------------------

MAX_EMAIL_LENGTH = 2048
_NAME_WORD = r"[\w.!#$%&'*+\-/=?^_`{|}~]+"
# "Jack Johnson <jack@example.com>" or '"Johnson, Jack" <jack@example.com>': the address is the part in <>
_NAMED_ADDRESS = re.compile(rf'\s*(?:(?:{_NAME_WORD}\s+)*{_NAME_WORD}|"(?:.+)")?\s*<(?P<address>.+)>\s*')


def _not_an_address(reason: str) -> CustomError:
    return CustomError("value_error", f"value is not a valid email address: {reason}")


def validate_email(value: str) -> tuple[str, str]:
    """(name, normalised address), by the rules of pydantic's EmailStr: at most 2048 characters, no line
    breaks, "Name <address>" accepted for the address inside, then email-validator's checks without DNS."""
    if len(value) > MAX_EMAIL_LENGTH:
        raise _not_an_address(f"Length must not exceed {MAX_EMAIL_LENGTH} characters")
    if "\r" in value or "\n" in value:
        raise _not_an_address("Carriage return and line feed characters are not allowed")
    import email_validator  # imported when an address is first checked: most handlers never read one

    named = _NAMED_ADDRESS.fullmatch(value)
    address = (named.group("address") if named else value).strip()
    try:
        checked = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise _not_an_address(str(exc.args[0])) from None
    return checked.local_part, checked.normalized
