"""API keys: what an admin sends to create one and what the API shows of it (never the hash)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, get_args

from pydantic import Field

from flexigift.models.common import Identifier, RequestModel, ResponseModel, Text, example

Scope = Literal["wallet:read", "wallet:write", "checkout", "rewards:read", "rewards:order", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)


class ApiKeyCreate(RequestModel):
    model_config = example({"name": "Kohl's checkout", "scopes": ["checkout"]})

    name: Text
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=6)]
    program_id: Identifier = "default"


class ApiKey(ResponseModel):
    key_id: str
    name: str
    scopes: list[str]
    program_id: str
    status: Literal["ACTIVE", "REVOKED"]
    created_at: str
    revoked_at: Optional[str] = None


class IssuedApiKey(ApiKey):
    api_key: str = Field(description="The secret key. Shown once, at creation; only its SHA-256 is stored.")
