"""Typed configuration: the environment is read once, here, and nowhere else."""

from __future__ import annotations

import json
import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str = Field(min_length=1)
    service: str = "flexigift"
    stage: str = "dev"
    default_page_size: int = 50
    max_page_size: int = 100
    max_cards_per_user: int = 25
    # route fallback only: resource path -> "GET,POST" (from template.yaml)
    allowed_methods: dict[str, str] = Field(default_factory=dict)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", ""),
        service=env.get("POWERTOOLS_SERVICE_NAME", "flexigift"),
        stage=env.get("STAGE", "dev"),
        allowed_methods=json.loads(env.get("ALLOWED_METHODS") or "{}"),
    )
