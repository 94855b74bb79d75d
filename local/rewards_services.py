"""Local services for the Giftcard Rewards (and for any function of the template with the same events):

- RewardsSetupService: verifies the SES sender identity (moto refuses mail from an unverified one) and
  uploads the sample catalog feed (feeds/catalog.json) to the feed bucket.
- ScheduleService: runs every function that has a `Schedule` event once at start (so the catalog is
  loaded before the stack reports ready) and then at its rate; `POST /_local/schedules/<LogicalId>`
  runs one now and answers its result.
- SqsPollerService: feeds every function that has an `SQS` event real SQS events from the local queue,
  as Lambda's event source mapping does: batches of BatchSize, records deleted unless reported in
  batchItemFailures (ReportBatchItemFailures) or unless the invocation failed. A failed message is
  received again after FLEXIGIFT_LOCAL_SQS_RETRY_SECONDS (2 s) instead of the queue's VisibilityTimeout,
  so that maxReceiveCount tries and the dead-letter queue take seconds locally, not minutes.
- StreamRelayService: feeds every function that has a `DynamoDB` (stream) event the table's stream records, as
  Lambda's event source mapping does: read from moto's DynamoDB Streams API (GetShardIterator/GetRecords,
  from TRIM_HORIZON, or with kept data after what that reader handled before the restart: each mapping has its
  own position, as in Lambda), kept only if they match the event's FilterCriteria, in batches of BatchSize; a
  batch whose invocation fails is sent again from its first record, one with batchItemFailures is resumed from
  its first failed record (ReportBatchItemFailures), and after MaximumRetryAttempts the batch's description
  goes to the OnFailure destination queue. (Not modelled: BisectBatchOnFunctionError, a failed batch is
  retried whole; MaximumBatchingWindowInSeconds, a batch is what the stream holds at each poll, 0.2 s apart.)
- OutboxService: the emails SES accepted, at `GET /_local/outbox` (JSON, oldest first: id, to, from,
  subject, text, html, sent_at) and `GET /_local/outbox/<id>` (the HTML, to look at in a browser).

The pollers ask moto at most every POLL_INTERVAL (0.2 s); one that found nothing then sleeps until moto's state
changes (a write, a message sent: local/moto_process.py Changes) or IDLE_POLL_SECONDS (1 s) have passed, so an
idle stack, or one under reads only, is not asking moto five times a second per queue for nothing.
- `GET /_local/aws`: moto's endpoint and the physical names of the template's resources, for tools and
  tests that want to talk to the local AWS services directly.

All of them read what they need (events, queues, rates, batch sizes) from template.yaml.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from local import template
from local.gateway import HttpRequest, HttpResponse, json_response
from local.moto_backend import ACCOUNT_ID, REGION
from local.moto_process import IDLE_POLL_SECONDS, Changes

if TYPE_CHECKING:
    from local.stack import Stack

SAMPLE_FEED = template.ROOT / "feeds" / "catalog.json"
RETRY_SECONDS_VARIABLE = "FLEXIGIFT_LOCAL_SQS_RETRY_SECONDS"
POLL_INTERVAL = 0.2


def _log(message: str) -> None:
    print(f"[local] {message}", file=sys.stderr, flush=True)


def _client(stack: Stack, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=stack.aws_endpoint)


def _logical_id(reference: Any) -> str:
    """The logical id a !GetAtt X.Arn / !Ref X names."""
    if isinstance(reference, dict):
        if "Fn::GetAtt" in reference:
            return str(reference["Fn::GetAtt"][0])
        if "Ref" in reference:
            return str(reference["Ref"])
    raise LookupError(f"cannot tell which resource {reference!r} names")


def _events(kind: str) -> list[tuple[template.Function, str, dict[str, Any]]]:
    return [(fn, name, event.get("Properties") or {}) for fn in template.functions().values()
            for name, event in fn.events.items() if event.get("Type") == kind]


def _changes(stack: Stack) -> Changes:
    assert stack.moto is not None, "local services need moto's process"
    return stack.moto.changes


def _idle(stack: Stack, mark: int, stopping: threading.Event) -> None:
    """After a poll that found nothing: POLL_INTERVAL (the most often a poller asks), then on until moto's state
    changes after `mark` (a write, a message sent) or IDLE_POLL_SECONDS have passed (a message whose visibility
    timeout ran out appears without a write)."""
    if not stopping.wait(POLL_INTERVAL):
        _changes(stack).wait(mark, IDLE_POLL_SECONDS, stopping)


def _invoke(stack: Stack, fn: template.Function, event: dict[str, Any]) -> Any:
    assert stack.pool is not None, "local services need the worker pool"
    return stack.pool.invoke(fn, event, str(uuid.uuid4()))


# --- setup -----------------------------------------------------------------------------------------


class RewardsSetupService:
    name = "rewards setup"

    def start(self, stack: Stack) -> None:
        sender = stack.environment.get("REWARDS_SENDER_EMAIL")
        if sender:
            _client(stack, "sesv2").create_email_identity(EmailIdentity=sender)
        bucket = stack.physical.get("CatalogFeedBucket")
        if bucket and SAMPLE_FEED.is_file():
            key = stack.environment.get("CATALOG_FEED_KEY") or "catalog.json"
            _client(stack, "s3").put_object(Bucket=bucket, Key=key, Body=SAMPLE_FEED.read_bytes(),
                                            ContentType="application/json")
            _log(f"sample catalog feed uploaded to s3://{bucket}/{key}")
        assert stack.gateway is not None, "local services need the gateway"
        stack.gateway.add_local_route("GET", "/_local/aws", lambda _request: json_response(200, {
            "endpoint": stack.aws_endpoint, "region": REGION, "account_id": ACCOUNT_ID,
            "physical": stack.physical, "functions": function_settings(stack)}))

    def stop(self) -> None:
        pass


def function_settings(stack: Stack) -> dict[str, dict[str, Any]]:
    """Each function as Lambda would run it here: handler, timeout, memory and its own resolved Environment
    (the template's variables; AWS_* and credentials are the runtime's to add), so that anyone can run one
    function against this stack's AWS services, e.g. under the Runtime Interface Emulator."""
    from local import lambda_runtime

    return {fn.logical_id: {"handler": fn.handler, "timeout": fn.timeout, "memory_size": fn.memory_size,
                            "function_name": lambda_runtime.function_name(fn.logical_id),
                            "environment": lambda_runtime.function_environment(fn, stack.physical,
                                                                                stack.parameters)}
            for fn in template.functions().values()}


