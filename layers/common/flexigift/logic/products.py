"""Products that an issuer makes eligible for payment with its gift cards."""

from __future__ import annotations

from functools import partial
from typing import Any

from flexigift.api import Caller
from flexigift.errors import Conflict, field_error
from flexigift.logic.authority import require_issuer
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


def register_product(who: Caller, body: ProductCreate) -> Product:
    require_issuer(who, body.eligible_issuer, "products", "eligible_issuer")
    record: dict[str, Any] = body.model_dump(mode="python")
    record["id"] = wallet.next_id(who.program_id, wallet.PRODUCT)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, who.program_id, wallet.PRODUCT, record)
    commit(tx, {"unique": _product_id_taken(record["product_id"])})
    logger.info("product registered", extra={"id": record["id"]})
    return Product.from_record(record)


def get_product(who: Caller, numeric_id: int) -> Product:
    """Any product of the caller's program: products are what the program's cards may buy, readable by
    every role that reads them (an issuer key sees other issuers' products too, and changes only its own)."""
    record, _ = load(who.program_id, wallet.PRODUCT, numeric_id, "product")
    return Product.from_record(record)


def list_products(who: Caller, filters: dict[str, str], limit: int,
                  cursor: str | None) -> tuple[list[Product], str | None]:
    records, next_cursor = wallet.list_page(who.program_id, wallet.PRODUCT, filters, limit, cursor)
    return [Product.from_record(r) for r in records], next_cursor


def _save(who: Caller, numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any]) -> Product:
    require_issuer(who, current["eligible_issuer"], "products", "eligible_issuer")
    require_issuer(who, new["eligible_issuer"], "products", "eligible_issuer")
    program_id = who.program_id
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    tx = Transaction()
    wallet.tx_replace(tx, program_id, wallet.PRODUCT, new, version)
    if new["product_id"] != current["product_id"]:
        wallet.tx_release_unique(tx, program_id, wallet.PRODUCT, current["product_id"], numeric_id)
        wallet.tx_claim_unique(tx, program_id, wallet.PRODUCT, new["product_id"], numeric_id)
    commit(tx, {"unique": _product_id_taken(new["product_id"])}, stale_labels=("record", "release_unique"))
    return Product.from_record(new)


def _in_place(who: Caller, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A product is one item unless its product_id changes (its guard moves): then the general path. For an
    issuer key the condition also holds the stored eligible_issuer equal to the caller's issuer (a request
    that does not name it takes the general path, which reads and checks it)."""
    unchanged = {"product_id": fields["product_id"]} if "product_id" in fields else {}
    if who.issuer is not None:
        if "eligible_issuer" not in fields:
            return None
        require_issuer(who, fields["eligible_issuer"], "products", "eligible_issuer")
        unchanged["eligible_issuer"] = fields["eligible_issuer"]
    return {**fields, "updated_at": wallet.now_iso()}, unchanged


def _in_place_for(who: Caller) -> InPlace[Product]:
    return InPlace(plan=partial(_in_place, who), answer=Product.from_record)


def replace_product(who: Caller, numeric_id: int, body: ProductReplace) -> Product:
    return replace_record(who.program_id, wallet.PRODUCT, "product", numeric_id, body, partial(_save, who),
                          _in_place_for(who))


def update_product(who: Caller, numeric_id: int, patch: ProductPatch) -> Product:
    return update_record(who.program_id, wallet.PRODUCT, "product", numeric_id, patch, REQUIRED,
                         partial(_save, who), _in_place_for(who))


def delete_product(who: Caller, numeric_id: int) -> None:
    def attempt() -> None:
        current, version = load(who.program_id, wallet.PRODUCT, numeric_id, "product")
        require_issuer(who, current["eligible_issuer"], "products", "eligible_issuer")
        tx = Transaction()
        wallet.tx_delete(tx, who.program_id, wallet.PRODUCT, numeric_id, version)
        wallet.tx_release_unique(tx, who.program_id, wallet.PRODUCT, current["product_id"], numeric_id)
        commit(tx, {}, stale_labels=("record", "release_unique"))

    with_retries(attempt)
