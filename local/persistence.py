"""Durable local data: a snapshot of moto's state plus a journal of every AWS request that changed it since.

moto keeps everything in this process's memory. The local stack makes that memory survive a restart, and a
`kill -9` of the whole stack, like this:

- The journal. moto's server lets one request in at a time (local/moto_backend.py SerialisedApp). Under that
  lock, after moto has applied a request that changes state (anything but a read: Get*, Describe*, List*,
  Query, Scan, ReceiveMessage, Encrypt, Decrypt, ...; for S3 anything but GET/HEAD) and before its answer
  leaves, the request (method, path, query, headers, body) is appended to `data/journal-<generation>.jsonl`
  with one write(2), so it is in the kernel before the caller hears of it; a killed process loses nothing the
  kernel holds. With `--fsync` (FLEXIGIFT_LOCAL_FSYNC=1) every entry is also fdatasync'd, for a machine that
  loses power (about 3 ms per write on this disk). Requests that moto refused (4xx) changed nothing and are
  not written.
- The snapshot. moto's state (the DynamoDB, Streams, SQS, KMS, SES and S3 backends of the local account) is
  pickled to `data/snapshot.pickle` (written to a temporary file, fsync'd, renamed): right after the first
  start has provisioned its resources (before anyone is answered), whenever the journal reaches
  SNAPSHOT_EVERY entries or SNAPSHOT_BYTES (1,000 / 1 MiB: what a restart replays stays small), and at a
  clean stop. The periodic one does not hold the API up: under the lock the journal moves to its next
  generation and the process forks; the child pickles the state as it was at that instant (copy-on-write)
  while the server goes on. A snapshot of generation G holds everything journalled before G; older journals
  are deleted once it is in place. KMS key material (the reward codes' ciphertexts need it), message ids,
  stream sequence numbers and timestamps are in the snapshot as they were; locks and private keys are
  pickled as what recreates them.
- At start, before any other service: load the snapshot, then replay the journals that follow it into moto
  (in this process, through moto's own WSGI app), then serve. A journal line cut short by the kill is the
  one request nobody was answered for: it is dropped and cut from the file.

What a replay cannot reproduce, and how it is handled: a replayed SendMessage gets a new message id and
receipt handle from moto, so each SQS send is journalled with the id moto answered and the replayed message
takes that id back; a DeleteMessage is journalled as the ids of the messages it deleted (read from moto under
the lock), not the receipt handle. A DynamoDB stream's sequence numbers come from the order of the writes
(moto numbers a shard's records from its starting number), so a replay in the same order gives the same
numbers; each stream reader's progress is journalled too (`consumed`: where the reader is, and the records
every reader has handled are cut from the shard), and kept in the snapshot, so after a restart each reader (the
outbox relay, the event indexer) resumes after the last batch it finished, on the same record a retry of an
unfinished batch would start at, and the shard stays as short as the slowest reader's backlog. Items' timestamps are data written by the handlers, replayed as written. The guarantee: every request
moto answered with a success before the stack died is in moto after the restart, in the same order, once.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import pickle  # nosec B403  # our own snapshot, written by this process into a 0700 directory
import re
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from local.moto_backend import ACCOUNT_ID, REGION

SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "kms", "ses", "sesv2", "s3")
SNAPSHOT_EVERY = int(os.environ.get("FLEXIGIFT_LOCAL_SNAPSHOT_EVERY", "1000"))        # journal entries
SNAPSHOT_BYTES = int(os.environ.get("FLEXIGIFT_LOCAL_SNAPSHOT_BYTES", str(1 << 20)))  # or journal size
FSYNC_VARIABLE = "FLEXIGIFT_LOCAL_FSYNC"
CHILD_SECONDS = 300.0  # a background snapshot's child taking longer is killed (the journals keep everything)
_READS = re.compile(r"^(Get|Describe|List|Query|Scan|BatchGet|TransactGet|Receive|Encrypt|Decrypt|GenerateDataKey"
                    r"|GenerateRandom|ChangeMessageVisibility|Head)")
_ENVIRON_KEYS = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "SERVER_NAME", "SERVER_PORT",
                 "wsgi.url_scheme", "REQUEST_URI", "RAW_URI", "SCRIPT_NAME")


def _log(message: str) -> None:
    print(f"[local] {message}", file=sys.stderr, flush=True)


# --- pickling moto's backends ------------------------------------------------------------------------------


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, None)


class _Pickler(pickle.Pickler):
    """Pickles what moto holds that pickle cannot: locks (a fresh one) and private keys (as PKCS#8 PEM)."""

    _locks: dict[type, Callable[[], Any]] = {type(threading.Lock()): threading.Lock,
                                             type(threading.RLock()): threading.RLock}

    def reducer_override(self, obj: Any) -> Any:
        factory = self._locks.get(type(obj))
        if factory is not None:
            return factory, ()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            pem = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _load_private_key, (pem,)
        return NotImplemented


def _preload() -> None:
    """Import, in the parent, all that pickling will need: a forked child must never wait on the import lock."""
    from cryptography.hazmat.primitives import serialization  # noqa: F401
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: F401

    for service in SERVICES:
        _backends(service)


def _backends(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def capture() -> dict[str, Any]:
    """The local account's backends of every persisted service (regions that were used)."""
    return {service: dict(_backends(service)[ACCOUNT_ID]) for service in SERVICES}


def install(captured: dict[str, Any]) -> None:
    for service, regions in captured.items():
        account = _backends(service)[ACCOUNT_ID]
        for region, backend in regions.items():
            account[region] = backend


# --- what a request is ---------------------------------------------------------------------------------


def _action(environ: dict[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def changes_state(environ: dict[str, Any], body: bytes) -> bool:
    action = _action(environ, body)
    if action is None:  # a REST API (S3): what is not a read is a write
        return str(environ.get("REQUEST_METHOD", "GET")).upper() not in ("GET", "HEAD", "OPTIONS")
    return _READS.match(action) is None


def _queue(environ: dict[str, Any], body: bytes) -> Any:
    """moto's SQS queue a request names (QueueUrl in a JSON or a query-protocol body)."""
    from moto.sqs.models import sqs_backends

    try:
        url = json.loads(body).get("QueueUrl")
    except ValueError:
        url = (parse_qs(body.decode("utf-8", "replace")).get("QueueUrl") or [None])[0]
    if not url:
        return None
    return sqs_backends[ACCOUNT_ID][REGION].queues.get(str(url).rstrip("/").rsplit("/", 1)[-1])


def _receipt_handles(action: str, body: bytes) -> list[str]:
    try:
        request = json.loads(body)
    except ValueError:
        form = parse_qs(body.decode("utf-8", "replace"))
        return [v[0] for k, v in form.items() if k == "ReceiptHandle" or k.endswith(".ReceiptHandle")]
    if action == "DeleteMessage":
        return [str(request.get("ReceiptHandle", ""))]
    return [str(entry.get("ReceiptHandle", "")) for entry in request.get("Entries") or []]


def _message_ids(answer: bytes) -> list[str]:
    """The MessageId(s) moto answered to SendMessage / SendMessageBatch (JSON or XML protocol)."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return re.findall(r"<MessageId>([^<]+)</MessageId>", answer.decode("utf-8", "replace"))
    if "MessageId" in parsed:
        return [str(parsed["MessageId"])]
    return [str(entry["MessageId"]) for entry in parsed.get("Successful") or []]


# --- the store -----------------------------------------------------------------------------------------


class Store:
    """The snapshot and journal in `<state dir>/data/`; record() and snapshot() run under moto's lock."""

    def __init__(self, directory: Path, fsync: bool | None = None) -> None:
        self.directory = directory
        self.fsync = os.environ.get(FSYNC_VARIABLE, "") not in ("", "0") if fsync is None else fsync
        self.generation = 0
        self.entries = 0
        self.journal_bytes = 0
        self._fd: int | None = None
        self.lock: Any = None           # moto's request lock, set by the server
        self.app: Any = None            # moto's WSGI app (inside the lock)
        self.consumers: dict[tuple[str, str], int] = {}
        self.restored = False
        self.replayed = 0

    changes_state = staticmethod(changes_state)

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "snapshot.pickle"

    def journal_path(self, generation: int) -> Path:
        return self.directory / f"journal-{generation}.jsonl"

    def has_data(self) -> bool:
        return self.snapshot_path.exists() or any(self.directory.glob("journal-*.jsonl"))

    @staticmethod
    def wipe(directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    # -- start: load and replay ---------------------------------------------------------------------------

    def _generations(self) -> list[int]:
        return sorted(int(p.stem.split("-", 1)[1]) for p in self.directory.glob("journal-*.jsonl"))

    def restore(self, app: Any) -> None:
        """Load the snapshot and replay the journals that follow it into moto (before the server answers
        anyone). The snapshot of generation G holds everything journalled in generations below G."""
        self.app = app
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _preload()
        started = time.perf_counter()
        gc.disable()  # hundreds of thousands of new objects: no collections while they are made
        try:
            if self.snapshot_path.exists():
                with self.snapshot_path.open("rb") as handle:
                    saved = pickle.load(handle)  # noqa: S301  # nosec B301  # written by this module, 0700 directory
                install(saved["backends"])
                self.generation = int(saved["generation"])
                self.consumers = {(t, r): int(upto) for t, r, upto in saved.get("consumers", [])}
                self.restored = True
            for generation in self._generations():
                journal = self.journal_path(generation)
                if generation < self.generation:
                    journal.unlink()  # already in the snapshot
                    continue
                self.restored = True
                self.replayed += self._replay(journal)
                self.generation = generation
        finally:
            gc.enable()
            gc.freeze()  # what was loaded stays: later collections need not walk it again
        journal = self.journal_path(self.generation)
        self._fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.entries = self.replayed
        self.journal_bytes = journal.stat().st_size
        if self.restored:
            _log(f"restored the local data from {self.directory} ({self.replayed} journalled request(s) replayed) "
                 f"in {time.perf_counter() - started:.1f}s")

    def _replay(self, journal: Path) -> int:
        replayed = complete = 0
        with journal.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    _log(f"{journal.name}: dropped an unfinished last entry (its request was never answered)")
                    os.truncate(journal, complete)  # the next entry must start on a line of its own
                    break
                complete += len(line)
                entry = json.loads(line)
                kind = entry.get("kind", "request")
                if kind == "request":
                    self._replay_request(entry)
                elif kind == "sqs-delete":
                    self._delete_messages(entry["queue"], entry["ids"])
                elif kind == "consumed":  # where a reader is (older entries: only the cut)
                    if "reader" in entry:
                        self.consumers[(entry["table"], entry["reader"])] = int(entry["position"])
                    if entry.get("upto") is not None:
                        self._trim(entry["table"], int(entry["upto"]))
                replayed += 1
        return replayed

    def _replay_request(self, entry: dict[str, Any]) -> None:
        body = base64.b64decode(entry["body"])
        environ = {**entry["environ"], "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
                   "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
                   "wsgi.run_once": False, "wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(body)),
                   "REMOTE_ADDR": "127.0.0.1"}
        answer = b"".join(_call(self.app, environ)[1])
        original = entry.get("message_ids")
        if original:  # the replayed messages take back the ids the callers were given
            queue = _queue(environ, body)
            renamed = dict(zip(_message_ids(answer), original, strict=False))
            for message in getattr(queue, "_messages", []):
                if message.id in renamed:
                    message.id = renamed[message.id]

    # -- while serving ------------------------------------------------------------------------------------

    def before(self, environ: dict[str, Any], body: bytes) -> dict[str, Any] | None:
        """What must be read from moto before a request runs (the messages a DeleteMessage names)."""
        action = _action(environ, body)
        if action in ("DeleteMessage", "DeleteMessageBatch"):
            queue = _queue(environ, body)
            handles = set(_receipt_handles(action, body))
            ids = [m.id for m in getattr(queue, "_messages", []) if any(m.had_receipt_handle(h) for h in handles)]
            return {"kind": "sqs-delete", "queue": getattr(queue, "name", ""), "ids": ids}
        return None

    def record(self, environ: dict[str, Any], body: bytes, status: int, answer: bytes,
               prepared: dict[str, Any] | None) -> None:
        """Journal a request moto has applied, before its answer leaves (called under moto's lock)."""
        if status >= 400 and status < 500:
            return  # refused: nothing changed
        if prepared is not None:
            if prepared["ids"]:
                self._append(prepared)
            return
        entry: dict[str, Any] = {"environ": {k: environ[k] for k in environ
                                             if k.startswith("HTTP_") or k in _ENVIRON_KEYS},
                                 "body": base64.b64encode(body).decode()}
        action = _action(environ, body)
        if action in ("SendMessage", "SendMessageBatch"):
            entry["message_ids"] = _message_ids(answer)
        self._append(entry)

    def _append(self, entry: dict[str, Any]) -> None:
        assert self._fd is not None, "the store is not open"
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        os.write(self._fd, line)
        if self.fsync:
            os.fdatasync(self._fd)
        self.entries += 1
        self.journal_bytes += len(line)

    def due(self) -> bool:
        return self.entries >= SNAPSHOT_EVERY or self.journal_bytes >= SNAPSHOT_BYTES

    def _rotate(self) -> int:
        """Start the next journal generation; the snapshot being made is that generation's."""
        if self._fd is not None:
            os.close(self._fd)
        self.generation += 1
        self._fd = os.open(self.journal_path(self.generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.entries = self.journal_bytes = 0
        return self.generation

    def _write_snapshot(self, generation: int, captured: dict[str, Any], consumers: list[list[Any]]) -> None:
        temporary = self.directory / f".snapshot.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            _Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump({"generation": generation,
                                                                     "backends": captured,
                                                                     "consumers": consumers})
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.snapshot_path)
        _fsync_directory(self.directory)

    def _drop_journals_before(self, generation: int) -> None:
        for older in self._generations():
            if older < generation:
                self.journal_path(older).unlink(missing_ok=True)

    def snapshot(self) -> None:
        """Pickle moto's state here and now and start the next journal generation (under moto's lock)."""
        started = time.perf_counter()
        generation = self._rotate()
        self._write_snapshot(generation, capture(), self._consumer_positions())
        self._drop_journals_before(generation)
        elapsed = time.perf_counter() - started
        if elapsed > 0.5:
            _log(f"local data snapshot written in {elapsed:.1f}s")

    def snapshot_now(self) -> None:
        assert self.lock is not None, "the store is not serving"
        with self.lock:
            self.snapshot()

    def snapshot_in_background(self) -> None:
        """The same snapshot without holding the API up while it is written: under the lock the journal moves
        to the next generation and the process forks (the child's memory is moto's state at that instant,
        copy-on-write); the child pickles and writes it while the server goes on journalling into the new
        generation. Until the child has renamed its file into place, a restart uses the previous snapshot and
        replays both journals."""
        assert self.lock is not None, "the store is not serving"
        with self.lock:
            generation = self._rotate()
            captured = capture()  # here: moto's backend registry takes a lock another thread may hold
            consumers = self._consumer_positions()
            with warnings.catch_warnings():
                # the child touches no lock another thread could hold: what it imports was imported first
                # (_preload), it prints nothing and leaves with os._exit
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: no locks, no printing; write and leave
                code = 1
                try:
                    self._write_snapshot(generation, captured, consumers)
                    code = 0
                finally:
                    os._exit(code)
        deadline = time.monotonic() + CHILD_SECONDS
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:  # stuck: the journals still hold everything; try again later
                os.kill(pid, 9)
                _done, status = os.waitpid(pid, 0)
                break
            time.sleep(0.05)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self._drop_journals_before(generation)
        else:
            _log(f"local data snapshot {generation} failed in its child process; the journals keep everything")

    def start_compactor(self, interval: float = 1.0) -> None:
        """A thread that writes a snapshot (and so drops the journal) once SNAPSHOT_EVERY entries are in it, so
        that a restart replays at most that many requests."""
        self._stopping = threading.Event()

        def loop() -> None:
            while not self._stopping.wait(interval):
                if self.due():
                    try:
                        self.snapshot_in_background()
                    except Exception as exc:  # noqa: BLE001 - the journal still holds everything; retry later
                        _log(f"local data snapshot failed: {exc!r}")

        self._compactor = threading.Thread(target=loop, name="snapshots", daemon=True)
        self._compactor.start()

    def stop_compactor(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()
            self._compactor.join(timeout=30)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- DynamoDB stream progress ---------------------------------------------------------------------------

    def _consumer_positions(self) -> list[list[Any]]:
        return [[table, reader, upto] for (table, reader), upto in sorted(self.consumers.items())]

    def register_reader(self, table: str, reader: str) -> int:
        """A stream reader starts: the sequence number up to which it has handled `table`'s stream (it resumes
        after it). A reader the data has not seen yet starts at the shard's oldest record kept. Registered
        before it handles anything, so that no other reader's progress cuts records it has yet to read."""
        assert self.lock is not None, "the store is not serving"
        with self.lock:
            shard = self._shard(table)
            oldest_kept = (shard.starting_sequence_number - 1) if shard is not None else 0
            position = max(self.consumers.get((table, reader), oldest_kept), oldest_kept)
            self.consumers[(table, reader)] = position
            return position

    def consumed(self, table: str, reader: str, upto: int) -> None:
        """A stream reader has handled every record of `table`'s stream up to sequence number `upto`: that is
        journalled (where this reader resumes after a restart), and records that every reader has handled are
        cut from the shard."""
        assert self.lock is not None, "the store is not serving"
        with self.lock:
            position = max(upto, self.consumers.get((table, reader), 0))
            self.consumers[(table, reader)] = position
            lowest = min(v for (t, _r), v in self.consumers.items() if t == table)
            trimmed = self._trim(table, lowest)
            self._append({"kind": "consumed", "table": table, "reader": reader, "position": position,
                          "upto": lowest if trimmed else None})

    @staticmethod
    def _shard(table_name: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[ACCOUNT_ID][REGION].tables.get(table_name)
        return getattr(table, "stream_shard", None)

    @staticmethod
    def _trim(table_name: str, upto: int) -> bool:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[ACCOUNT_ID][REGION].tables.get(table_name)
        shard = getattr(table, "stream_shard", None)
        if shard is None:
            return False
        cut = upto + 1 - shard.starting_sequence_number
        if cut <= 0:
            return False
        cut = min(cut, len(shard.items))
        del shard.items[:cut]
        shard.starting_sequence_number += cut
        return True

    @staticmethod
    def _delete_messages(queue_name: str, ids: list[str]) -> None:
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(queue_name)
        if queue is None:
            return
        gone = set(ids)
        queue._messages = [m for m in queue._messages if m.id not in gone]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _call(app: Any, environ: dict[str, Any]) -> tuple[int, list[bytes]]:
    """Run a WSGI app to the end: (status, body chunks)."""
    status: list[int] = [500]

    def start_response(line: str, _headers: Any, _exc_info: Any = None) -> Callable[[bytes], None]:
        status[0] = int(line.split(" ", 1)[0])
        return lambda _data: None

    result: Iterable[bytes] = app(environ, start_response)
    try:
        chunks = [bytes(chunk) for chunk in result]
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return status[0], chunks
