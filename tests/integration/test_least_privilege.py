"""Least privilege, derived rather than guessed: every function's handler is driven through realistic requests
(the events in events/, records arranged through the handlers themselves, and the paths that read or write
something else: replays, renames, links, conflicts, long ledgers), every DynamoDB call each handler makes is
recorded from the application's own client (flexigift.aws.dynamodb(), a botocore event hook), and then
template.yaml is held to what was recorded, both ways:

  * every recorded call is allowed by that function's statements: the IAM action (each part of a
    TransactWriteItems as the item action IAM checks it as: PutItem, UpdateItem, DeleteItem, ConditionCheckItem),
    the resource (the table, or the index a Query names), and every partition-key value the call carries (the
    item's, each key of a BatchGetItem, the index partition of an index Query) against the statement's
    `dynamodb:LeadingKeys` patterns (ForAllValues:StringLike);
  * every grant is used: each action, each resource and each LeadingKeys pattern of each statement is needed by
    at least one recorded call. A grant nobody exercises fails the test, so it cannot stay "just in case".

A function that cannot be driven here is named in EXERCISED_ELSEWHERE with the reason; a function that is
neither exercised nor named fails the test."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from flexigift.store.table import id_blocks, read_cache
from local import template
from tests.integration.conftest import TABLE
from tests.support import FakeContext, api_event, call, function_for_module, handler, load_event

# Functions this test cannot drive, with why; each is covered by the named tests instead.
EXERCISED_ELSEWHERE = {
    "RelayOutboxFunction": "being built (the outbox relay and the table's stream); it uses no DynamoDB table "
                           "action, only the stream (its own role) - tests/integration/test_rewards_orders.py",
    "DeliverRewardEmailsFunction": "rewards delivery is being reworked (outbox -> relay -> queue) by its owner; "
                                   "tests/integration/test_rewards_orders.py drives it",
    "FailRewardDeliveriesFunction": "rewards delivery is being reworked by its owner; "
                                    "tests/integration/test_rewards_orders.py drives it",
}

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/flexigift-test"


# --- recording ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One authorization DynamoDB makes for a call: an IAM action on a resource with partition-key values."""

    function: str
    action: str               # dynamodb:GetItem ...
    resource: str             # "table" or "index/GSI1"
    keys: tuple[str, ...]     # the partition-key values the request names (dynamodb:LeadingKeys)


