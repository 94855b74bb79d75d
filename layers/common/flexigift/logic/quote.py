"""POST /checkout/quote: what the shopper's gift cards can pay for these items, and what would remain.
Reads only (flexigift.logic.checkout_wallet)."""

from __future__ import annotations

from decimal import Decimal

from flexigift.logic.checkout_wallet import allocations, plan, read_wallet
from flexigift.models.checkout import Allocation, Quote, QuoteCard, QuoteLine, QuoteRequest


def quote(program_id: str, body: QuoteRequest) -> Quote:
    checkout = read_wallet(program_id, body)
    planned = plan(checkout)
    lines = []
    for priced, line_plan in zip(checkout.lines, planned.lines, strict=True):
        lines.append(QuoteLine(
            product_id=priced.product["product_id"], name=priced.product["name"],
            eligible_issuer=priced.product["eligible_issuer"], quantity=priced.quantity,
            unit_price=Decimal(priced.product["price"]), amount=line_plan.line.amount,
            payable_by_gift_cards=line_plan.paid, remainder_due=line_plan.remainder,
            cards=[QuoteCard(card_id=c.card_id, gift_card_id=c.gift_card_id, issuer=c.issuer, balance=c.balance,
                             expiry_date=c.expiry_date) for c in line_plan.eligible],
        ))
    return Quote(user_id=checkout.user_id, amazon_id=checkout.amazon_id, items=lines, total=planned.total,
                 payable_by_gift_cards=planned.payable, remainder_due=planned.remainder,
                 allocations=[Allocation.from_record(a) for a in allocations(planned)])
