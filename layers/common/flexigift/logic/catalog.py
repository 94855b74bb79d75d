"""GET /rewards/catalog: the rewards available in one country (default US)."""

from __future__ import annotations

import re

from flexigift.errors import ValidationFailed, field_error
from flexigift.models.rewards import CatalogItem
from flexigift.store import rewards as store

DEFAULT_COUNTRY = "US"
FILTERS = ("country",)
COUNTRY_PATTERN = r"^([A-Za-z]{2})?$"  # stated in the spec; parse_country enforces it
COUNTRY_DESCRIPTION = "An ISO 3166 alpha-2 code in any letter case (us = US); left out or empty: US"


def parse_country(value: str | None) -> str:
    """An ISO 3166 alpha-2 code in any case ('us' -> 'US'); absent -> US."""
    if value is None or value == "":
        return DEFAULT_COUNTRY
    if not re.fullmatch(r"[A-Za-z]{2}", value, re.ASCII):
        raise ValidationFailed("country must be a 2-letter ISO 3166 code such as US or GB",
                               fields=[field_error("country", "must be 2 letters, such as US", "pattern")])
    return value.upper()


def list_catalog(country: str | None) -> list[CatalogItem]:
    """Available items of the country, by rewards_id: one Query on the country's sparse index."""
    return [CatalogItem.model_validate(record) for record in store.available_in(parse_country(country))]
