"""What the rewards tests share: the seed's examples verbatim and the sample feed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FEED = ROOT / "feeds" / "catalog.json"

# The seed's catalog item, verbatim (../shared/seeds: the Giftcard Rewards API page).
SEED_LOWES = {
    'rewards_id': 27234,
    'rewards_name': 'Lowes eGift Voucher',
    'description': (
        "Lowe's is one of the nation's leading home improvement retailers, has more than 1,725 stor"
        "es nationwide. Lowe's offers everything from power tools and appliances to lighting and ho"
        "me decor. The Lowe's Gift Card can help start any home project large or small. The Lowe's "
        "Gift Card can be used at any Lowe's location or online at lowes.com for any merchandise or"
        " service that Lowe's sells. The Lowe's Gift Card has no expiration and no fees; and there'"
        's no limit on the number of cards you can use online or in the store'
    ),
    'terms': (
        'This is a Lowe’s Gift Card and is valid in US only. This is not a credit/debit card and ha'
        's no implied warranties. This card is not redeemable for cash unless required by law and c'
        'annot be used to make payments on any charge account or used to purchase any other retaile'
        'r or third party gift card. Lowe’s reserves the right to deactivate or reject any Gift Car'
        'd issued or procured through fraudulent activity. Lost or stolen Gift Cards can only be re'
        'placed upon presentation of original sales receipt for any remaining balance. It will be v'
        'oid if altered or defaced. To check your Lowe’s Gift Card balance: visit Lowes.com/GiftCar'
        'ds; call 1-800-560-7172 or see Customer Service Desk at any Lowe’s store. ©2019 Lowe’s. LO'
        'WE’S and Gable Mansard Design are registered trademarks of LF, LLC. '
    ),
    'expiration': '24 Months',
    'instructions': (
        'Online: At checkout, provide gift card number and PIN to apply gift card balance to purcha'
        'se total.In Store: Provide gift card barcode and PIN to cashier at time of purchase to red'
        "eem your Lowe's Gift Card"
    ),
    'category': 'Home & Living,Remote Work',
    'image': 'https://res.cloudinary.com/dyyjph6kx/image/upload/gift_vouchers/fGH_ikkpnf.jpg',
    'currency': 'USD',
    'value_type': 'open_value',
    'max_value': 2000,
    'min_value': 5,
    'delivery_type': 'realtime',
    'denominations': '10,25,50',
}

# The seed's sample order: no delivery_method, so the default applies (2 where the program allows
# email); with delivery_method 1 the answer has the seed's reward object.
SEED_ORDER = {"reward_id": 27222, "amount": 1}
SEED_REWARD_FIELDS = {"reward_id": int, "reward_code": str, "reward_pin": str, "reward_amount": str,
                      "valid_till": str, "currency": str, "reward_type": str}


def sample_feed() -> dict[str, Any]:
    return json.loads(SAMPLE_FEED.read_text())


def feed_bytes(feed: dict[str, Any]) -> bytes:
    return json.dumps(feed).encode()


def entry(feed: dict[str, Any], rewards_id: int) -> dict[str, Any]:
    return next(e for e in feed["rewards"] if e["rewards_id"] == rewards_id)


def without(feed: dict[str, Any], *rewards_ids: int) -> dict[str, Any]:
    changed = copy.deepcopy(feed)
    changed["rewards"] = [e for e in changed["rewards"] if e["rewards_id"] not in rewards_ids]
    return changed
