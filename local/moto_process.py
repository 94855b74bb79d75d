"""moto's server (local/moto_backend.py) in a process of its own: `python -m local.moto_process`, started by
the stack (MotoProcess) and stopped by it.

Why a process: moto's work is Python under one lock, and the gateway's (parsing HTTP, building events, the
pipes to the Lambda workers) is Python too. In one process they took turns on one interpreter lock, so every
API request paid for its gateway work inside moto's process, on moto's time; apart, each has a core's worth of
interpreter, and moto's process does what the raw figure's moto does (bench d).

Everything that reads or changes moto's memory runs in this process: the restore before it serves, the journal
(written under moto's lock before an answer leaves, as before), the snapshots and their compactor, the stream
relay's trimming (`consumed`), and the reading of the emails SES accepted. The stack asks for those over a
control connection (a socketpair inherited as a file descriptor), one request and one answer at a time:

    ("serving",)                     the stack is up: first snapshot if due, then the compactor
    ("register_reader", table, reader)  local/persistence.py Store.register_reader (None without kept data)
    ("consumed", table, reader, upto) local/persistence.py Store.consumed
    ("sent", since)                  SES's sent messages from index `since` (moto's own objects, pickled)
    ("stop",)                        a clean stop: the last snapshot, then exit

A second connection carries one byte each time a request changed moto's state (a write to the table, a message
sent, an email accepted...): the stack's pollers (the queues' and the stream's event source mappings, the outbox)
sleep on it (Changes) instead of asking moto every 0.2 s for nothing. Under a read-only load, or none, they
ask about once a second (IDLE_POLL_SECONDS: a message whose visibility timeout runs out appears without a write).

If the stack dies (kill -9 of its process alone), the control connection reaches end of file and this process
exits at once, as the whole stack would have: every acknowledged write is already in the journal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # nosec B404  # starts only our own interpreter with our own module
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local.moto_backend import ACCOUNT_ID, REGION

START_TIMEOUT_SECONDS = 600.0  # a restore of a large snapshot takes seconds; a stuck one is given up on
IDLE_POLL_SECONDS = 1.0  # a poller that found nothing asks again after a change, or after this long without one


class Changes:
    """How many times moto's state has changed, as far as the stack has heard: a poller takes a mark before it
    polls and, if it found nothing, waits until the count moves past the mark (or a timeout, or a stop)."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def mark(self) -> int:
        return self.count

    def heard(self, n: int) -> None:
        with self._cond:
            self.count += n
            self._cond.notify_all()

    def wait(self, mark: int, timeout: float, stopping: threading.Event) -> None:
        """Until a change after `mark`, `timeout` seconds, or `stopping` (checked every 0.2 s)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.count == mark and not stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.2))

    def listen(self, sock: socket.socket) -> None:
        """Count the bytes moto's process sends, until it closes its end (a daemon thread's loop)."""
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.heard(1)  # wake everyone one last time: they see moto gone when they poll
                return
            self.heard(len(data))


class MotoProcessFailed(RuntimeError):
    """moto's process exited, failed to start, or refused a control request; the message says which."""