# --- schedules -------------------------------------------------------------------------------------

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of a `rate(...)` schedule; None for cron() (not run periodically here)."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(fn: template.Function, event_name: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT_ID, "time": now, "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{fn.logical_id}{event_name}"], "detail": {}}


class ScheduleService:
    name = "schedules"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stack: Stack) -> None:
        assert stack.gateway is not None, "local services need the gateway"
        for fn, event_name, props in _events("Schedule"):
            if props.get("Enabled") is False:
                continue
            self._run(stack, fn, event_name)  # at start: e.g. the catalog is loaded before the stack is ready
            stack.gateway.add_local_route("POST", f"/_local/schedules/{fn.logical_id}",
                                          self._run_now_handler(stack, fn, event_name))
            every = rate_seconds(str(props.get("Schedule", "")))
            if every is None:
                _log(f"{fn.logical_id}: schedule {props.get('Schedule')!r} runs only at start and on request")
                continue
            thread = threading.Thread(target=self._loop, args=(stack, fn, event_name, every),
                                      name=f"schedule-{fn.logical_id}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, stack: Stack, fn: template.Function, event_name: str) -> Any:
        outcome = _invoke(stack, fn, scheduled_event(fn, event_name))
        _log(f"schedule {fn.logical_id}: {'failed: ' + outcome.error_message if outcome.error else 'ran'}")
        return outcome

    def _run_now_handler(self, stack: Stack, fn: template.Function, event_name: str) -> Any:
        def handle(_request: HttpRequest) -> HttpResponse:
            outcome = self._run(stack, fn, event_name)
            return json_response(502 if outcome.error else 200, outcome.payload)

        return handle

    def _loop(self, stack: Stack, fn: template.Function, event_name: str, every: int) -> None:
        while not self.stopping.wait(every):
            try:
                self._run(stack, fn, event_name)
            except Exception as exc:  # noqa: BLE001 - a failed run must not end the schedule
                _log(f"schedule {fn.logical_id} could not run: {exc!r}")

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=2)


# --- SQS event sources -----------------------------------------------------------------------------


def sqs_records(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                                  "stringListValues": [], "binaryListValues": [], "dataType": v.get("DataType")}
                              for k, v in (m.get("MessageAttributes") or {}).items()},
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION} for m in messages]}


