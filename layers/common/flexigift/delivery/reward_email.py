"""The email that carries a reward: brand, amount, code, PIN, valid till, how to redeem it. Plain text and
HTML with the same content; every value from the catalog or the order is escaped in the HTML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_reward_email(order: Mapping[str, Any], item: Mapping[str, Any] | None, code: str, pin: str) -> RenderedEmail:
    brand = str(order["rewards_name"])
    amount = f"{order['amount']} {order['currency']}"
    instructions = str((item or {}).get("instructions") or "Enter the code and PIN where the brand accepts gift cards.")
    terms = str((item or {}).get("terms") or "")
    valid_till = str(order["valid_till"])
    subject = f"Your {brand} reward: {amount}"
    text = "\n".join([
        f"You have received a {brand} reward worth {amount}.",
        "",
        f"Code:        {code}",
        f"PIN:         {pin}",
        f"Valid till:  {valid_till}",
        "",
        "How to redeem it:",
        instructions,
        "",
        f"Order {order['order_id']}. Keep this email safe: anyone with the code and PIN can spend the reward.",
        *([f"\nTerms: {terms}"] if terms else []),
        "",
    ])
    html = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(subject)}</title></head>
<body style="font-family: Arial, sans-serif; color: #222; max-width: 560px; margin: 0 auto; padding: 24px;">
  <h1 style="font-size: 20px;">Your {escape(brand)} reward</h1>
  <p>You have received a <strong>{escape(brand)}</strong> reward worth <strong>{escape(amount)}</strong>.</p>
  <table style="border-collapse: collapse; margin: 16px 0;">
    <tr><th style="text-align: left; padding: 4px 16px 4px 0;">Code</th>
        <td style="font-family: monospace; font-size: 18px;">{escape(code)}</td></tr>
    <tr><th style="text-align: left; padding: 4px 16px 4px 0;">PIN</th>
        <td style="font-family: monospace; font-size: 18px;">{escape(pin)}</td></tr>
    <tr><th style="text-align: left; padding: 4px 16px 4px 0;">Valid till</th><td>{escape(valid_till)}</td></tr>
  </table>
  <h2 style="font-size: 16px;">How to redeem it</h2>
  <p>{escape(instructions)}</p>
  <p style="color: #666; font-size: 12px;">Order {escape(str(order["order_id"]))}. Keep this email safe: anyone
  with the code and PIN can spend the reward.</p>
  {f'<p style="color: #666; font-size: 12px;">Terms: {escape(terms)}</p>' if terms else ''}
</body>
</html>
"""
    return RenderedEmail(subject, text, html)
