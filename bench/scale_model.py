"""Figure f: a scale model. A synthetic day of 1,000,000 mixed operations, run through the handlers and the
store layer against moto in process, with a recorder beside the application's DynamoDB client that charges
every request its capacity units from the real item sizes (bench.capacity), per partition key of the table
and of every index.

Sampling: the day's mix is run as a sample of SAMPLE operations (1 in DAY / SAMPLE of the day, drawn from the
same shares), each counted DAY / SAMPLE times. A partition's share of the day's units, and so the payment
rate at which it reaches DynamoDB's per-partition limit, is the sample's.

Shared and own partitions: every operation acts for one customer (a user, through their cards and payments)
or for none (a product registered, a program-wide listing). A partition that only one customer's operations
touched (their user item, cards, ledger, payments, Idempotency-Keys) carries that customer's traffic, which
does not grow when the system does (more customers do); a partition touched for several customers, or for
none, is shared and grows with the system's rate. The payment rate at which a partition reaches its limit is
computed for the shared ones; for a customer's own partitions the figure is how many of that customer's own
operations per second would take it there. A partition touched for one customer and for no one (a card: its
owner's payments, reads and ledger pages, and the listings of its issuer's cards, which act for no customer)
carries both: the units charged for that customer are their own traffic and judged with the customer's own
partitions (the "or part" row), and only the rest, which grows with the system, is ranked as shared (its row
states the customer's part it left out). Charging the owner's part as growing with the rate, as this model did
before, ranked such a card as the busiest shared read even with its listing reads halved: 98,250 payments/s in a
run of this model at commit 4cb8d0e, almost all of it its owner's own operations.

Partitions named by time (the authorizations' expiry minute, `HOLDS#<minute>#<shard>`): the run lasts minutes,
not a day, so its few authorizations say little about one shard. At any moment the partitions taking writes
are those of the minute a week ahead: the entries of the authorizations made now, spread over the shards by a
hash of the payment id. So the index entries put there are counted together and divided by the shards
(`HOLDS#<minute>#<any shard>`); an entry's removal (capture, void, expiry) lands in the partition of its own
expiry minute, whose entries were put a week before, and is counted apart the same way.

Sharded listings (store.listing: `<listing>#<shard>`, the shard from the record's id, numeric ids modulo the
shards or a hash of a text id, both even by construction): the sample writes a few records into each listing
(a handful of reward orders over 64 shards), so which shard a sampled record landed on is chance, and the
busiest shard of the sample says more about the draw than about the day, where a listing takes thousands of
records and its shards are even. A listing's shard partitions are therefore counted together and divided by
its shards (`<listing>#<any of N shards>`); the recorder learns which partitions are shards, and of which
listing, from store.keys.sharded itself. Reads are even over the shards already (a page queries every shard).

Partitions of a record created by one operation of the run and written by it alone (the item of an event, a
reward order, an outbox record, or its own index entry such as a product's natural key) are left out of the
ranking of shared partitions, as a customer's own are: the sample stands for the day's other
operations of its kind, but they create records of their own, so such a partition takes its one operation's
writes, not a growing share of the day's.

The items checkout's reads keep in each execution environment (store.table.ReadCache: products, programs,
catalog items): the run is one environment, which reads such an item once per period of the run's own clock,
so those reads say nothing of a day's. At scale each environment reads it once per period, and the environments
busy at a payment rate follow from the operations' durations (Little's law): their own row gives the rate at
which such an item reaches 3,000 RCU/s, and their reads in the run are left out of the ranking.

The event listings (store.events): events carry no index entry; the event indexer (a stream consumer, not in the
mix) lists them afterwards, one chunk per stream batch per listing (the program's, and the program's of each
type), so what a listing's partitions take depends on how many events a batch holds, which a run of minutes at a
few operations a second cannot show. The run counts the events each operation writes; the chunks are then charged
as they would be at scale (event_chunks): the table's stream has a shard per table partition, and the fewest
partitions a table taking W WCU/s can have is W / 1,000, so at any payment rate a stream shard carries about
(events per payment) x 1,000 / (table WCU per payment) events a second; a batch closes when BatchSize events are in
it or after MaximumBatchingWindowInSeconds (template.yaml), so at high rates the window fills each batch with that
many events (158 in the run of this commit); a batch writes a chunk into a listing if it holds one of its events; each chunk is
charged the WCU of the item store.events builds for that many ids, and a listing's chunks are spread evenly over
its keys.EVENT_LIST_SHARDS shards (a hash of the chunk id). The assumption is the stream's shard count: a table with
more partitions than its writes need (split for its size: 30 days of events at 100,000 payments/s is petabytes)
has more stream shards, fewer events a batch and more, smaller chunks; a row states how few events a chunk may
hold before a shard reaches 1,000 WCU/s at the target rate. The event items themselves are one operation's record
each (left out of the shared ranking, as below).

Records read by a newest-first page (a program's reward orders, 50 a page): the run lasts minutes, so its few
orders stay among the newest 50 and each is read by nearly every listing of the run. In a day an order is among
the newest 50 for 50 / (orders a second) seconds, so each order's partition takes (listings a second) x 50 /
(orders a second) reads a second: a ratio of two shares of the mix, the same at any payment rate. Those reads
are counted in the day's units and costs, not in the busiest-partition ranking; their own row gives the rate.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from bench.capacity import Index, indexes_of, item_size, read_units, write_costs, write_units
from bench.moto_env import ACCOUNT, REGION, TABLE, CallClock, moto_aws
from bench.report import Figure
from local import template

DAY = 1_000_000
SAMPLE = int(os.environ.get("BENCH_SCALE_SAMPLE", "1500"))
TARGET_PAYMENTS_PER_SECOND = 100_000
PARTITION_WCU = 1_000   # per second, DynamoDB's limit for one partition key (table or index)
PARTITION_RCU = 3_000

# The day's mix (shares of operations).
SHARES: dict[str, float] = {
    "register user": 0.015, "register card": 0.02, "register product": 0.005,
    "get user": 0.08, "get card": 0.08, "card ledger": 0.06, "get payment": 0.12,
    "list a user's cards": 0.02, "list all users": 0.005, "list an issuer's cards": 0.005,
    "list reward orders": 0.01,
    "quote": 0.20,
    "pay (capture)": 0.20, "pay (authorize)": 0.05, "capture": 0.04, "void": 0.01,
    "refund": 0.03,
    "reward order (code)": 0.04, "reward order (into wallet)": 0.01,
}
PAYMENTS = ("pay (capture)", "pay (authorize)")
USERS, ISSUERS, PRODUCTS = 250, 20, 500
CARDS_PER_USER = 2

# On-demand prices, us-east-1, as published for 2025: DynamoDB $0.625 per million write request units and
# $0.125 per million read request units; Lambda arm64 $0.0000133334 per GB-second and $0.20 per million
# requests; API Gateway REST $3.50 per million requests.
PRICE_WRU, PRICE_RRU = 0.625e-6, 0.125e-6
PRICE_GB_SECOND_ARM, PRICE_LAMBDA_REQUEST, PRICE_API_REQUEST = 0.0000133334, 0.20e-6, 3.50e-6
# Time a request waits for DynamoDB in AWS (typical in-region single-digit milliseconds), added to the warm
# handler's own time measured here (moto's time taken out).
DYNAMODB_LATENCY_MS = {"GetItem": 4, "Query": 5, "UpdateItem": 6, "PutItem": 6, "DeleteItem": 6,
                       "BatchGetItem": 6, "TransactWriteItems": 12}
ADMIN = {"principalId": "key_bench", "key_id": "key_bench", "scopes": "admin", "program_id": "default",
         "issuer": "", "operator": "false"}
HOLDS = re.compile(r"^HOLDS#[^#]+#(\d+)$")
HOLDS_SPREAD = "HOLDS#<minute>#<any shard>"
# Newest-first listings whose page's records move with time (see the module's docstring): operation -> page.
MOVING_PAGES = {"list reward orders": 50}


@dataclass
class Usage:
    wcu: Counter = field(default_factory=Counter)      # (table or index, partition) -> WCU
    rcu: Counter = field(default_factory=Counter)      # (table or index, partition) -> RCU (Decimal)
    requests: Counter = field(default_factory=Counter)  # operation name -> count
    item_reads: Counter = field(default_factory=Counter)  # (table, partition) -> items read by GetItem/BatchGetItem
    events: Counter = field(default_factory=Counter)   # (program, event type) -> events written (module docstring)


class Recorder:
    """Hooks on the application's DynamoDB client: charges each request from the items moto holds before
    and after it (the backend read directly, so the recording itself costs nothing)."""

    def __init__(self, indexes: list[Index]) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self.table = dynamodb_backends[ACCOUNT][REGION].get_table(TABLE)
        self.indexes = indexes
        self.usage = Usage()
        self.owner: str | None = None           # the customer the current operation acts for
        self.operation = 0                      # the current operation's number in the run
        self.writers: dict[tuple[str, str], set[int]] = defaultdict(set)  # partition -> operations writing it
        self.created: dict[tuple[str, str], int] = {}  # partition -> the operation whose new item first wrote it
        self.owners: dict[tuple[str, str, str], set[str | None]] = defaultdict(set)  # (w|r, where, partition)
        self.on = False
        self._clock = CallClock()               # DynamoDB's share of the wall time (side-by-side calls once)
        self._local = threading.local()         # each thread's call under way (a listing's Queries overlap)
        self._lock = threading.Lock()
        self.shards: dict[str, tuple[str, int]] = {}  # a listing's shard partition -> (listing, its shards)
        # (w|r, "table", partition) -> units charged for each customer (None: for no one), see mixed_own_part
        self.by_owner: dict[tuple[str, str, str], Counter] = defaultdict(Counter)

    def record_shards(self) -> Callable[[], None]:
        """Learn the listings' shard partitions from store.keys.sharded as the store names them; returns
        the undo."""
        from flexigift.store import keys

        original = keys.sharded

        def sharded(listing: str, shard: int, shards: int = keys.LIST_SHARDS) -> str:
            partition = original(listing, shard, shards)
            self.shards[partition] = (listing, shards)
            return partition

        keys.sharded = sharded
        return lambda: setattr(keys, "sharded", original)

    def _stored(self, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        found = self.table.get_item(DynamoType(key["PK"]), DynamoType(key["SK"]))
        return copy.deepcopy(found.to_json()["Attributes"]) if found is not None else None

    @staticmethod
    def _written_keys(name: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
        if name == "PutItem":
            return [({"PK": params["Item"]["PK"], "SK": params["Item"]["SK"]}, True)]
        if name in ("UpdateItem", "DeleteItem"):
            return [(params["Key"], True)]
        if name == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                (op, body), = entry.items()
                key = {"PK": body["Item"]["PK"], "SK": body["Item"]["SK"]} if op == "Put" else body["Key"]
                found.append((key, op != "ConditionCheck"))
            return found
        return []

    def _touch(self, kind: str, where: str, partition: str, units: Any = 0) -> None:
        seen = self.owners[(kind, where, partition)]
        if len(seen) < 2:
            seen.add(self.owner)
        if where == "table":
            self.by_owner[(kind, where, partition)][self.owner] += units

    def _note_writer(self, key: tuple[str, str], created: bool) -> None:
        """Which operations wrote a partition (a listing's shards count as their listing), and which new item
        wrote it first."""
        where, partition = key
        if where != "table" and partition in self.shards:
            key = (where, spread_name(*self.shards[partition]))
        writers = self.writers[key]
        if len(writers) < 2:
            writers.add(self.operation)
        if created:
            self.created.setdefault(key, self.operation)

    def _count_events(self, name: str, params: dict[str, Any]) -> None:
        """The events a committed write put (each will be listed by the indexer: the module's docstring)."""
        puts = ([params["Item"]] if name == "PutItem" else
                [entry["Put"]["Item"] for entry in params.get("TransactItems", []) if "Put" in entry])
        for item in puts:
            if item.get("type", {}).get("S") == "EVENT":
                self.usage.events[(item["program_id"]["S"], item["event_type"]["S"])] += 1

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.on:
            return
        written = [(key, self._stored(key)) for key, _ in self._written_keys(model.name, params)]
        self._local.pending = (model.name, copy.deepcopy(params), written)
        self._clock.before()

    def after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        pending = getattr(self._local, "pending", None)
        if not self.on or pending is None:
            return
        self._local.pending = None
        self._clock.after()
        with self._lock:
            self._charge(*pending, parsed)

    @property
    def dynamodb_seconds(self) -> float:
        return self._clock.seconds

    def _charge(self, name: str, params: dict[str, Any], written: list[tuple[dict, dict | None]],
                parsed: dict[str, Any]) -> None:
        self.usage.requests[name] += 1
        failed = "Error" in parsed
        if name in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems") and not failed:
            self._count_events(name, params)
        if name in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            transactional = name == "TransactWriteItems"
            kinds = self._written_keys(name, params)
            for (key, before), (_, changes) in zip(written, kinds, strict=True):
                partition = key["PK"]["S"]
                if failed or not changes:  # a refused write, a condition check: charged, nothing written
                    units = (2 if transactional else 1) * write_units(item_size(before))
                    self.usage.wcu[("table", partition)] += units
                    self._touch("w", "table", partition, units)
                    self._note_writer(("table", partition), created=False)
                    continue
                after = self._stored(key)
                for where, part, units in write_costs(before, after, self.indexes, transactional):
                    if HOLDS.match(part):  # see the module's docstring: spread over the shards
                        put = bool(after) and after.get(f"{where}PK", {}).get("S") == part
                        part = HOLDS_SPREAD + ("" if put else ", removals")
                    self.usage.wcu[(where, part)] += units
                    self._touch("w", where, part, units)
                    self._note_writer((where, part), created=before is None and after is not None)
        elif name == "GetItem" and not failed:
            item = parsed.get("Item")
            units = read_units(item_size(item), bool(params.get("ConsistentRead")))
            self.usage.rcu[("table", params["Key"]["PK"]["S"])] += units
            self._touch("r", "table", params["Key"]["PK"]["S"], units)
        elif name == "BatchGetItem" and not failed:
            for table_name, request in params["RequestItems"].items():
                returned = {(i["PK"]["S"], i["SK"]["S"]): i for i in parsed.get("Responses", {}).get(table_name, [])}
                for key in request["Keys"]:
                    item = returned.get((key["PK"]["S"], key["SK"]["S"]))
                    units = read_units(item_size(item), bool(request.get("ConsistentRead")))
                    self.usage.rcu[("table", key["PK"]["S"])] += units
                    self.usage.item_reads[("table", key["PK"]["S"])] += 1
                    self._touch("r", "table", key["PK"]["S"], units)
        elif name == "Query" and not failed:
            where = params.get("IndexName", "table")
            partition = params["ExpressionAttributeValues"][":pk"]["S"]
            size = sum(item_size(i) for i in parsed.get("Items", []))
            consistent = bool(params.get("ConsistentRead")) and where == "table"
            units = read_units(size, consistent)
            self.usage.rcu[(where, partition)] += units
            self._touch("r", where, partition, units)


class Day:
    """The population and the operations of the mix, through the handlers (admin key of the default
    program, so each call passes its scope check). `act_for` tells the recorder which customer an operation
    acts for (None: no one customer)."""

    def __init__(self, rng: random.Random, act_for: Callable[[str | None], None]) -> None:
        from tests.support import FakeContext, handler

        self.rng = rng
        self.act_for = act_for
        self.handler, self.context = handler, FakeContext()
        self.users: list[tuple[int, str]] = []              # (numeric id, user_id)
        self.cards: dict[str, list[tuple[int, str]]] = {}   # user_id -> its linked cards (numeric id, issuer)
        self.card_owner: dict[int, str] = {}
        self.products: dict[str, list[str]] = defaultdict(list)   # issuer -> product_ids, most popular first
        self.payer: dict[str, str] = {}
        self.captured: list[str] = []
        self.authorized: list[str] = []
        self.counter = 0
        self.issuers = [f"Issuer{i:02d}" for i in range(ISSUERS)]
        self.issuer_weights = [1 / (i + 1) for i in range(ISSUERS)]  # a few big issuers, a long tail

    def call(self, module: str, *, body: Any = ..., path_id: Any = None, query: dict[str, str] | None = None,
             key: bool = False, ok: tuple[int, ...] = (200, 201)) -> Any:
        from tests.support import api_event

        event = api_event(module, body=body, path_id=path_id, query=query, authorizer=dict(ADMIN))
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        if key:
            event["headers"]["Idempotency-Key"] = str(uuid.uuid4())
        else:
            event["headers"].pop("Idempotency-Key", None)
        result = self.handler(module)(event, self.context)
        answer = json.loads(result["body"]) if result.get("body") else None
        assert result["statusCode"] in ok, (module, result["statusCode"], answer)
        return answer

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    # --- population ---

    def register_user(self) -> None:
        n = self._next()
        self.act_for(f"u{n:07d}")
        body = self.call("create_user", body={"user_id": f"u{n:07d}", "amazon_id": f"amz{n:07d}",
                                              "name": "Model Shopper", "email": f"u{n}@example.com"})
        self.users.append((body["id"], body["user_id"]))
        self.cards[body["user_id"]] = []

    def register_card(self, user: tuple[int, str] | None = None, link: bool = False) -> None:
        number, user_id = user or self.rng.choice(self.users)
        self.act_for(user_id)
        issuer = self.rng.choices(self.issuers, self.issuer_weights)[0]
        n = self._next()
        body = self.call("create_gift_card", body={"card_id": f"gc{n:08d}", "user_id": user_id, "issuer": issuer,
                                                   "balance": 100000, "expiry_date": "2035-12-31"})
        self.card_owner[body["id"]] = user_id
        if link:
            self.cards[user_id].append((body["id"], issuer))
            user = self.call("get_user", path_id=number)
            self.call("update_user", path_id=number, body={"gift_cards": [*user["gift_cards"], body["card_id"]]})

    def register_product(self, issuer: str | None = None) -> None:
        self.act_for(None)
        issuer = issuer or self.rng.choices(self.issuers, self.issuer_weights)[0]
        n = self._next()
        body = self.call("create_product", body={"product_id": f"p{n:07d}", "name": "Model product",
                                                 "price": f"{self.rng.randint(1, 40)}.00", "eligible_issuer": issuer})
        self.products[issuer].append(body["product_id"])

    def populate(self) -> None:
        for _ in range(USERS):
            self.register_user()
        for user in list(self.users):
            for _ in range(CARDS_PER_USER):
                self.register_card(user, link=True)
        for i in range(PRODUCTS):
            self.register_product(self.issuers[i % ISSUERS] if i < ISSUERS else None)

    # --- the mix ---

    def _basket(self) -> dict[str, Any]:
        """A shopper of the population (uniformly), a product their card's issuer covers (Zipf: the issuer's
        first products are the most popular)."""
        _, user_id = self.rng.choice(self.users[:USERS])
        self.act_for(user_id)
        _, issuer = self.rng.choice(self.cards[user_id])
        products = self.products[issuer]
        product = self.rng.choices(products, [1 / (i + 1) for i in range(len(products))])[0]
        return {"user_id": user_id, "items": [{"product_id": product, "quantity": 1}]}

    def pay(self, capture: bool) -> None:
        body = self._basket()
        answer = self.call("create_payment", body={**body, **({} if capture else {"capture": False})}, key=True)
        (self.captured if capture else self.authorized).append(answer["id"])
        self.payer[answer["id"]] = body["user_id"]

    def settle(self, module: str) -> None:
        if not self.authorized:
            return self.pay(capture=False)
        payment = self.authorized.pop(self.rng.randrange(len(self.authorized)))
        self.act_for(self.payer[payment])
        self.call(module, path_id=payment, body={}, key=True)
        if module == "capture_payment":
            self.captured.append(payment)
        return None

    def refund(self) -> None:
        payment = self.rng.choice(self.captured)
        self.act_for(self.payer[payment])
        self.call("create_refund", path_id=payment, body={"amount": "0.01"}, key=True, ok=(200, 201, 409))

    def user_read(self, module: str) -> None:
        number, user_id = self.rng.choice(self.users)
        self.act_for(user_id)
        if module == "get_user":
            self.call(module, path_id=number)
        else:
            self.call(module, query={"user_id": user_id})

    def card_read(self, module: str) -> None:
        card = self.rng.choice(list(self.card_owner))
        self.act_for(self.card_owner[card])
        self.call(module, path_id=card)

    def payment_read(self) -> None:
        payment = self.rng.choice(list(self.payer))
        self.act_for(self.payer[payment])
        self.call("get_payment", path_id=payment)

    def program_read(self, module: str, query: dict[str, str]) -> None:
        self.act_for(None)
        self.call(module, query=query)

    def reward(self, into_wallet: bool) -> None:
        body: dict[str, Any] = {"reward_id": 27222, "amount": self.rng.randint(1, 50), "delivery_method": 1}
        self.act_for(None)
        if into_wallet:
            user_id = self.rng.choice(self.users[:USERS])[1]
            self.act_for(user_id)
            body = {"reward_id": 27234, "amount": 25, "delivery_method": 3, "user_id": user_id}
        self.call("create_reward_order", body=body, key=True)

    def operations(self) -> dict[str, Callable[[], Any]]:
        return {
            "register user": self.register_user,
            "register card": self.register_card,
            "register product": self.register_product,
            "get user": lambda: self.user_read("get_user"),
            "get card": lambda: self.card_read("get_gift_card"),
            "card ledger": lambda: self.card_read("list_gift_card_activities"),
            "get payment": self.payment_read,
            "list a user's cards": lambda: self.user_read("list_gift_cards"),
            "list all users": lambda: self.program_read("list_users", {"limit": "50"}),
            "list an issuer's cards": lambda: self.program_read("list_gift_cards", {
                "issuer": self.rng.choices(self.issuers, self.issuer_weights)[0], "limit": "50"}),
            "list reward orders": lambda: self.program_read("list_reward_orders", {"limit": "50"}),
            "quote": lambda: self.call("checkout_quote", body=self._basket()),
            "pay (capture)": lambda: self.pay(capture=True),
            "pay (authorize)": lambda: self.pay(capture=False),
            "capture": lambda: self.settle("capture_payment"),
            "void": lambda: self.settle("void_payment"),
            "refund": self.refund,
            "reward order (code)": lambda: self.reward(False),
            "reward order (into wallet)": lambda: self.reward(True),
        }


def customer_part(units: Counter | None) -> tuple[str | None, Decimal]:
    """A partition touched by one customer's operations and by operations for no one (a card: its owner's
    payments, reads and ledger, and every listing of its issuer's cards), given the units charged for each
    (None: for no one): that customer and their units, which are that customer's own traffic (the module's
    docstring); else (None, 0): a partition of one customer alone, of several, or of no one."""
    customers = [o for o in units or () if o is not None]
    if units is None or len(customers) != 1 or None not in units:
        return None, Decimal(0)
    return customers[0], Decimal(units[customers[0]])


def _limit_rate(units: Decimal | int, payments: int, limit: int) -> float:
    """The system-wide payment rate at which a partition taking `units` per `payments` payments reaches
    `limit` units per second."""
    return float("inf") if not units else limit * payments / float(units)


def _fold(counter: Counter, shards: dict[str, tuple[str, int]]) -> Counter:
    """The units per partition, with the time-named and the sharded partitions spread over their shards (see the
    module's docstring)."""
    from flexigift.store import keys

    folded: Counter = Counter()
    for (where, partition), units in counter.items():
        if partition.startswith(HOLDS_SPREAD):
            folded[(where, partition)] += Decimal(units) / keys.HOLD_SHARDS
        elif where != "table" and partition in shards:
            listing, count = shards[partition]
            folded[(where, spread_name(listing, count))] += Decimal(units) / count
        else:
            folded[(where, partition)] += units
    return folded


def spread_name(listing: str, shards: int) -> str:
    return f"{listing}#<any of {shards} shards>"


def _per_request_latency_ms(requests: Counter) -> float:
    return sum(DYNAMODB_LATENCY_MS.get(name, 6) * n for name, n in requests.items())


def run() -> list[Figure]:
    rng = random.Random(14)  # noqa: S311  # nosec B311  # a reproducible synthetic workload, not a secret
    figures: list[Figure] = []
    from local import moto_transactions

    moto_transactions.install()  # transactions that cost the items they touch, not a copy of the whole table
    try:
        return _run(rng, figures)
    finally:
        moto_transactions.uninstall()


def _run(rng: random.Random, figures: list[Figure]) -> list[Figure]:
    with moto_aws() as aws:
        from flexigift.aws import dynamodb
        from flexigift.logic.refresh_catalog import refresh_catalog

        aws.upload_feed((template.ROOT / "feeds" / "catalog.json").read_bytes())
        refresh_catalog()
        indexes = indexes_of(template.table_definition())
        recorder = Recorder(indexes)
        forget_shards = recorder.record_shards()
        events = dynamodb().meta.events
        events.register("before-parameter-build.dynamodb.*", recorder.before)
        events.register("after-call.dynamodb.*", recorder.after)
        day = Day(rng, lambda owner: setattr(recorder, "owner", owner))
        started = time.perf_counter()
        day.populate()
        for _ in range(40):  # open authorizations and captured payments for the first captures, voids, refunds
            day.pay(capture=False)
            day.pay(capture=True)
        populated = time.perf_counter() - started
        print(f"[bench] f: population ready in {populated:.0f} s", file=sys.stderr, flush=True)

        operations = day.operations()
        names = list(SHARES)
        weights = [SHARES[n] for n in names]
        per_op_usage: dict[str, Usage] = defaultdict(Usage)
        handler_seconds: Counter = Counter()
        dynamodb_seconds: Counter = Counter()
        done: Counter = Counter()
        owner_ops: Counter = Counter()
        recorder.on = True
        run_started = time.perf_counter()
        for count, name in enumerate(rng.choices(names, weights, k=SAMPLE), start=1):
            if count % 500 == 0:
                print(f"[bench] f: {count} of {SAMPLE} operations", file=sys.stderr, flush=True)
            recorder.usage = per_op_usage[name]
            recorder.operation = count
            before_db = recorder.dynamodb_seconds
            t0 = time.perf_counter()
            operations[name]()
            handler_seconds[name] += time.perf_counter() - t0
            dynamodb_seconds[name] += recorder.dynamodb_seconds - before_db
            done[name] += 1
            owner_ops[recorder.owner] += 1
        recorder.on = False
        forget_shards()
        run_seconds = time.perf_counter() - run_started

    scale = DAY / SAMPLE
    total = Usage()
    moving_page_reads: Counter = Counter()  # reads of a newest-first page's records (module docstring)
    cache_reads: Counter = Counter()  # the read cache's own reads of the items it keeps (module docstring)
    from flexigift.store.table import ReadCache

    for name, usage in per_op_usage.items():
        total.wcu.update(usage.wcu)
        total.rcu.update(usage.rcu)
        total.requests.update(usage.requests)
        total.events.update(usage.events)
        if name in MOVING_PAGES:
            moving_page_reads.update({k: v for k, v in usage.rcu.items() if k[0] == "table"})
        if name in READS_CACHED and _deployed_cache_seconds() > 0:  # with the cache off they are every read
            cache_reads.update({k: v for k, v in usage.rcu.items() if k[0] == "table" and ReadCache.CACHED.match(k[1])})
    apart = moving_page_reads + cache_reads  # ranked apart, each at its own rate at scale
    payments = sum(done[n] for n in PAYMENTS)
    owners: dict[tuple[str, str, str], set[str | None]] = defaultdict(set)
    for (kind, where, partition), seen in recorder.owners.items():
        if where != "table" and partition in recorder.shards:  # a shard's owners are its listing's
            partition = spread_name(*recorder.shards[partition])
        owners[(kind, where, partition)] |= seen
    wcu, rcu = _fold(total.wcu, recorder.shards), _fold(total.rcu, recorder.shards)
    table_wcu = sum(v for (where, _), v in total.wcu.items() if where == "table")
    chunks = event_chunks(total.events, payments, table_wcu)
    for chunk in chunks:  # the indexer's writes at scale, per shard of each listing (module docstring)
        wcu[("table", chunk.partition)] += Decimal(chunk.wcu_per_payment_per_shard * payments)

    def own(kind: str, key: tuple[str, str]) -> str | None:
        """The one customer whose operations wrote (kind w) or read (r) this partition; None: shared."""
        seen = owners.get((kind, *key), {None})
        return next(iter(seen)) if len(seen) == 1 else None

    def one_record(key: tuple[str, str]) -> bool:
        """A partition of a record the run created (its item, or an index entry of its own such as its natural
        key's), written by that one operation alone: the day's other such operations write records of their own,
        so its load does not grow with the rate (the module's docstring)."""
        return key in recorder.created and recorder.writers[key] == {recorder.created[key]}

    def mixed_own_part(kind: str, key: tuple[str, str]) -> tuple[str | None, Decimal]:
        return customer_part(recorder.by_owner.get((kind, *key)))

    all_wcu, all_rcu = sum(wcu.values()), sum(rcu.values())
    shared_w = Counter({k: v - mixed_own_part("w", k)[1] for k, v in wcu.items()
                        if own("w", k) is None and not one_record(k) and v > mixed_own_part("w", k)[1]})
    shared_r = Counter({k: v - apart[k] - mixed_own_part("r", k)[1] for k, v in rcu.items()
                        if own("r", k) is None and v > apart[k] + mixed_own_part("r", k)[1]})
    mix = ", ".join(f"{n} {SHARES[n]:.1%}" for n in names)
    figures.append(Figure("f", "day modelled", f"{DAY:,} operations; {SAMPLE:,} run (1 in {scale:.0f}), "
                          f"{payments} payments", "", None,
                          f"population {USERS:,} users x {CARDS_PER_USER} cards, {PRODUCTS:,} products, "
                          f"{ISSUERS} issuers (Zipf), 1 program; run {run_seconds:.0f} s after "
                          f"{populated:.0f} s populating"))
    figures.append(Figure("f", "mix (shares of operations)", mix[:110] + ("..." if len(mix) > 110 else ""),
                          "", None, "full list in bench/scale_model.py SHARES"))
    for kind, counter, whole, limit, unit in (("writes", shared_w, all_wcu, PARTITION_WCU, "WCU"),
                                             ("reads", shared_r, all_rcu, PARTITION_RCU, "RCU")):
        (where, partition), units = counter.most_common(1)[0]
        rate = _limit_rate(units, payments, limit)
        customer, own_units = mixed_own_part("w" if unit == "WCU" else "r", (where, partition))
        besides = (f"; besides its customer's own operations on it ({float(own_units):.1f} {unit} in the run, "
                   f"judged as theirs)" if customer else "")
        figures.append(Figure("f", f"busiest shared partition, {kind}",
                              f"{where} {partition}: {float(units / whole):.3%} of {float(whole) * scale:,.0f} "
                              f"{unit}/day", "", None, f"{float(units) / payments:.4f} {unit} per payment{besides}"))
        figures.append(Figure("f", f"payment rate at which it reaches {limit:,} {unit}/s", f"{rate:,.0f} payments/s",
                              f">= {TARGET_PAYMENTS_PER_SECOND:,}", rate >= TARGET_PAYMENTS_PER_SECOND))
        for rank, ((where, partition), units) in enumerate(counter.most_common(5)[1:], start=2):
            mixed = mixed_own_part("w" if unit == "WCU" else "r", (where, partition))[1]
            figures.append(Figure("f", f"  shared {kind} #{rank}", f"{where} {partition}", "", None,
                                  f"{float(units / whole):.3%}; limit at "
                                  f"{_limit_rate(units, payments, limit):,.0f} payments/s"
                                  + (f" (besides its customer's own {float(mixed):.1f} {unit})" if mixed else "")))
        kind_of = "w" if unit == "WCU" else "r"
        owned = Counter({k: v for k, v in (wcu if unit == "WCU" else rcu).items() if own(kind_of, k) is not None})
        for k in (wcu if unit == "WCU" else rcu):
            customer, own_units = mixed_own_part(kind_of, k)
            if customer is not None:
                owned[k] = own_units
        if owned:
            (where, partition), units = owned.most_common(1)[0]
            customer = own(kind_of, (where, partition)) or mixed_own_part(kind_of, (where, partition))[0]
            per_op = float(units) / max(1, owner_ops[customer])
            figures.append(Figure("f", f"busiest customer-own partition (or part), {kind}", f"{where} {partition}",
                                  "", None,
                                  f"{float(units / whole):.3%}; {per_op:.1f} {unit} per operation of its customer: "
                                  f"{limit / per_op:,.0f} of that customer's operations/s to reach the limit"))
    figures += _chunk_figures(chunks, payments, table_wcu)
    orders = SHARES["reward order (code)"] + SHARES["reward order (into wallet)"]
    page = MOVING_PAGES["list reward orders"]
    per_item = SHARES["list reward orders"] * page / orders  # listings per order x page size: reads while newest
    per_read = _units_per_read(moving_page_reads, per_op_usage["list reward orders"])
    figures.append(Figure("f", "  a newest-first listing's records at scale",
                          f"{per_item:.0f} reads/s per order x {per_read:.1f} RCU = {per_item * per_read:.1f} RCU/s",
                          f"< {PARTITION_RCU:,}", per_item * per_read < PARTITION_RCU,
                          f"the same at any payment rate (module docstring); in the run, where its few orders stayed "
                          f"newest, they took {float(sum(moving_page_reads.values()) / all_rcu):.2%} of the reads, "
                          f"left out of the ranking above"))
    figures += _cached_reads(per_op_usage, done, handler_seconds, dynamodb_seconds, payments)
    figures += _costs(per_op_usage, done, handler_seconds, dynamodb_seconds, payments, scale,
                      _indexer_per_event(chunks, total.events, payments, table_wcu))
    return figures


def _indexer_per_event(chunks: list[ChunkListing], events: Counter, payments: int,
                       table_wcu: Decimal | int) -> tuple[float, float]:
    """(chunk WCU, indexer invocations) per event written, at scale: what the indexer adds to the cost of the
    operations that write events, in proportion to their events."""
    written = sum(events.values())
    if not chunks or not written or not payments:
        return 0.0, 0.0
    per_payment = written / payments
    wcu_per_payment = sum(c.chunks_per_payment * c.wcu_per_chunk for c in chunks)
    batches, _ = stream_batches_per_payment(per_payment, float(table_wcu) / payments)
    return wcu_per_payment / per_payment, batches / per_payment


def indexer_settings() -> tuple[int, float]:
    """The indexer's BatchSize and MaximumBatchingWindowInSeconds, from template.yaml."""
    props = template.functions()["IndexEventsFunction"].events["Events"]["Properties"]
    return int(props["BatchSize"]), float(props.get("MaximumBatchingWindowInSeconds", 0))


LAMBDA_STREAM_POLLS_A_SECOND = 4   # with no batching window, Lambda reads a stream shard about 4 times a second


@dataclass
class ChunkListing:
    """One event listing (a program's, or a program's of one type) as the indexer writes it at scale."""

    partition: str              # its shards' name (spread_name)
    event_type: str | None      # None: the program's listing of every event
    events_per_payment: float
    chunks_per_payment: float
    wcu_per_chunk: int

    @property
    def events_per_chunk(self) -> float:
        return self.events_per_payment / self.chunks_per_payment

    @property
    def wcu_per_payment_per_shard(self) -> float:
        from flexigift.store import keys

        return self.chunks_per_payment * self.wcu_per_chunk / keys.EVENT_LIST_SHARDS


def chunk_write_units(program_id: str, event_type: str | None, events: int) -> int:
    """WCU of one chunk listing `events` events, from the item store.events builds (ids of the real format)."""
    from flexigift.store.events import chunk_item
    from flexigift.store.table import to_attr

    images = [{"type": "EVENT", "program_id": program_id, "id": f"evt_{i:024x}", "created_at": "2026-12-03T10:00:00.000Z",
               "event_type": event_type or "gift_card.balance_changed", "expires_at": 1766000000}
              for i in range(max(1, events))]
    return write_units(item_size(to_attr(chunk_item(program_id, event_type, images))))


def stream_batches_per_payment(events_per_payment: float, table_wcu_per_payment: float) -> tuple[float, float]:
    """(stream batches per payment, events per batch) at scale (module docstring): the table's stream has a shard
    per table partition, at least table WCU/s / 1,000 of them; each shard's batch closes when BatchSize events
    are in it or the batching window ends. Both counts grow with the payment rate, so their ratio is the same at
    any rate."""
    batch, window = indexer_settings()
    shards_per_payment = table_wcu_per_payment / PARTITION_WCU          # stream shards per payment a second
    window_closes = shards_per_payment * (1 / window if window else LAMBDA_STREAM_POLLS_A_SECOND)
    batches = max(window_closes, events_per_payment / batch)
    return batches, events_per_payment / batches


def event_chunks(events: Counter, payments: int, table_wcu: Decimal | int) -> list[ChunkListing]:
    """Every event listing the run's events fall in, charged at scale: a stream batch writes a chunk into a
    listing if it holds one of its events (a batch of k events, a listing with a share s of them: 1 - (1-s)^k)."""
    from flexigift.store import keys

    written = sum(events.values())
    if not written or not payments:
        return []
    per_payment = written / payments
    batches, per_batch = stream_batches_per_payment(per_payment, float(table_wcu) / payments)
    listings: Counter = Counter()
    for (program_id, event_type), count in events.items():
        listings[(program_id, None)] += count
        listings[(program_id, event_type)] += count
    found = []
    for (program_id, event_type), count in listings.items():
        share = count / written
        chunks = batches * (1 - (1 - share) ** per_batch)
        events_per_chunk = (count / payments) / chunks
        found.append(ChunkListing(spread_name(keys.events_partition(program_id, event_type), keys.EVENT_LIST_SHARDS),
                                  event_type, count / payments, chunks,
                                  chunk_write_units(program_id, event_type, round(events_per_chunk + 0.5))))
    return sorted(found, key=lambda c: -c.wcu_per_payment_per_shard)


def _chunk_figures(chunks: list[ChunkListing], payments: int, table_wcu: Decimal | int) -> list[Figure]:
    if not chunks:
        return []
    from flexigift.store import keys

    batch, window = indexer_settings()
    busiest = chunks[0]
    whole = next(c for c in chunks if c.event_type is None)   # the program's listing of every event
    batches, per_batch = stream_batches_per_payment(whole.events_per_payment, float(table_wcu) / payments)
    per_shard_events = whole.events_per_payment * PARTITION_WCU / (float(table_wcu) / payments)
    # the fewest events a chunk of the program's listing must hold for its shards to stay under 1,000 WCU/s at
    # the target rate
    events_a_second = whole.events_per_payment * TARGET_PAYMENTS_PER_SECOND
    needed = next((n for n in range(1, batch + 1)
                   if events_a_second / n * chunk_write_units("default", None, n) / keys.EVENT_LIST_SHARDS
                   <= PARTITION_WCU), None)
    return [
        Figure("f", "  event listing chunks at scale (the indexer)",
               f"{per_batch:,.0f} events a stream batch; the program's listing {whole.events_per_chunk:,.0f} a chunk "
               f"({whole.wcu_per_chunk} WCU), busiest {busiest.partition} {busiest.events_per_chunk:,.0f} "
               f"({busiest.wcu_per_chunk} WCU)", "", None,
               f"{whole.events_per_payment:.2f} events per payment; a stream shard per table partition, at fewest "
               f"table WCU/s / 1,000 ({float(table_wcu) / payments:.1f} table WCU per payment): "
               f"{per_shard_events:,.0f} events/s a shard, batched for {window:g} s (BatchSize {batch:,}); "
               f"{keys.EVENT_LIST_SHARDS} shards a listing"),
        Figure("f", "  events a chunk must hold to stay under 1,000 WCU/s a shard at 100,000 payments/s",
               f"{needed if needed else 'more than ' + str(batch)}", f"<= {per_batch:,.0f} (modelled)",
               bool(needed and needed <= per_batch),
               "fewer events a batch (a table with more partitions than its writes need, e.g. split for storage, "
               "has more stream shards) means more, smaller chunks; a longer MaximumBatchingWindowInSeconds "
               "makes them larger again, listing later"),
    ]


def _units_per_read(page_reads: Counter, usage: Usage) -> float:
    """RCU per record read by a listing's pages (the BatchGetItem of its page's records), as measured."""
    reads = sum(usage.item_reads[k] for k in page_reads)
    return float(sum(page_reads.values())) / reads if reads else 0.0


def _deployed_cache_seconds() -> float:
    return float(template.load()["Parameters"]["ReadCacheSeconds"]["Default"])


CACHE_SECONDS_WHEN_ON = 30  # the figure for the read cache turned on (template parameter ReadCacheSeconds)
# Operations that read the cached items (products: quote and pay; programs and catalog items: reward orders).
READS_CACHED = ("quote", "pay (capture)", "pay (authorize)", "reward order (code)", "reward order (into wallet)")


def _cached_reads(per_op_usage: dict[str, Usage], done: Counter, handler_seconds: Counter,
                  dynamodb_seconds: Counter, payments: int) -> list[Figure]:
    """The run is one execution environment, whose read cache answers most reads of a product; at scale
    each environment reads a cached item at most once per period. Environments busy at R payments/s:
    sum over the operations that read the cache of (their rate) x (their duration), Little's law; each
    reads a popular item once per period, 1 RCU (strongly consistent, under 4 KB)."""
    deployed = _deployed_cache_seconds()
    period = deployed or CACHE_SECONDS_WHEN_ON
    busy_per_payment = 0.0   # environment-seconds per payment
    for name in READS_CACHED:
        if done[name]:
            seconds = (handler_seconds[name] - dynamodb_seconds[name] +
                       _per_request_latency_ms(per_op_usage[name].requests) / 1000) / done[name]
            busy_per_payment += done[name] / payments * seconds
    rate = PARTITION_RCU * period / busy_per_payment
    state = ("as deployed" if deployed else
             f"with ReadCacheSeconds={period:.0f}, off by default: the reads ranked above are without it")
    return [Figure("f", "payment rate at which a cached item (product, program) reaches 3,000 RCU/s",
                   f"{rate:,.0f} payments/s", f">= {TARGET_PAYMENTS_PER_SECOND:,}", rate >= TARGET_PAYMENTS_PER_SECOND,
                   f"{state}; each environment reads it once per {period:.0f} s; {busy_per_payment * 1000:.1f} "
                   f"environment-ms per payment (Little's law, modelled durations)")]


def _costs(per_op_usage: dict[str, Usage], done: Counter, handler_seconds: Counter, dynamodb_seconds: Counter,
           payments: int, scale: float, indexer: tuple[float, float] = (0.0, 0.0)) -> list[Figure]:
    """On-demand costs; each operation that writes events also pays the indexer's chunk writes and invocations
    for them (`indexer`: per event), though not the indexer's compute time, which is not measured here (a few
    milliseconds a batch of about 150 events: under a cent per million payments at 512 MB)."""
    memory_gb = int(template.load()["Globals"]["Function"].get("MemorySize", 128)) / 1024
    chunk_wcu_per_event, invocations_per_event = indexer

    def cost(names: list[str]) -> tuple[float, float, float]:
        db = lam = api = 0.0
        for name in names:
            usage, n = per_op_usage[name], done[name]
            if not n:
                continue
            events = sum(usage.events.values())
            db += (float(sum(usage.wcu.values())) + events * chunk_wcu_per_event) * PRICE_WRU \
                + float(sum(usage.rcu.values())) * PRICE_RRU
            own_ms = (handler_seconds[name] - dynamodb_seconds[name]) * 1000
            billed_ms = own_ms + _per_request_latency_ms(usage.requests)
            lam += billed_ms / 1000 * memory_gb * PRICE_GB_SECOND_ARM \
                + (n + events * invocations_per_event) * PRICE_LAMBDA_REQUEST
            api += n * PRICE_API_REQUEST
        return db, lam, api

    per_million = 1_000_000 / payments
    pay_db, pay_lam, pay_api = (c * per_million for c in cost(list(PAYMENTS)))
    all_db, all_lam, all_api = (c * per_million for c in cost(list(SHARES)))
    warm = {n: ((handler_seconds[n] - dynamodb_seconds[n]) * 1000 / done[n]) for n in PAYMENTS if done[n]}
    return [
        Figure("f", "cost per million payments (the payments alone)",
               f"${pay_db + pay_lam + pay_api:,.2f}", "", None,
               f"DynamoDB ${pay_db:,.2f}, Lambda ${pay_lam:,.2f}, API Gateway ${pay_api:,.2f}; with the event "
               f"indexer's chunk writes ({chunk_wcu_per_event:.3f} WCU an event) and invocations, not its compute"),
        Figure("f", "cost per million payments (the whole mix / its payments)",
               f"${all_db + all_lam + all_api:,.2f}", "", None,
               f"DynamoDB ${all_db:,.2f}, Lambda ${all_lam:,.2f}, API Gateway ${all_api:,.2f}; "
               f"{scale * payments / 1e6:.2f} M payments/day"),
        Figure("f", "Lambda duration of a payment (warm, modelled)",
               ", ".join(f"{n} {ms:.1f} ms + DynamoDB" for n, ms in warm.items()), "", None,
               "own time measured here (moto's taken out) + "
               + ", ".join(f"{k} {v} ms" for k, v in DYNAMODB_LATENCY_MS.items()) + " per request"),
    ]
