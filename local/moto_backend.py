"""moto's server on loopback: the AWS services of the local stack (DynamoDB today; SQS, SES, KMS, S3 later).

moto's WSGI app does not serialise concurrent requests, so two conditional writes could both succeed.
DynamoDB applies each request atomically (per item, and per transaction), so one lock around the whole
app makes every request atomic here too: a slower DynamoDB, never a more forgiving one.

MotoServer runs the server in a background thread of whichever process starts it: the local stack starts it
in a process of its own (local/moto_process.py), apart from the gateway, so that the gateway's Python and
moto's do not take turns on one interpreter lock; tests start it in theirs. The handlers run in other
processes (local/workers.py) and reach it over HTTP, as deployed functions reach DynamoDB.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # nosec B105  # moto's fake credentials

# Variables that would send boto3 somewhere other than the endpoint below, or to a real account
_FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                          "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


class SerialisedApp:
    """A WSGI app that lets one request at a time into the wrapped app, body included; with a store
    (local/persistence.py), every request that changed moto's state is journalled before its answer leaves."""

    def __init__(self, app: Any, store: Any = None) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.store = store
        # called after each request that changed moto's state (local/moto_process.py wakes the stack's pollers)
        self.on_change: Callable[[], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        store = self.store
        body = b""
        if store is not None:
            body = _read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        status: list[int] = [500]

        def capture_status(line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info) if exc_info else start_response(line, headers)

        with self.lock:
            changes = _changes_state(environ, body)
            if changes:
                from local import moto_queries

                moto_queries.bump()  # index maps built by earlier queries may be stale from here on
            journalled = store is not None and changes
            prepared = store.before(environ, body) if journalled else None
            result = self.app(environ, capture_status)
            try:
                answer = [bytes(chunk) for chunk in result]  # fully computed under the lock
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
            if journalled:
                store.record(environ, body, status[0], b"".join(answer), prepared)  # before the answer leaves
        if changes and self.on_change is not None:
            self.on_change()
        return answer


def _changes_state(environ: dict[str, Any], body: bytes) -> bool:
    from local.persistence import changes_state

    return changes_state(environ, body)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


class MotoServer:
    """moto's server app (all services, dispatched on the request) behind one lock, on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, store: Any = None) -> None:
        self.host = host
        self.port = port
        self.store = store  # local.persistence.Store: restored before serving, journals while serving
        self.app: SerialisedApp | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("moto server not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from local import moto_queries, moto_responses, moto_transactions

        moto_transactions.install()  # transactions that cost the items they touch, not the whole table
        moto_queries.install()       # queries that cost the partition they read, not the whole table
        moto_responses.install()     # DynamoDB answers written as JSON, not walked through botocore's shapes

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                pass  # the gateway logs each API request; one line per DynamoDB call is noise

        app = self.app = SerialisedApp(DomainDispatcherApplication(create_backend_app), self.store)
        if self.store is not None:
            with app.lock:
                self.store.restore(app.app)  # the saved state, before anyone is answered
                moto_queries.bump()
            self.store.lock = app.lock
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=QuietHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            from local import moto_queries, moto_responses

            self._server.shutdown()
            self._server.server_close()
            moto_queries.uninstall()  # its maps are kept fresh by this server's requests only
            moto_responses.uninstall()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


def aws_environment(endpoint: str | None) -> dict[str, str]:
    """What boto3 needs to talk to moto (endpoint None: in-process moto, nothing to point at)."""
    env = {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **DUMMY_CREDENTIALS}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def point_boto3_at(endpoint: str | None) -> None:
    """Put aws_environment() into os.environ and drop anything that could reach a real account."""
    for name in list(os.environ):
        if name in _FOREIGN_AWS_VARIABLES or name.startswith("AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(aws_environment(endpoint))