class MotoProcess:
    """The stack's handle on moto's process: its endpoint, whether it restored saved data, and the control
    requests above. `directory` None keeps nothing (--in-memory)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.endpoint = ""
        self.restored = False
        self.process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one request in flight on the control connection
        self.changes = Changes()

    @property
    def persist(self) -> bool:
        return self.directory is not None

    def start(self) -> None:
        from local.template import ROOT

        ours, theirs = socket.socketpair()
        heard, told = socket.socketpair()
        try:
            self.process = subprocess.Popen(  # noqa: S603 # nosec B603  # our own interpreter and module
                [sys.executable, "-m", "local.moto_process", str(theirs.fileno()), str(told.fileno()),
                 str(self.directory or "")],
                cwd=ROOT, pass_fds=(theirs.fileno(), told.fileno()))
        finally:
            theirs.close()
            told.close()
        self._conn = Connection(ours.detach())
        threading.Thread(target=self.changes.listen, args=(heard,), name="moto-changes", daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._conn.poll(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise MotoProcessFailed(f"moto's process did not start (exit code {self.process.returncode})")
        answer = self._receive()
        self.endpoint, self.restored = answer["endpoint"], answer["restored"]

    def request(self, *message: Any) -> Any:
        with self._lock:
            if self._conn is None:
                raise MotoProcessFailed("moto's process is not running")
            try:
                self._conn.send(message)
                return self._receive()
            except (EOFError, OSError) as exc:
                raise MotoProcessFailed(f"moto's process went away ({exc!r})") from None

    def _receive(self) -> Any:
        assert self._conn is not None
        status, value = self._conn.recv()
        if status != "ok":
            raise MotoProcessFailed(str(value))
        return value

    def serving(self) -> None:
        """Every service is up: snapshot now if there is none yet (the first start's KMS keys before any use)
        or the journal is due, then keep snapshotting in the background."""
        if self.persist:
            self.request("serving")

    def register_reader(self, table: str, reader: str) -> int | None:
        """A stream reader starts: the sequence number it resumes after, with kept data (None without)."""
        return self.request("register_reader", table, reader) if self.persist else None

    def consumed(self, table: str, reader: str, upto: int) -> None:
        if self.persist:
            self.request("consumed", table, reader, upto)

    def sent_messages(self, since: int) -> list[Any]:
        return list(self.request("sent", since))

    def stop(self, timeout: float = 60.0) -> None:
        """A clean stop (the last snapshot, so the next start replays nothing); killed if it does not end."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                self.request("stop")
            except MotoProcessFailed as exc:
                print(f"[local] stopping moto: {exc}", file=sys.stderr, flush=True)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.process = None


# --- the process itself -----------------------------------------------------------------------------------


def _serve(conn: Connection, changes: socket.socket, directory: Path | None) -> None:
    from local import persistence
    from local.moto_backend import MotoServer

    store = persistence.Store(directory) if directory is not None else None
    server = MotoServer(store=store)
    try:
        server.start()  # restores the saved state (if any) before it listens
    except Exception as exc:
        conn.send(("failed", f"moto did not start: {exc!r}"))
        raise
    changes.setblocking(False)

    def changed() -> None:
        try:
            changes.send(b".")
        except (BlockingIOError, InterruptedError):
            pass  # the stack has bytes it has not read yet: it will wake anyway
        except OSError:
            pass  # the stack is gone; the control connection tells the main loop

    assert server.app is not None
    server.app.on_change = changed
    conn.send(("ok", {"endpoint": server.endpoint, "restored": bool(store and store.restored)}))

    def stop() -> None:
        if store is not None:
            store.stop_compactor()
            store.snapshot_now()  # a quick start next time: nothing to replay
        server.stop()
        if store is not None:
            store.close()

    def serving() -> None:
        if store is not None:
            if not store.snapshot_path.exists() or store.due():
                store.snapshot_now()
            store.start_compactor()

    def register_reader(table: str, reader: str) -> int | None:
        return store.register_reader(table, reader) if store is not None else None

    def consumed(table: str, reader: str, upto: int) -> None:
        if store is not None:
            store.consumed(table, reader, upto)

    def sent(since: int) -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[ACCOUNT_ID][REGION].sent_messages[since:])

    operations = {"serving": serving, "register_reader": register_reader, "consumed": consumed, "sent": sent,
                  "stop": stop}
    while True:
        try:
            operation, *arguments = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the stack is gone without stopping us: go with it (the journal holds every write)
        try:
            result = operations[operation](*arguments)
        except Exception as exc:  # noqa: BLE001 - the stack hears of it; moto goes on serving
            conn.send(("failed", f"{operation}: {exc!r}"))
            continue
        conn.send(("ok", result))
        if operation == "stop":
            return


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the stack stops us
    conn = Connection(int(argv[0]))
    changes = socket.socket(fileno=int(argv[1]))
    _serve(conn, changes, Path(argv[2]) if argv[2] else None)
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
