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
- OutboxService: the emails SES accepted, at `GET /_local/outbox` (JSON, oldest first: id, to, from,
  subject, text, html, sent_at) and `GET /_local/outbox/<id>` (the HTML, to look at in a browser).
- `GET /_local/aws`: moto's endpoint and the physical names of the template's resources, for tools and
  tests that want to talk to the local AWS services directly.

All of them read what they need (events, queues, rates, batch sizes) from template.yaml.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import sys
import threading
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from local import template
from local.gateway import HttpRequest, HttpResponse, json_response
from local.moto_backend import ACCOUNT_ID, REGION

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
            "physical": stack.physical}))

    def stop(self) -> None:
        pass


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
            try:
                worked = self._poll_once(stack, sqs, fn, source)
            except Exception as exc:  # noqa: BLE001 - keep polling, as the event source mapping does
                _log(f"polling for {fn.logical_id} failed: {exc!r}")
                worked = False
            if not worked:
                self.stopping.wait(POLL_INTERVAL)

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
    """Captures what SES accepted. moto keeps the messages in this process (its server runs here)."""

    name = "outbox"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.emails: list[dict[str, Any]] = []
        self.seen = 0
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.gateway: Any = None

    def start(self, stack: Stack) -> None:
        self.gateway = stack.gateway
        assert self.gateway is not None, "local services need the gateway"
        self.gateway.add_local_route("GET", "/_local/outbox", self._list)
        self.thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self.thread.start()
        _log(f"captured emails: {stack.url}/_local/outbox")

    @staticmethod
    def _sent() -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[ACCOUNT_ID][REGION].sent_messages)

    def sync(self) -> list[dict[str, Any]]:
        with self.lock:
            sent = self._sent()
            for message in sent[self.seen:]:
                captured = {**_parsed(message), "sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                            .replace("+00:00", "Z")}
                self.emails.append(captured)
                self.gateway.add_local_route("GET", f"/_local/outbox/{captured['id']}", self._show(captured))
            self.seen = len(sent)
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
        while not self.stopping.wait(POLL_INTERVAL):
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - the outbox is a convenience; keep trying
                _log(f"outbox sync failed: {exc!r}")

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=2)


def services() -> list[Any]:
    """In start order, after the gateway: setup (identity, feed) before the schedules run the refresh."""
    return [RewardsSetupService(), OutboxService(), ScheduleService(), SqsPollerService()]

