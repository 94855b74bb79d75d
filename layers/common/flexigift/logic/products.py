"""Products that an issuer makes eligible for payment with its gift cards."""

from __future__ import annotations

from typing import Any

from flexigift.errors import Conflict, field_error
from flexigift.logic.records import (
    InPlace,
    commit,
    load,
    replace_record,
    update_record,
    with_retries,
)
from flexigift.models.wallet import Product, ProductCreate, ProductPatch, ProductReplace
from flexigift.observability import logger
from flexigift.store import wallet
from flexigift.store.table import Transaction

FILTERS = ("product_id", "eligible_issuer")
REQUIRED = ("product_id", "name", "price", "eligible_issuer")


def _product_id_taken(product_id: str) -> Conflict:
    return Conflict(f"product_id '{product_id}' is already registered",
                    fields=[field_error("product_id", "already registered", "duplicate")])


def register_product(body: ProductCreate) -> Product:
    record: dict[str, Any] = body.model_dump(mode="python")
    record["id"] = wallet.next_id(wallet.PRODUCT)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, wallet.PRODUCT, record)
    commit(tx, {"unique": _product_id_taken(record["product_id"])})
    logger.info("product registered", extra={"id": record["id"]})
    return Product.from_record(record)


def get_product(numeric_id: int) -> Product:
    record, _ = load(wallet.PRODUCT, numeric_id, "product")
    return Product.from_record(record)


def list_products(filters: dict[str, str], limit: int, cursor: str | None) -> tuple[list[Product], str | None]:
    records, next_cursor = wallet.list_page(wallet.PRODUCT, filters, limit, cursor)
    return [Product.from_record(r) for r in records], next_cursor


def _save(numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any]) -> Product:
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    tx = Transaction()
    wallet.tx_replace(tx, wallet.PRODUCT, new, version)
    if new["product_id"] != current["product_id"]:
        wallet.tx_release_unique(tx, wallet.PRODUCT, current["product_id"], numeric_id)
        wallet.tx_claim_unique(tx, wallet.PRODUCT, new["product_id"], numeric_id)
    commit(tx, {"unique": _product_id_taken(new["product_id"])}, stale_labels=("record", "release_unique"))
    return Product.from_record(new)


def _in_place(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A product is one item unless its product_id changes (its guard moves): then the general path."""
    unchanged = {"product_id": fields["product_id"]} if "product_id" in fields else {}
    return {**fields, "updated_at": wallet.now_iso()}, unchanged


IN_PLACE = InPlace(plan=_in_place, answer=Product.from_record)


def replace_product(numeric_id: int, body: ProductReplace) -> Product:
    return replace_record(wallet.PRODUCT, "product", numeric_id, body, _save, IN_PLACE)


def update_product(numeric_id: int, patch: ProductPatch) -> Product:
    return update_record(wallet.PRODUCT, "product", numeric_id, patch, REQUIRED, _save, IN_PLACE)


def delete_product(numeric_id: int) -> None:
    def attempt() -> None:
        current, version = load(wallet.PRODUCT, numeric_id, "product")
        tx = Transaction()
        wallet.tx_delete(tx, wallet.PRODUCT, numeric_id, version)
        wallet.tx_release_unique(tx, wallet.PRODUCT, current["product_id"], numeric_id)
        commit(tx, {}, stale_labels=("record", "release_unique"))

    with_retries(attempt)