class SqsPollerService:
    name = "sqs pollers"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stack: Stack) -> None:
        retry = int(os.environ.get(RETRY_SECONDS_VARIABLE, "2"))
        for fn, _name, props in _events("SQS"):
            if props.get("Enabled") is False:
                continue
            queue = _logical_id(props.get("Queue"))
            source = {"url": stack.physical[queue], "arn": stack.physical[f"{queue}.Arn"],
                      "batch": int(props.get("BatchSize", 10)), "retry": retry,
                      "partial": "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])}
            thread = threading.Thread(target=self._loop, args=(stack, fn, source), name=f"sqs-{fn.logical_id}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)
            _log(f"{fn.logical_id} polls {queue}")

    def _loop(self, stack: Stack, fn: template.Function, source: dict[str, Any]) -> None:
        sqs = _client(stack, "sqs")
        while not self.stopping.is_set():
            mark = _changes(stack).mark()
            try:
                worked = self._poll_once(stack, sqs, fn, source)
            except Exception as exc:  # noqa: BLE001 - keep polling, as the event source mapping does
                _log(f"polling for {fn.logical_id} failed: {exc!r}")
                worked = False
            if not worked:
                _idle(stack, mark, self.stopping)

    def _poll_once(self, stack: Stack, sqs: Any, fn: template.Function, source: dict[str, Any]) -> bool:
        # No long polling: moto's server takes one request at a time, and a waiting receive would hold it.
        messages = sqs.receive_message(QueueUrl=source["url"], MaxNumberOfMessages=min(source["batch"], 10),
                                       VisibilityTimeout=source["retry"], AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return False
        outcome = _invoke(stack, fn, sqs_records(messages, source["arn"]))
        if outcome.error:
            _log(f"{fn.logical_id} failed on {len(messages)} message(s): {outcome.error_message}")
            return True
        failed: set[str] = set()
        if source["partial"] and isinstance(outcome.payload, dict):
            failed = {str(f.get("itemIdentifier")) for f in outcome.payload.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=source["url"], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if failed:
            _log(f"{fn.logical_id}: {len(failed)} of {len(messages)} message(s) failed; retried in {source['retry']}s")
        return True

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=3)


# --- DynamoDB stream event sources --------------------------------------------------------------------
# moto (5.x) keeps a stream for a table whose StreamSpecification is enabled, and records every item a write
# changes there, TransactWriteItems included: its transactions call the same put/update/delete as single
# writes, which append to the table's stream shard (moto/dynamodb/models/table.py StreamShard.add), and a
# cancelled transaction puts back a copy of the table taken before it, shard included, so it leaves no
# records. Because that copy replaces the table's shard object, a shard iterator taken earlier would keep
# reading the discarded shard: every poll asks for a new iterator after the last sequence number handled.

STREAM_RETRY_SECONDS = 0.5


def filter_patterns(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The event source mapping's FilterCriteria patterns (none: every record passes)."""
    return [json.loads(f["Pattern"]) for f in ((props.get("FilterCriteria") or {}).get("Filters") or [])]


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, for the rules this template uses: nested objects, a list of accepted exact
    values, and {"exists": true|false}. Any other rule is refused rather than guessed."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for name, rule in pattern.items():
            if isinstance(rule, list) and rule and all(isinstance(r, dict) and set(r) == {"exists"} for r in rule):
                if (name in value) != bool(rule[0]["exists"]):
                    return False
            elif isinstance(rule, list):
                if any(isinstance(r, dict) for r in rule):
                    raise ValueError(f"filter rule {rule!r} is not supported by the local stack")
                if name not in value or value[name] not in rule:
                    return False
            elif not matches(rule, value.get(name)):
                return False
        return True
    raise ValueError(f"filter pattern {pattern!r} must be an object")


def _wire(value: Any) -> Any:
    """An attribute value as Lambda's event carries it (binary as base64 text, as on the wire)."""
    import base64

    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def stream_records(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The event Lambda's DynamoDB event source mapping builds from GetRecords' records."""
    event = []
    for record in records:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        for image in ("Keys", "NewImage", "OldImage"):
            if image in dynamodb:
                dynamodb[image] = _wire(dynamodb[image])
        event.append({"eventID": record["eventID"], "eventName": record["eventName"],
                      "eventVersion": record.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb",
                      "awsRegion": record.get("awsRegion", REGION), "dynamodb": dynamodb,
                      "eventSourceARN": stream_arn})
    return {"Records": event}


def enable_stream(stack: Stack, table_logical_id: str) -> str:
    """Turn on the table's stream as template.yaml declares it (the local table is created without one) and
    return its ARN; also recorded as `<Table>.StreamArn` in the stack's physical names."""
    table = stack.physical[table_logical_id]
    spec = (template.resources()[table_logical_id].get("Properties") or {}).get("StreamSpecification")
    if not spec:
        raise LookupError(f"a function reads the stream of {table_logical_id}, which declares no StreamSpecification")
    dynamodb = _client(stack, "dynamodb")
    described = dynamodb.describe_table(TableName=table)["Table"]
    if not described.get("LatestStreamArn"):
        dynamodb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                     "StreamViewType": spec["StreamViewType"]})
        described = dynamodb.describe_table(TableName=table)["Table"]
    stack.physical[f"{table_logical_id}.StreamArn"] = described["LatestStreamArn"]
    return str(described["LatestStreamArn"])


class StreamReader:
    """One event source mapping on a table's stream: its position, its batches, its retries."""

    def __init__(self, stack: Stack, fn: template.Function, props: dict[str, Any]) -> None:
        self.stack, self.fn = stack, fn
        self.table = stack.physical[_logical_id(props.get("Stream"))]
        self.arn = enable_stream(stack, _logical_id(props.get("Stream")))
        self.batch_size = int(props.get("BatchSize", 100))
        self.patterns = filter_patterns(props)
        self.partial = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.on_failure = stack.physical[_logical_id(destination)] if destination else None
        if str(props.get("StartingPosition", "TRIM_HORIZON")) != "TRIM_HORIZON":
            _log(f"{fn.logical_id}: StartingPosition {props.get('StartingPosition')} read as TRIM_HORIZON locally")
        self.position: tuple[str, str | None] = ("TRIM_HORIZON", None)
        resume_after = stack.moto.register_reader(self.table, fn.logical_id) if stack.moto is not None else None
        if resume_after is not None:  # kept data: resume after what this reader handled before the restart
            self.position = ("AFTER_SEQUENCE_NUMBER", str(resume_after))
        self.retries = 0
        self.streams = _client(stack, "dynamodbstreams")
        self.shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def _read(self) -> list[dict[str, Any]]:
        kind, sequence = self.position
        args = {"StreamArn": self.arn, "ShardId": self.shard, "ShardIteratorType": kind}
        if sequence is not None:
            args["SequenceNumber"] = sequence
        iterator = self.streams.get_shard_iterator(**args)["ShardIterator"]
        return list(self.streams.get_records(ShardIterator=iterator, Limit=1000).get("Records", []))

    def poll_once(self) -> bool:
        """Handle the next batch; False when the stream had nothing new."""
        records = stream_records(self._read(), self.arn)["Records"]
        if not records:
            return False
        batch: list[dict[str, Any]] = []
        last = records[-1]
        for record in records:
            if not self.patterns or any(matches(p, record) for p in self.patterns):
                batch.append(record)
                if len(batch) == self.batch_size:
                    last = record
                    break
        if not batch:  # nothing here passes the filter: skip it, as Lambda does
            self._advance(last["dynamodb"]["SequenceNumber"])
            return True
        outcome = _invoke(self.stack, self.fn, {"Records": batch})
        failed: list[str] = []
        if outcome.error:
            _log(f"{self.fn.logical_id} failed on {len(batch)} stream record(s): {outcome.error_message}")
            failed = [r["dynamodb"]["SequenceNumber"] for r in batch]
        elif self.partial and isinstance(outcome.payload, dict):
            failed = [str(f.get("itemIdentifier")) for f in outcome.payload.get("batchItemFailures") or []]
        if not failed:
            self._advance(last["dynamodb"]["SequenceNumber"])
            return True
        first = min(failed, key=int)
        self.retries += 1
        if 0 <= self.max_retries < self.retries:
            self._give_up(batch, first)
            self._advance(last["dynamodb"]["SequenceNumber"])
            return True
        self.position = ("AT_SEQUENCE_NUMBER", first)  # resume from the first failed record
        time.sleep(STREAM_RETRY_SECONDS)
        return True

    def _advance(self, sequence: str) -> None:
        """Done with every record up to `sequence`: read after it next, and tell the local data store, which
        cuts the handled records from the shard and journals where a restarted stack resumes."""
        self.position, self.retries = ("AFTER_SEQUENCE_NUMBER", sequence), 0
        if self.stack.moto is not None:
            self.stack.moto.consumed(self.table, self.fn.logical_id, int(sequence))

    def _give_up(self, batch: list[dict[str, Any]], first: str) -> None:
        info = {"requestContext": {"condition": "RetryAttemptsExhausted",
                                   "functionArn": self.stack.physical.get(f"{self.fn.logical_id}.Arn", ""),
                                   "approximateInvokeCount": self.retries},
                "DDBStreamBatchInfo": {"shardId": self.shard, "startSequenceNumber": first,
                                       "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                                       "batchSize": len(batch), "streamArn": self.arn}}
        _log(f"{self.fn.logical_id} gave up on stream records {first}..{batch[-1]['dynamodb']['SequenceNumber']}")
        if self.on_failure:
            _client(self.stack, "sqs").send_message(QueueUrl=self.on_failure, MessageBody=json.dumps(info))


class StreamRelayService:
    name = "stream pollers"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stack: Stack) -> None:
        for fn, _name, props in _events("DynamoDB"):
            if props.get("Enabled") is False:
                continue
            reader = StreamReader(stack, fn, props)
            thread = threading.Thread(target=self._loop, args=(reader,), name=f"stream-{fn.logical_id}", daemon=True)
            thread.start()
            self.threads.append(thread)
            _log(f"{fn.logical_id} reads the stream of {_logical_id(props.get('Stream'))}")

    def _loop(self, reader: StreamReader) -> None:
        while not self.stopping.is_set():
            mark = _changes(reader.stack).mark()
            try:
                worked = reader.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling, as the event source mapping does
                _log(f"reading the stream for {reader.fn.logical_id} failed: {exc!r}")
                worked = False
            if not worked:
                _idle(reader.stack, mark, self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=3)


# --- the outbox --------------------------------------------------------------------------------------


def _parsed(message: Any) -> dict[str, Any]:
    """id, to, from, subject, text, html of a message moto's SES kept (raw MIME or simple)."""
    raw = getattr(message, "raw_data", None)
    if raw is None:  # SendEmail with Simple content: moto keeps one body (the HTML if there was one)
        body = str(getattr(message, "body", ""))
        is_html = body.lstrip().lower().startswith("<")
        return {"id": message.id, "to": [a for v in (message.destinations or {}).values() for a in v],
                "from": message.source, "subject": getattr(message, "subject", ""),
                "text": "" if is_html else body, "html": body if is_html else ""}
    parsed = email.message_from_string(raw, policy=email.policy.default)
    text = html = ""
    for part in parsed.walk():
        if part.get_content_maintype() == "multipart":
            continue
        if part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_content()
    to = [a.strip() for a in str(parsed.get("To", "")).split(",") if a.strip()] or list(message.destinations or [])
    return {"id": message.id, "to": to, "from": str(parsed.get("From", message.source)),
            "subject": str(parsed.get("Subject", "")), "text": text, "html": html}


class OutboxService:
    """Captures what SES accepted, as moto's process keeps it (local/moto_process.py)."""

    name = "outbox"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.emails: list[dict[str, Any]] = []
        self.seen = 0
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.gateway: Any = None
        self.moto: Any = None

    def start(self, stack: Stack) -> None:
        self.gateway, self.moto = stack.gateway, stack.moto
        assert self.moto is not None, "the outbox reads moto's SES"
        assert self.gateway is not None, "local services need the gateway"
        self.gateway.add_local_route("GET", "/_local/outbox", self._list)
        self.thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self.thread.start()
        _log(f"captured emails: {stack.url}/_local/outbox")

    def sync(self) -> list[dict[str, Any]]:
        with self.lock:
            new = self.moto.sent_messages(self.seen)
            for message in new:
                captured = {**_parsed(message), "sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                            .replace("+00:00", "Z")}
                self.emails.append(captured)
                self.gateway.add_local_route("GET", f"/_local/outbox/{captured['id']}", self._show(captured))
            self.seen += len(new)
            return list(self.emails)

    def _list(self, _request: HttpRequest) -> HttpResponse:
        return json_response(200, self.sync())

    @staticmethod
    def _show(captured: dict[str, Any]) -> Any:
        def handle(_request: HttpRequest) -> HttpResponse:
            from html import escape

            page = captured["html"] or f"<!doctype html><pre>{escape(captured['text'])}</pre>"
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())

        return handle

    def _loop(self) -> None:
        changes = self.moto.changes
        while not self.stopping.is_set():
            mark = changes.mark()
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - the outbox is a convenience; keep trying
                _log(f"outbox sync failed: {exc!r}")
            if not self.stopping.wait(POLL_INTERVAL):
                changes.wait(mark, IDLE_POLL_SECONDS, self.stopping)  # an accepted email is a change

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=2)


def services() -> list[Any]:
    """In start order, after the gateway: setup (identity, feed) before the schedules run the refresh; the
    stream is enabled before anything can write an outbox record."""
    return [RewardsSetupService(), OutboxService(), StreamRelayService(), ScheduleService(), SqsPollerService()]

