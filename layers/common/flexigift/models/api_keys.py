"""API keys: what an admin sends to create one and what the API shows of it (never the hash)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, get_args

from flexigift.models.common import Identifier, RequestModel, ResponseModel, ShortText, Text, example
from flexigift.shapes import Field, model_validator

Scope = Literal["wallet:read", "wallet:write", "issuer", "checkout", "rewards:read", "rewards:order", "webhooks", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)


class ApiKeyCreate(RequestModel):
    """A key for one program (the caller's unless the operator names another) holding some scopes. A key
    with the `issuer` scope is bound to one issuer (`issuer` is required with it and refused without it)."""

    model_config = example({"name": "Kohl's card registry", "scopes": ["issuer"], "issuer": "Kohls"})

    name: Text
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=8)]
    program_id: Optional[Identifier] = Field(default=None, description="Default: the caller's program. Only the "
                                             "platform's operator key creates keys for another program")
    issuer: Optional[ShortText] = Field(default=None, description="The issuer an `issuer` key acts for")
    operator: bool = Field(default=False, description="Only the operator key may create another operator key")

    @model_validator(mode="after")
    def _issuer_binding(self) -> "ApiKeyCreate":
        if "issuer" in self.scopes and self.issuer is None and not self.operator:
            raise ValueError("a key with the 'issuer' scope must name its issuer")
        if self.issuer is not None and "issuer" not in self.scopes:
            raise ValueError("only a key with the 'issuer' scope is bound to an issuer")
        if self.issuer is not None and "admin" in self.scopes:
            raise ValueError("an admin key acts for its whole program and cannot be bound to one issuer")
        if self.operator and self.issuer is not None:
            raise ValueError("the operator key is bound to no issuer")
        return self


class ApiKey(ResponseModel):
    key_id: str
    name: str
    scopes: list[str]
    program_id: str
    issuer: Optional[str] = None
    operator: bool = False
    status: Literal["ACTIVE", "REVOKED"]
    created_at: str
    created_by: Optional[str] = None
    revoked_at: Optional[str] = None


class IssuedApiKey(ApiKey):
    api_key: str = Field(description="The secret key. Shown once, at creation; only its SHA-256 is stored.")


class ProgramCreate(RequestModel):
    """POST /admin/programs (operator only): a new program, a separate world of users, cards, products,
    payments and orders, and which reward delivery methods its keys may use (1 = API, 2 = email, 3 = into a
    Flexigift wallet)."""

    model_config = example({"program_id": "acme-rewards", "name": "Acme rewards", "delivery_methods": [1, 2]})

    program_id: Identifier
    name: Text
    delivery_methods: Annotated[list[Literal[1, 2, 3]], Field(max_length=3)] = []


class Program(ResponseModel):
    program_id: str
    name: str
    delivery_methods: list[int]
    created_at: str
