"""The models of flexigift.models as real pydantic classes, made from the same source.

At run time the models are validated by flexigift.shapes (a pydantic-compatible subset without pydantic's
import cost). Where pydantic itself is wanted, at build and test time, this module imports the model modules
a second time with pydantic standing in for flexigift.shapes: the OpenAPI document is written from these twins
(local/openapi.py), and tests/unit/test_shapes_parity.py checks both engines against each other. The modules
the application imported are left as they were.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
import typing
from typing import Any

MODEL_MODULES = ("common", "wallet", "checkout", "rewards", "events", "api_keys")


def _pydantic_vocabulary() -> types.ModuleType:
    import pydantic
    import pydantic.fields
    import pydantic.networks
    import pydantic_core

    from flexigift import shapes

    stand_in = types.ModuleType("flexigift.shapes")
    special = {"validate_email": pydantic.networks.validate_email, "FieldInfo": pydantic.fields.FieldInfo,
               "CustomError": pydantic_core.PydanticCustomError}
    for name in shapes.__all__:
        setattr(stand_in, name, special[name] if name in special else getattr(pydantic, name))
    return stand_in


def _ours(name: str) -> bool:
    return name == "flexigift.shapes" or name.startswith("flexigift.models.")


@functools.cache
def _twin_modules() -> dict[str, types.ModuleType]:
    package = importlib.import_module("flexigift.models")
    for name in MODEL_MODULES:  # the application's own modules first, so that they are the ones kept
        importlib.import_module(f"flexigift.models.{name}")
    saved = {name: module for name, module in sys.modules.items() if _ours(name)}
    attributes = {name: getattr(package, name) for name in MODEL_MODULES}
    stand_in = _pydantic_vocabulary()
    try:
        for name in saved:
            del sys.modules[name]
        sys.modules["flexigift.shapes"] = stand_in
        return {name: importlib.import_module(f"flexigift.models.{name}") for name in MODEL_MODULES}
    finally:
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
        for name, module in attributes.items():
            setattr(package, name, module)


def twin(model: type) -> type:
    """The pydantic class built from the same source as `model` (a class of flexigift.models)."""
    module = model.__module__.rsplit(".", 1)[-1]
    if not model.__module__.startswith("flexigift.models.") or module not in MODEL_MODULES:
        raise ValueError(f"{model!r} is not a model of flexigift.models")
    found = _twin_modules()[module]
    for part in model.__qualname__.split("."):
        found = getattr(found, part)
    return typing.cast(type, found)


def in_pydantic(declared: Any) -> Any:
    """A type, or an OpenAPI declaration (dicts and lists holding types), with every model of flexigift.models
    replaced by its twin."""
    from flexigift import shapes

    if isinstance(declared, type) and issubclass(declared, shapes.BaseModel):
        return twin(declared)
    if isinstance(declared, dict):
        return {key: in_pydantic(value) for key, value in declared.items()}
    if isinstance(declared, (list, tuple)):
        return type(declared)(in_pydantic(value) for value in declared)
    origin, arguments = typing.get_origin(declared), typing.get_args(declared)
    if origin is typing.Annotated:
        return typing.Annotated[(in_pydantic(declared.__origin__), *declared.__metadata__)]  # type: ignore[name-defined]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(in_pydantic(argument) for argument in arguments)]
    if origin in (list, dict) and arguments:
        return origin[tuple(in_pydantic(argument) for argument in arguments)]
    return declared
