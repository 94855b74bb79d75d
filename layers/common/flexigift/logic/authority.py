"""What a caller may do beyond its scopes: an issuer key acts only on its own issuer's cards and products.

Scopes are checked once, at the edge, before routing (api.create_resolver). The program is in every key the
store builds (store.keys). What remains is the issuer binding, which depends on the record: these checks run
on the record as read (and the write's condition holds it unchanged until the commit)."""

from __future__ import annotations

from flexigift.api import Caller
from flexigift.errors import Forbidden, field_error


def same_issuer(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def require_issuer(who: Caller, issuer: str, what: str, field: str = "issuer") -> None:
    """403 unless the caller may act on a record of `issuer`: an unbound key (admin, or a scope that is not
    bound to an issuer) may; an issuer key only on its own issuer's records."""
    if who.issuer is not None and not same_issuer(who.issuer, issuer):
        raise Forbidden(f"This API key acts for issuer '{who.issuer}' and may not act on {what} of '{issuer}'",
                        fields=[field_error(field, f"must be '{who.issuer}'", "foreign_issuer")])


def issuer_filter(who: Caller, filters: dict[str, str], field: str) -> dict[str, str]:
    """A listing as an issuer key sees it: only its issuer's records (naming another issuer is a 403)."""
    if who.issuer is None:
        return filters
    if field in filters:
        require_issuer(who, filters[field], "the records", field)
    return {**filters, field: who.issuer}