_TRANSACT_PARTS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _hash_keys() -> dict[str, str]:
    """Partition-key attribute of the table ("table") and of each index ("index/<name>"), from template.yaml."""
    definition = template.table_definition()
    found = {"table": next(k["AttributeName"] for k in definition["KeySchema"] if k["KeyType"] == "HASH")}
    for index in definition.get("GlobalSecondaryIndexes", []):
        found[f"index/{index['IndexName']}"] = next(
            k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
    return found


def _string(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


def _query_partition(params: dict[str, Any], attribute: str) -> str:
    """The partition-key value of a Query: the equality on the (table's or index's) hash key attribute."""
    names = params.get("ExpressionAttributeNames") or {}
    vals = params.get("ExpressionAttributeValues") or {}
    for part in re.split(r"\s+AND\s+", params["KeyConditionExpression"], flags=re.IGNORECASE):
        match = re.fullmatch(r"\s*([#\w]+)\s*=\s*(:\w+)\s*", part)
        if match and names.get(match.group(1), match.group(1)) == attribute:
            return _string(vals[match.group(2)])
    raise AssertionError(f"no equality on {attribute} in {params['KeyConditionExpression']!r}")


def accesses(function: str, operation: str, params: dict[str, Any]) -> list[Access]:
    """What IAM authorizes for one DynamoDB API call (TransactWriteItems: each part as its item action)."""
    hash_keys = _hash_keys()
    pk = hash_keys["table"]
    if operation in ("GetItem", "UpdateItem", "DeleteItem"):
        return [Access(function, f"dynamodb:{operation}", "table", (_string(params["Key"][pk]),))]
    if operation == "PutItem":
        return [Access(function, "dynamodb:PutItem", "table", (_string(params["Item"][pk]),))]
    if operation == "Query":
        resource = f"index/{params['IndexName']}" if params.get("IndexName") else "table"
        return [Access(function, "dynamodb:Query", resource, (_query_partition(params, hash_keys[resource]),))]
    if operation == "BatchGetItem":  # one authorization per table, naming every key asked of it
        return [Access(function, "dynamodb:BatchGetItem", "table",
                       tuple(_string(k[pk]) for k in request["Keys"]))
                for request in params["RequestItems"].values()]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in params["TransactItems"]:
            (kind, body), = item.items()
            key = body["Item"][pk] if kind == "Put" else body["Key"][pk]
            found.append(Access(function, f"dynamodb:{_TRANSACT_PARTS[kind]}", "table", (_string(key),)))
        return found
    if operation == "BatchWriteItem":  # one authorization per table, naming every item it puts or deletes
        return [Access(function, "dynamodb:BatchWriteItem", "table",
                       tuple(_string((r.get("PutRequest") or {}).get("Item", (r.get("DeleteRequest") or {}).get("Key"))[pk])
                             for r in requests))
                for requests in params["RequestItems"].values()]
    return [Access(function, f"dynamodb:{operation}", "table", ())]  # Scan, PartiQL...: granted to none


class Recorder:
    """Records the DynamoDB calls of the application's client, attributed to the function being invoked."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: list[Access] = []
        self.invoked: set[str] = set()     # every function driven, with or without DynamoDB calls

    def hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        assert self.current is not None, f"{model.name} called outside any function's handler"
        self.calls.extend(accesses(self.current, model.name, params))

    def by_function(self) -> dict[str, list[Access]]:
        grouped: dict[str, list[Access]] = defaultdict(list)
        for access in self.calls:
            grouped[access.function].append(access)
        return grouped


# --- template.yaml's grants --------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    resources: tuple[str, ...]       # "table", "index/GSI1", "index/*", or another service's ARN text
    leading_keys: tuple[str, ...] | None   # None: no LeadingKeys condition

    def allows(self, access: Access, *, strict: bool = False) -> bool:
        """Whether IAM allows the access by this statement; `strict`: without any '*' standing for a '#'."""
        return (access.action in self.actions and any(_resource_matches(r, access.resource) for r in self.resources)
                and (self.leading_keys is None
                     or all(any(string_like(p, k, strict=strict) for p in self.leading_keys) for k in access.keys)))


def _resource(value: Any) -> str:
    """A statement's Resource as this test names it: the table, one of its indexes, or something else."""
    if value == {"Fn::GetAtt": ["Table", "Arn"]}:
        return "table"
    if isinstance(value, dict) and "Fn::Sub" in value and str(value["Fn::Sub"]).startswith("${Table.Arn}/"):
        return str(value["Fn::Sub"]).removeprefix("${Table.Arn}/")
    return repr(value)


def _resource_matches(granted: str, resource: str) -> bool:
    return granted == resource or (granted.endswith("/*") and resource.startswith(granted[:-1]))


def statements(logical_id: str) -> list[dict[str, Any]]:
    """A function's statements: its Policies (its SAM policy templates would show up as dicts without Statement:
    none are used, and a function using one fails test_policies_are_plain_statements), or those of the role of
    its own it names (Role: the stream readers, whose SAM role would read every table's stream)."""
    props = template.resources()[logical_id]["Properties"]
    found = [s for policy in props.get("Policies", []) or [] for s in policy.get("Statement", [])]
    role = (props.get("Role") or {}).get("Fn::GetAtt", [None])[0] if isinstance(props.get("Role"), dict) else None
    if role is not None:
        found += [s for policy in template.resources()[role]["Properties"].get("Policies", [])
                  for s in policy["PolicyDocument"]["Statement"]]
    return found


def grants(logical_id: str) -> list[Grant]:
    """The DynamoDB statements of a function (statements above) as grants. Stream reads are not table items:
    the statement on the table's stream is left out (test_the_stream_readers_roles holds it)."""
    found = []
    for statement in statements(logical_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        dynamo = tuple(a for a in actions if a.startswith("dynamodb:"))
        if not dynamo or statement["Resource"] == {"Fn::GetAtt": ["Table", "StreamArn"]}:
            continue
        assert statement["Effect"] == "Allow", (logical_id, statement)
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        condition = statement.get("Condition") or {}
        leading = (condition.get("ForAllValues:StringLike") or {}).get("dynamodb:LeadingKeys")
        found.append(Grant(dynamo, tuple(_resource(r) for r in resources),
                           tuple(leading) if leading is not None else None))
    return found


def string_like(pattern: str, value: str, *, strict: bool = False) -> bool:
    """IAM's StringLike: `*` any run of characters, `?` one character, case-sensitive. `strict`: a `*` that
    is not the pattern's last character matches no '#' (a program id, a numeric id, a kind never holds one), so
    `P#*#USER#*` stands for user records only - IAM itself also lets it match P#x#UNIQUE#USER#y, which is
    why the used-pattern check below uses the strict reading (a pattern must be needed for its own items)."""
    regex = ""
    for i, char in enumerate(pattern):
        if char == "*":
            regex += ".*" if (not strict or i == len(pattern) - 1) else "[^#]*"
        elif char == "?":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


# --- driving every function ------------------------------------------------------------------------------

JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
JILL = {"user_id": "user007", "amazon_id": "amz7777", "name": "Jill Jones", "email": "jill.jones@example.com"}
KOHLS_CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
              "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}
BASKET = {"user_id": "user006", "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]}


def context(scopes: str, *, issuer: str = "", program: str = "default", key_id: str = "key_sample",
            operator: bool = False) -> dict[str, str]:
    """requestContext.authorizer as the authorizer writes it."""
    return {"principalId": key_id, "key_id": key_id, "scopes": scopes, "program_id": program, "issuer": issuer,
            "operator": "true" if operator else "false"}


REFUSED = (404, 409, 422)   # which of them a refusal is, is other tests' business: here, the path it takes
ADMIN = context("admin")
OPERATOR = context("admin", key_id="key_operator", operator=True)
WALLET = context("wallet:read wallet:write")
KOHLS = context("issuer", issuer="Kohls", key_id="key_kohls")
CHECKOUT = context("checkout")
REWARDS = context("rewards:read rewards:order")


class Driver:
    """Invokes handlers as their functions (the recorder attributes each call), and can make another writer
    act just before a function's next call: the races whose losing paths read or write something else."""

    def __init__(self, recorder: Recorder, dynamo: Any) -> None:
        self.recorder = recorder
        self.dynamo = dynamo          # the test's own client: its calls are nobody's
        self.before: dict[tuple[str, str], Any] = {}

    def api(self, module: str, who: dict[str, str], *, body: Any = ..., path_id: Any = None,
            query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            expect: int | tuple[int, ...] | None = None) -> tuple[int, Any, dict[str, Any]]:
        event = api_event(module, body=body, path_id=path_id, query=query if query is not None else {},
                          authorizer=dict(who))
        event["headers"].pop("Idempotency-Key", None)
        event["headers"].update(headers or {})
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        status, answer, response_headers = self.run(module, lambda: call(module, event))
        if expect is not None:
            assert status in ((expect,) if isinstance(expect, int) else expect), (module, status, answer)
        return status, answer, response_headers

    def invoke(self, module: str, event: dict[str, Any]) -> Any:
        return self.run(module, lambda: handler(module)(event, FakeContext()))

    def run(self, module: str, action: Any) -> Any:
        self.recorder.current = function_for_module(module).logical_id
        self.recorder.invoked.add(self.recorder.current)
        id_blocks.forget()  # each function runs in its own execution environment, with its own id blocks
        read_cache.forget()  # and its own read cache
        try:
            return action()
        finally:
            self.recorder.current = None

    def hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.recorder.hook(model, params)
        interference = self.before.pop((self.recorder.current or "", model.name), None)
        if interference is not None:
            interference(params)

    def ahead(self, module: str, operation: str, interference: Any) -> None:
        """Before `module`'s next `operation`, run `interference(params)` with the test's own client."""
        self.before[(function_for_module(module).logical_id, operation)] = interference

    def twin_commits_first(self, module: str) -> None:
        """A twin request (same Idempotency-Key, same body) commits the same transaction just before this one."""
        self.ahead(module, "TransactWriteItems",
                   lambda params: self.dynamo.transact_write_items(TransactItems=params["TransactItems"]))

    def card_changes_first(self, module: str, card_pk: str) -> None:
        """Another writer moves a card's version just before this request commits (it plans again)."""
        self.ahead(module, "TransactWriteItems", lambda _params: self.dynamo.update_item(
            TableName=TABLE, Key={"PK": {"S": card_pk}, "SK": {"S": "CARD"}},
            UpdateExpression="SET version = version + :one", ExpressionAttributeValues={":one": {"N": "1"}}))



def drive_admin(d: Driver) -> None:
    d.api("create_program", OPERATOR, expect=201)
    d.api("create_program", OPERATOR, expect=REFUSED)
    _, issued, _ = d.api("create_api_key", ADMIN, body={"name": "kohls", "scopes": ["issuer"], "issuer": "Kohls"},
                         expect=201)
    d.api("create_api_key", OPERATOR, body={"name": "acme admin", "scopes": ["admin"], "program_id": "acme-rewards"},
          expect=201)
    d.api("create_api_key", OPERATOR, body={"name": "nobody", "scopes": ["admin"], "program_id": "no-such"},
          expect=REFUSED)
    event = load_event("authorizer")
    event["headers"]["Authorization"] = f"Bearer {issued['api_key']}"
    assert d.invoke("authorizer", event)["context"]["issuer"] == "Kohls"
    event["headers"]["Authorization"] = "Bearer fgk_unknown"
    with pytest.raises(Exception, match="Unauthorized"):
        d.invoke("authorizer", event)
    _, half, _ = d.api("create_api_key", ADMIN, body={"name": "half", "scopes": ["wallet:read"]}, expect=201)
    _, listed, headers = d.api("list_api_keys", ADMIN, query={"limit": "1"}, expect=200)
    assert len(listed) == 1 and "Link" in headers
    cursor = re.search(r"cursor=([^&>]+)", headers["Link"]).group(1)
    d.api("list_api_keys", ADMIN, query={"limit": "1", "cursor": cursor}, expect=200)
    d.api("revoke_api_key", ADMIN, path_id=issued["key_id"], expect=200)
    d.api("revoke_api_key", ADMIN, path_id="key_0000000000000000", expect=REFUSED)
    # a pointer whose key item is gone: the revoke's failed condition returns nothing, so the key is read
    from flexigift.logic.api_keys import hash_key
    d.dynamo.delete_item(TableName=TABLE, Key={"PK": {"S": f"APIKEY#{hash_key(half['api_key'])}"},
                                                "SK": {"S": "APIKEY"}})
    d.api("revoke_api_key", ADMIN, path_id=half["key_id"], expect=REFUSED)


def drive_wallet(d: Driver) -> dict[str, int]:
    """Users, cards and products through every path that reads or writes another item. Returns ids."""
    jack = d.api("create_user", WALLET, body=JACK, expect=201)[1]["id"]
    d.api("create_user", WALLET, body=JACK, expect=REFUSED)
    card1 = d.api("create_gift_card", KOHLS, body=KOHLS_CARD, expect=201)[1]["id"]
    card2 = d.api("create_gift_card", KOHLS, body={**KOHLS_CARD, "card_id": "kohls-gc-002", "balance": 0},
                  expect=201)[1]["id"]
    card4 = d.api("create_gift_card", KOHLS, body={**KOHLS_CARD, "card_id": "kohls-gc-004", "balance": 10},
                  expect=201)[1]["id"]
    d.api("create_gift_card", KOHLS, body={**KOHLS_CARD, "card_id": "kohls-gc-009", "user_id": "nobody"}, expect=REFUSED)
    d.api("create_gift_card", KOHLS, body={**KOHLS_CARD, "issuer": "Macys"}, expect=403)
    # Jill names Jack's card: the guards are read, the link's condition fails, the cards are read to say why
    d.api("create_user", WALLET, body={**JILL, "gift_cards": ["kohls-gc-001"]}, expect=REFUSED)
    d.api("create_user", WALLET, body={**JILL, "gift_cards": ["kohls-gc-404"]}, expect=REFUSED)
    jill = d.api("create_user", WALLET, body=JILL, expect=201)[1]["id"]

    d.api("get_user", WALLET, path_id=jack, expect=200)
    d.api("get_user", WALLET, path_id=99, expect=REFUSED)
    _, _, headers = d.api("list_users", WALLET, query={"limit": "1"}, expect=200)
    cursor = re.search(r"cursor=([^&>]+)", headers["Link"]).group(1)
    d.api("list_users", WALLET, query={"limit": "1", "cursor": cursor}, expect=200)
    for query in ({"user_id": "user006"}, {"amazon_id": "amz3456"}, {"email": "jack.johnson@example.com"},
                  {"amazon_id": "amz3456", "email": "jack.johnson@example.com"}):
        d.api("list_users", WALLET, query=query, expect=200)

    d.api("replace_user", WALLET, body={**JACK, "name": "Jack J."}, path_id=jack, expect=200)       # in place
    d.api("replace_user", WALLET, body={**JACK, "gift_cards": ["kohls-gc-001", "kohls-gc-002", "kohls-gc-004"]},
          path_id=jack, expect=200)                                                                 # links
    d.api("update_user", WALLET, body={"email": "jack.j@example.com"}, path_id=jack, expect=200)     # in place
    d.api("update_user", WALLET, body={"gift_cards": ["kohls-gc-001", "kohls-gc-004"]}, path_id=jack,
          expect=200)                                                                               # unlinks 002
    d.api("update_user", WALLET, body={"gift_cards": ["kohls-gc-001", "kohls-gc-404"]}, path_id=jack, expect=REFUSED)
    d.api("update_user", WALLET, body={"name": "Nobody"}, path_id=99, expect=REFUSED)
    d.api("replace_user", WALLET, body=JACK, path_id=99, expect=REFUSED)
    # Jill names Jack's card: the link's condition fails and the cards are read to say why
    d.api("update_user", WALLET, body={"gift_cards": ["kohls-gc-001"]}, path_id=jill, expect=REFUSED)
    d.api("replace_user", WALLET, body={**JILL, "gift_cards": ["kohls-gc-001"]}, path_id=jill, expect=REFUSED)
    d.api("replace_user", WALLET, body={**JACK, "user_id": "user106"}, path_id=jack, expect=REFUSED)     # has cards
    d.api("replace_user", WALLET, body={**JILL, "user_id": "user107"}, path_id=jill, expect=200)     # renamed
    # the user changes between the failed in-place condition and the transaction: read again, then written
    d.ahead("update_user", "TransactWriteItems", lambda _p: d.dynamo.update_item(
        TableName=TABLE, Key={"PK": {"S": f"P#default#USER#{jill}"}, "SK": {"S": "USER"}},
        UpdateExpression="SET version = version + :one", ExpressionAttributeValues={":one": {"N": "1"}}))
    d.api("update_user", WALLET, body={"user_id": "user007"}, path_id=jill, expect=200)
    # a new amazon_id moves its guard (the old one deleted, the new one put); taken by Jack's: refused
    d.api("update_user", WALLET, body={"amazon_id": "amz7778"}, path_id=jill, expect=200)
    d.api("replace_user", WALLET, body={**JILL, "amazon_id": "amz7779"}, path_id=jill, expect=200)
    d.api("update_user", WALLET, body={"amazon_id": JACK["amazon_id"]}, path_id=jill, expect=REFUSED)

    d.api("get_gift_card", KOHLS, path_id=card1, expect=200)
    d.api("get_gift_card", WALLET, path_id=card1, expect=200)
    d.api("list_gift_cards", KOHLS, expect=200)
    for query in ({}, {"card_id": "kohls-gc-001"}, {"user_id": "user006"}, {"issuer": "Kohls"}):
        d.api("list_gift_cards", WALLET, query=query, expect=200)
    d.api("replace_gift_card", KOHLS, body={**KOHLS_CARD, "expiry_date": "2031-01-31"}, path_id=card1, expect=200)
    d.api("replace_gift_card", KOHLS, body={**KOHLS_CARD, "balance": 1}, path_id=card1, expect=REFUSED)
    d.api("update_gift_card", KOHLS, body={"state": "ACTIVE"}, path_id=card1, expect=200)   # issuer key: read first
    d.api("update_gift_card", ADMIN, body={"expiry_date": "2031-02-28"}, path_id=card1, expect=200)
    d.api("update_gift_card", KOHLS, body={"state": "BLOCKED", "issuer": "Kohls"}, path_id=card1,
          expect=200)                                                         # a state change: its event
    d.api("replace_gift_card", KOHLS, body={**KOHLS_CARD, "expiry_date": "2031-02-28", "state": "ACTIVE"},
          path_id=card1, expect=200)                                          # and back
    d.api("update_gift_card", KOHLS, body={"issuer": "Kohls", "card_id": "kohls-gc-003", "user_id": "user007"},
          path_id=card2, expect=200)                                          # renamed and moved: guards, counts
    d.api("replace_gift_card", KOHLS, body={**KOHLS_CARD, "card_id": "kohls-gc-002", "balance": 0},
          path_id=card2, expect=200)                                          # back to Jack
    d.api("update_gift_card", KOHLS, body={"state": "BLOCKED"}, path_id=99, expect=REFUSED)
    d.api("replace_gift_card", KOHLS, body=KOHLS_CARD, path_id=99, expect=REFUSED)

    d.api("create_product", KOHLS, body=DOG_BED, expect=201)
    product2 = d.api("create_product", KOHLS, body={**DOG_BED, "product_id": "kohls-bowl-002"}, expect=201)[1]["id"]
    d.api("create_product", KOHLS, body=DOG_BED, expect=REFUSED)
    d.api("get_product", CHECKOUT, path_id=1, expect=200)
    d.api("get_product", KOHLS, path_id=1, expect=200)
    for query in ({}, {"product_id": "kohls-dogbed-001"}, {"eligible_issuer": "Kohls"}):
        d.api("list_products", CHECKOUT, query=query, expect=200)
    d.api("list_products", KOHLS, expect=200)
    d.api("replace_product", KOHLS, body={**DOG_BED, "price": "55.00"}, path_id=1, expect=200)
    d.api("replace_product", KOHLS, body={**DOG_BED, "product_id": "kohls-dogbed-002"}, path_id=1, expect=200)
    d.api("update_product", KOHLS, body={"product_id": "kohls-dogbed-001"}, path_id=1, expect=200)
    d.api("update_product", KOHLS, body={"product_id": "kohls-bowl-002"}, path_id=1, expect=REFUSED)
    d.api("update_product", ADMIN, body={"price": "52.00"}, path_id=1, expect=200)          # in place
    d.api("update_product", KOHLS, body={"price": "1.00"}, path_id=99, expect=REFUSED)
    d.api("replace_product", KOHLS, body=DOG_BED, path_id=99, expect=REFUSED)
    d.api("delete_product", KOHLS, path_id=product2, expect=204)
    d.api("delete_product", KOHLS, path_id=product2, expect=REFUSED)
    return {"jack": jack, "jill": jill, "card1": card1, "card2": card2, "card4": card4}


def drive_money(d: Driver, ids: dict[str, int]) -> None:
    card1, card4 = ids["card1"], ids["card4"]
    key = {"Idempotency-Key": "act-0001"}
    load = {"type": "LOAD", "amount": 25, "reason": "top-up"}
    d.api("create_gift_card_activity", KOHLS, body=load, path_id=card1, headers=key, expect=201)
    d.api("create_gift_card_activity", KOHLS, body=load, path_id=card1, headers=key, expect=(200, 201))  # replay
    d.twin_commits_first("create_gift_card_activity")
    d.api("create_gift_card_activity", KOHLS, body=load, path_id=card1, headers={"Idempotency-Key": "act-0002"},
          expect=(200, 201))
    d.card_changes_first("create_gift_card_activity", f"P#default#CARD#{card1}")
    d.api("create_gift_card_activity", KOHLS, body=load, path_id=card1, headers={"Idempotency-Key": "act-0003"},
          expect=201)
    d.api("create_gift_card_activity", KOHLS, body={"type": "ADJUST_DECREMENT", "amount": 10, "reason": "empty"},
          path_id=card4, headers={"Idempotency-Key": "act-0004"}, expect=201)
    d.api("create_gift_card_activity", KOHLS, body={"type": "ADJUST_DECREMENT", "amount": 999, "reason": "x"},
          path_id=card4, headers={"Idempotency-Key": "act-0005"}, expect=REFUSED)

    d.api("list_gift_card_activities", WALLET, path_id=card1, expect=200)
    d.api("list_gift_card_activities", KOHLS, path_id=card1, query={"type": "LOAD"}, expect=200)
    d.api("list_gift_card_activities", WALLET, path_id=card1, query={"type": "NOPE"}, expect=REFUSED)
    _, _, headers = d.api("list_gift_card_activities", WALLET, path_id=card1, query={"limit": "1"}, expect=200)
    cursor = re.search(r"cursor=([^&>]+)", headers["Link"]).group(1)
    d.api("list_gift_card_activities", WALLET, path_id=card1, query={"limit": "1", "cursor": cursor}, expect=200)
    d.api("list_gift_card_activities", WALLET, path_id=99, expect=REFUSED)

    d.api("checkout_quote", CHECKOUT, body=BASKET, expect=200)
    d.api("checkout_quote", CHECKOUT, body={**BASKET, "user_id": "nobody"}, expect=REFUSED)
    pay_key = {"Idempotency-Key": "pay-0001"}
    _, payment, _ = d.api("create_payment", CHECKOUT, body=BASKET, headers=pay_key, expect=201)
    d.api("create_payment", CHECKOUT, body=BASKET, headers=pay_key, expect=(200, 201))                  # replay
    d.twin_commits_first("create_payment")
    d.api("create_payment", CHECKOUT, body=BASKET, headers={"Idempotency-Key": "pay-0002"}, expect=(200, 201))
    d.card_changes_first("create_payment", f"P#default#CARD#{card1}")
    d.api("create_payment", CHECKOUT, body=BASKET, headers={"Idempotency-Key": "pay-0003"}, expect=201)
    d.api("get_payment", CHECKOUT, path_id=payment["id"], expect=200)
    d.api("get_payment", CHECKOUT, path_id="pay_000000000000000000000000", expect=REFUSED)

    refund_key = {"Idempotency-Key": "rfd-0001"}
    d.api("create_refund", CHECKOUT, body={"amount": "5.00"}, path_id=payment["id"], headers=refund_key, expect=201)
    d.api("create_refund", CHECKOUT, body={"amount": "5.00"}, path_id=payment["id"], headers=refund_key,
          expect=(200, 201))
    d.twin_commits_first("create_refund")
    d.api("create_refund", CHECKOUT, body={"amount": "5.00"}, path_id=payment["id"],
          headers={"Idempotency-Key": "rfd-0002"}, expect=(200, 201))
    d.card_changes_first("create_refund", f"P#default#CARD#{card1}")
    d.api("create_refund", CHECKOUT, body={"amount": "5.00"}, path_id=payment["id"],
          headers={"Idempotency-Key": "rfd-0003"}, expect=201)
    d.api("create_refund", CHECKOUT, body={"amount": "5.00"}, path_id="pay_000000000000000000000000",
          headers={"Idempotency-Key": "rfd-0004"}, expect=REFUSED)

    drive_authorizations(d, card1)

    # a user guard written before it kept the wallet: checkout follows the user item and the cards' guards
    d.dynamo.update_item(TableName=TABLE, Key={"PK": {"S": "P#default#UNIQUE#USER#user006"}, "SK": {"S": "UNIQUE"}},
                         UpdateExpression="REMOVE wallet_cards")
    d.api("checkout_quote", CHECKOUT, body=BASKET, expect=200)
    d.api("create_payment", CHECKOUT, body=BASKET, headers={"Idempotency-Key": "pay-0004"}, expect=201)

    # deleting: refused while a balance remains; a linked empty card leaves its owner's wallet, found through
    # owner_ref or (a card linked before owner_ref was kept) through the owner's guard
    d.api("delete_gift_card", KOHLS, path_id=card1, expect=REFUSED)
    d.api("delete_gift_card", KOHLS, path_id=card4, expect=204)
    card2 = ids["card2"]
    d.api("update_user", WALLET, body={"gift_cards": ["kohls-gc-001", "kohls-gc-002"]}, path_id=ids["jack"],
          expect=200)
    d.dynamo.update_item(TableName=TABLE, Key={"PK": {"S": f"P#default#CARD#{card2}"}, "SK": {"S": "CARD"}},
                         UpdateExpression="REMOVE owner_ref")
    d.api("delete_gift_card", KOHLS, path_id=card2, expect=204)
    d.api("delete_gift_card", KOHLS, path_id=card2, expect=REFUSED)
    d.api("delete_user", WALLET, path_id=ids["jack"], expect=REFUSED)
    d.api("delete_user", WALLET, path_id=ids["jill"], expect=204)
    d.api("delete_user", WALLET, path_id=ids["jill"], expect=REFUSED)


def expire_now(d: Driver, payment_id: str) -> None:
    """The test's own client moves an authorization's expiry into the past (as if its time had come)."""
    from datetime import datetime, timedelta, timezone

    from flexigift.store import authorizations

    past = datetime.now(timezone.utc) - timedelta(minutes=2)
    index = authorizations.expiry_index("default", payment_id, past)
    d.dynamo.update_item(TableName=TABLE, Key={"PK": {"S": f"P#default#PAYMENT#{payment_id}"}, "SK": {"S": "PAYMENT"}},
                         UpdateExpression="SET hold_expires_epoch = :e, GSI1PK = :pk, GSI1SK = :sk",
                         ExpressionAttributeValues={":e": {"N": str(int(past.timestamp()))},
                                                    ":pk": {"S": index["GSI1PK"]}, ":sk": {"S": index["GSI1SK"]}})
    # a real hold expires at least 30 s after it is placed, so never behind the sweep's position; this one is
    # moved 2 minutes back, so the sweep starts afresh (one hour back) to find it
    d.dynamo.delete_item(TableName=TABLE, Key={"PK": {"S": "SWEEP#authorizations"}, "SK": {"S": "SWEEP"}})


def drive_authorizations(d: Driver, card1: int) -> None:
    """By Amazon account; authorize, then capture, void and the expiry sweep, each through its replay, a twin
    that commits first (the claim is read) and a card that moves first (the payment is read again)."""
    d.api("create_gift_card_activity", KOHLS, body={"type": "LOAD", "amount": 500, "reason": "holds"}, path_id=card1,
          headers={"Idempotency-Key": "act-0006"}, expect=201)
    by_amazon = {"amazon_id": JACK["amazon_id"], "items": BASKET["items"]}
    d.api("checkout_quote", CHECKOUT, body=by_amazon, expect=200)
    d.api("checkout_quote", CHECKOUT, body={**by_amazon, "amazon_id": "amz-nobody"}, expect=REFUSED)
    d.api("create_payment", CHECKOUT, body=by_amazon, headers={"Idempotency-Key": "pay-amz-1"}, expect=201)

    def authorized(key: str) -> str:
        return d.api("create_payment", CHECKOUT, body={**by_amazon, "capture": False},
                     headers={"Idempotency-Key": key}, expect=201)[1]["id"]

    card_pk = f"P#default#CARD#{card1}"
    for module, body in (("capture_payment", {"amount": "10.00"}), ("void_payment", ...)):
        first, twin, moved = authorized(f"auth-{module}-1"), authorized(f"auth-{module}-2"), authorized(f"auth-{module}-3")
        key = {"Idempotency-Key": f"{module}-1"}
        d.api(module, CHECKOUT, body=body, path_id=first, headers=key, expect=200)
        d.api(module, CHECKOUT, body=body, path_id=first, headers=key, expect=200)                 # replay
        d.api(module, CHECKOUT, body=body, path_id=first, headers={"Idempotency-Key": f"{module}-x"},
              expect=REFUSED)                                                                     # closed
        d.twin_commits_first(module)
        d.api(module, CHECKOUT, body=body, path_id=twin, headers={"Idempotency-Key": f"{module}-2"}, expect=200)
        d.card_changes_first(module, card_pk)
        d.api(module, CHECKOUT, body=body, path_id=moved, headers={"Idempotency-Key": f"{module}-3"}, expect=200)
        d.api(module, CHECKOUT, body=body, path_id="pay_000000000000000000000000",
              headers={"Idempotency-Key": f"{module}-4"}, expect=REFUSED)
    sweep = load_event("expire_authorizations")
    for interference in (None, "twin", "moved"):
        expire_now(d, authorized(f"auth-sweep-{interference}"))
        if interference == "twin":
            d.twin_commits_first("expire_authorizations")
        elif interference == "moved":
            d.card_changes_first("expire_authorizations", card_pk)
        report = d.invoke("expire_authorizations", sweep)
        assert report["expired"] + report["already_closed"] == 1 and report["failed"] == 0, report


def drive_rewards(d: Driver, rewards: Any) -> None:
    from tests.rewards_support import feed_bytes, sample_feed, without

    d.invoke("refresh_rewards_catalog", load_event("refresh_rewards_catalog"))
    rewards.upload_feed(feed_bytes(without(sample_feed(), 27222)))   # an item leaves the feed: withdrawn
    d.invoke("refresh_rewards_catalog", load_event("refresh_rewards_catalog"))
    d.api("get_rewards_catalog", REWARDS, expect=200)
    key = {"Idempotency-Key": "ro-0001"}
    _, placed, _ = d.api("create_reward_order", REWARDS, body={"reward_id": 27234, "amount": 25,
                                                                 "delivery_method": 1}, headers=key, expect=201)
    d.api("create_reward_order", REWARDS, body={"reward_id": 27234, "amount": 25, "delivery_method": 1},
          headers=key, expect=(200, 201))
    _, emailed, _ = d.api("create_reward_order", REWARDS, body={
        "reward_id": 27234, "amount": 25, "delivery_method": 2, "delivery_email": "jack.johnson@example.com"},
        expect=201)
    # into Jack's wallet: the user's guard is read with the order's inputs, the card written with the order
    d.api("create_reward_order", REWARDS, body={"reward_id": 27234, "amount": 25, "delivery_method": 3,
                                                "user_id": JACK["user_id"]}, expect=201)
    d.api("get_reward_order", REWARDS, path_id=placed["order_id"], expect=200)
    d.api("list_reward_orders", REWARDS, expect=200)
    d.api("resend_reward_order", REWARDS, path_id=emailed["order_id"], body={}, expect=REFUSED)   # still queued
    # the delivery failed for good (the dead-letter handler's mark, driven by test_rewards_orders.py)
    d.dynamo.update_item(TableName=TABLE, Key={"PK": {"S": f"P#default#REWARD_ORDER#{emailed['order_id']}"},
                                               "SK": {"S": "REWARD_ORDER"}},
                         UpdateExpression="SET delivery_status = :s", ExpressionAttributeValues={":s": {"S": "failed"}})
    d.api("resend_reward_order", REWARDS, path_id=emailed["order_id"], body={}, expect=(200, 202))


def drive_webhooks(d: Driver, webhooks: Any) -> None:
    """Events of the scenario's payments, an endpoint on a receiver, its deliveries made by the worker from the
    queue's real messages (fan-out, attempts, a copy that finds it done), a retry and a delete."""
    import json

    from tests.webhook_receiver import Receiver

    hooks = context("webhooks")
    receiver = Receiver(statuses=[500])
    try:
        _, endpoint, _ = d.api("create_webhook_endpoint", hooks, body={"url": receiver.url, "events": ["*"]},
                               expect=201)
        d.api("create_webhook_endpoint", hooks, body={"url": "https://10.1.2.3/x", "events": ["*"]}, expect=REFUSED)
        d.api("list_webhook_endpoints", hooks, expect=200)
        # the stream's batches of the scenario's events, to the indexer (two batches: the listing has chunks)
        from tests.integration.conftest import insert_records, unlisted_events

        fresh = unlisted_events()
        for batch in (fresh[:len(fresh) // 2], fresh[len(fresh) // 2:]):
            d.invoke("index_events", {"Records": insert_records(batch)})
        _, listed, headers = d.api("list_events", hooks, query={"limit": "1"}, expect=200)
        cursor = re.search(r"cursor=([^&>]+)", headers["Link"]).group(1)
        d.api("list_events", hooks, query={"limit": "1", "cursor": cursor}, expect=200)
        d.api("list_events", hooks, query={"type": "payment.captured"}, expect=200)
        event_id = listed[0]["id"]
        d.api("get_event", hooks, path_id=event_id, expect=200)
        d.api("get_event", hooks, path_id="evt_" + "0" * 24, expect=REFUSED)

        def run_queue() -> int:
            messages = webhooks.receive()
            if messages:
                records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "eventSource": "aws:sqs"} for m in messages]
                failed = {f["itemIdentifier"] for f in d.invoke("deliver_webhooks", {"Records": records})[
                    "batchItemFailures"]}
                for m in messages:
                    if m["MessageId"] not in failed:
                        webhooks.sqs.delete_message(QueueUrl=webhooks.queue_url, ReceiptHandle=m["ReceiptHandle"])
            return len(messages)

        fan_out = {"kind": "event", "program_id": "default", "event_id": event_id, "event_type": listed[0]["type"]}
        webhooks.sqs.send_message(QueueUrl=webhooks.queue_url, MessageBody=json.dumps(fan_out))
        run_queue()                                   # the fan-out: one delivery message for the endpoint
        run_queue()                                   # attempt 1: 500, retried later
        assert receiver.wait_for(lambda: len(receiver.received) == 1, 5)
        assert receiver.wait_for(lambda: run_queue() == 0 and receiver.accepted() != [], 15)   # attempt 2: 200
        d.api("list_webhook_deliveries", hooks, path_id=endpoint["id"], expect=200)
        d.api("list_webhook_deliveries", hooks, path_id="we_" + "0" * 24, expect=REFUSED)
        retried = {"id": endpoint["id"], "event_id": event_id}
        event = api_event("retry_webhook_delivery", authorizer=dict(hooks))
        path = f"/webhooks/endpoints/{endpoint['id']}/deliveries/{event_id}/retry"
        event.update({"path": path, "pathParameters": retried})
        event["requestContext"]["path"] = "/prod" + path
        status, _, _ = d.run("retry_webhook_delivery", lambda: call("retry_webhook_delivery", event))
        assert status == 202
        d.api("delete_webhook_endpoint", hooks, path_id=endpoint["id"], expect=204)
        d.api("delete_webhook_endpoint", hooks, path_id=endpoint["id"], expect=REFUSED)
        done = {"kind": "delivery", "program_id": "default", "endpoint_id": endpoint["id"], "event_id": event_id}
        webhooks.sqs.send_message(QueueUrl=webhooks.queue_url, MessageBody=json.dumps(done))
        run_queue()                                   # a message for a deleted endpoint ends
    finally:
        receiver.stop()


def drive_everything(recorder: Recorder, dynamo: Any, rewards: Any, webhooks: Any = None) -> None:
    from flexigift.aws import dynamodb

    d = Driver(recorder, dynamo)
    dynamodb().meta.events.register("before-parameter-build.dynamodb.*", d.hook)
    drive_admin(d)
    ids = drive_wallet(d)
    drive_money(d, ids)
    drive_rewards(d, rewards)
    if webhooks is not None:
        drive_webhooks(d, webhooks)
    d.api("route_fallback", WALLET, expect=(404, 405))


_RECORDED: list[Recorder | BaseException] = []   # the recording, or why the scenario could not finish


@pytest.fixture
def usage(request: pytest.FixtureRequest) -> Recorder:
    """Every function's DynamoDB calls, recorded once for the module: the first test that asks drives the whole
    scenario in a fresh moto account (the `aws` and `rewards` fixtures); the others read the recording."""
    if not _RECORDED:
        rewards = request.getfixturevalue("rewards")
        recorder = Recorder()
        try:
            drive_everything(recorder, request.getfixturevalue("aws"), rewards, request.getfixturevalue("webhooks"))
        except BaseException as failed:  # every test reports it, none drives the scenario again
            _RECORDED.append(failed)
            raise
        _RECORDED.append(recorder)
    if isinstance(_RECORDED[0], BaseException):
        pytest.fail(f"the scenario failed: {_RECORDED[0]!r}")
    return _RECORDED[0]



# --- the checks ----------------------------------------------------------------------------------------

DRIVEN = sorted(set(template.functions()) - set(EXERCISED_ELSEWHERE))
ADMIN_WRITERS = {"CreateApiKeyFunction", "RevokeApiKeyFunction", "ListApiKeysFunction", "CreateProgramFunction"}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                 "dynamodb:ConditionCheckItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
                 "dynamodb:PartiQLDelete", "dynamodb:*"}
PLATFORM_ITEMS = ("APIKEY#0123abcd", "P#default#APIKEYID#key_0123456789abcdef", "PROGRAM#acme-rewards")


def test_every_function_is_driven_here_or_named_with_where_it_is(usage):
    """Given template.yaml's functions, then each one was driven by this test or is named in
    EXERCISED_ELSEWHERE with a reason (a new function cannot be left out silently), and not both."""
    recorder = usage
    assert set(EXERCISED_ELSEWHERE) <= set(template.functions()), "EXERCISED_ELSEWHERE names unknown functions"
    assert recorder.invoked == set(DRIVEN), (sorted(set(DRIVEN) - recorder.invoked),
                                             sorted(recorder.invoked & set(EXERCISED_ELSEWHERE)))


@pytest.mark.parametrize("function", DRIVEN)
def test_every_call_a_function_makes_is_granted(usage, function):
    """Given every DynamoDB call the function's handler made, then each (each part of a transaction, each key
    of a batch) is allowed by one of the function's own statements: action, table or index, partition keys.
    Allowed in the strict reading of the patterns, which implies IAM's: a call must not pass only because IAM's
    '*' also matches '#' (P#*#USER#* admitting a P#*#UNIQUE#USER#* guard), so each grant says what it is for."""
    assert function in usage.invoked
    refused = [a for a in usage.by_function().get(function, [])
               if not any(g.allows(a, strict=True) for g in grants(function))]
    assert not refused, "\n".join(f"{a.action} {a.resource} {a.keys}" for a in refused)


@pytest.mark.parametrize("function", DRIVEN)
def test_every_grant_of_a_function_is_used(usage, function):
    """Given the function's statements, then every action, resource and LeadingKeys pattern of each one is
    needed by a recorded call that statement allows (a pattern matched in its strict reading); a function
    that made no DynamoDB call has no DynamoDB statement at all."""
    calls = usage.by_function().get(function, [])
    unused = []
    for grant in grants(function):
        allowed = [a for a in calls if grant.allows(a)]
        unused += [f"action {x}" for x in grant.actions if not any(a.action == x for a in allowed)]
        unused += [f"resource {r}" for r in grant.resources
                   if not any(_resource_matches(r, a.resource) for a in allowed)]
        unused += [f"LeadingKeys {p} ({', '.join(grant.actions)})" for p in grant.leading_keys or ()
                   if not any(string_like(p, k, strict=True) for a in allowed for k in a.keys)]
    assert not unused, f"{function} is granted what it never uses: {unused}"
    if not calls:
        assert grants(function) == [], f"{function} makes no DynamoDB call but holds a DynamoDB grant"


def test_the_scenario_reaches_every_kind_of_call(usage):
    """The recording is not vacuous: transactions, batches, index and table queries were all seen."""
    recorder = usage
    actions = {(a.action, a.resource.split("/")[0]) for a in recorder.calls}
    assert {("dynamodb:GetItem", "table"), ("dynamodb:BatchGetItem", "table"), ("dynamodb:Query", "index"),
            ("dynamodb:Query", "table"), ("dynamodb:PutItem", "table"), ("dynamodb:UpdateItem", "table"),
            ("dynamodb:DeleteItem", "table")} <= actions
    assert len(recorder.invoked) >= 35


@pytest.mark.parametrize("function", sorted(template.functions()))
def test_policies_are_plain_statements_and_dynamodb_ones_name_their_partitions(function):
    """Every Policies entry is a plain Statement list (no SAM policy template, whose grants this test cannot
    read), and every DynamoDB statement names its partitions with LeadingKeys and its resource exactly (no
    index/*, no "*"). The delivery functions another engineer is reworking are exempt until they are driven."""
    props = template.resources()[function]["Properties"]
    for policy in props.get("Policies", []) or []:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, (function, policy)
    if function in EXERCISED_ELSEWHERE:
        return
    for grant in grants(function):
        assert grant.leading_keys, f"{function}: {grant.actions} without dynamodb:LeadingKeys"
        assert all(r == "table" or re.fullmatch(r"index/GSI\d", r) for r in grant.resources), (function, grant)


@pytest.mark.parametrize("function", sorted(template.functions()))
def test_only_the_admin_functions_may_write_api_keys_and_programs(function):
    """Given any function's statements, then only the admin functions hold a write whose LeadingKeys admit an
    API key (APIKEY#, P#*#APIKEYID#) or a program (PROGRAM#), and no write anywhere lacks LeadingKeys."""
    for grant in grants(function):
        writes = set(grant.actions) & WRITE_ACTIONS
        if not writes:
            continue
        assert grant.leading_keys is not None, f"{function} may write {sorted(writes)} to any partition"
        reachable = [k for k in PLATFORM_ITEMS if any(string_like(p, k) for p in grant.leading_keys)]
        if function not in ADMIN_WRITERS:
            assert not reachable, f"{function} may write {reachable} with {sorted(writes)}"


def test_the_authorizer_only_reads_api_keys_by_hash():
    assert grants("AuthorizerFunction") == [Grant(("dynamodb:GetItem",), ("table",), ("APIKEY#*",))]


STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}


def test_the_stream_readers_roles():
    """The functions with a role of their own are the stream's two readers: the outbox relay may read the
    table's stream and no item; the event indexer may read the stream and put only event listing chunks."""
    own_roles = {}
    for function, resource in template.resources("AWS::Serverless::Function").items():
        role = (resource["Properties"].get("Role") or {}).get("Fn::GetAtt", [None])[0]
        if role is not None:
            own_roles[function] = role
    assert set(own_roles) == {"RelayOutboxFunction", "IndexEventsFunction"}
    for function in own_roles:
        for statement in statements(function):
            dynamo = {a for a in statement["Action"] if a.startswith("dynamodb:")}
            if statement["Resource"] == {"Fn::GetAtt": ["Table", "StreamArn"]}:
                assert dynamo == STREAM_READS, (function, statement)
            else:
                assert not dynamo or function == "IndexEventsFunction", (function, statement)
    assert grants("IndexEventsFunction") == [Grant(("dynamodb:BatchWriteItem",), ("table",), ("P#*#EVENTS#*",))]


def test_string_like_is_iams():
    assert string_like("P#*#USER#*", "P#default#USER#12")
    assert string_like("P#*#USER#*", "P#default#UNIQUE#USER#jack")          # IAM's * crosses '#'
    assert not string_like("P#*#USER#*", "P#default#UNIQUE#USER#jack", strict=True)
    assert not string_like("P#*#USER", "P#default#USER#12") and string_like("APIKEY#?", "APIKEY#a")
    assert not string_like("P#*#CARD#*", "p#default#card#1")                # case-sensitive
