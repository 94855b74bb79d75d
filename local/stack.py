"""The whole API on http://127.0.0.1:PORT without Docker: `python -m local.stack --port 3000` (`make run`).

The stack is a list of services started in order and stopped in reverse: moto (the AWS services, in a
process of its own: local/moto_process.py), the template's resources (the table, ...), the functions' environment, the bootstrap API key, the Lambda
workers, the gateway, and the state file that the other local tools read. A later service (a queue
poller feeding a worker function, a schedule runner, a captured-email outbox at /_local/outbox) is one
more entry in that list: it gets the Stack in start() and may use its worker pool, its gateway
(add_local_route), its AWS endpoint and the physical names of the template's resources.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from local import lambda_runtime, persistence, resources, rewards_services, state, template
from local.docs import DocsService
from local.gateway import Gateway, GatewayServer, make_server
from local.moto_backend import point_boto3_at
from local.moto_process import MotoProcess
from local.workers import FUNCTION_LOG_VARIABLE, WorkerPool

DEFAULT_TABLE = resources.DEFAULT_TABLE
STAGE_PARAMETERS = {"StageName": "local"}


class Service(Protocol):
    name: str

    def start(self, stack: Stack) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Stack:
    host: str = "127.0.0.1"
    port: int = 3000
    table_name: str = DEFAULT_TABLE
    workers: int = 4
    state_path: Path = field(default_factory=state.state_file)
    parameters: dict[str, str] = field(default_factory=lambda: dict(STAGE_PARAMETERS))
    api_key: str = ""
    api_key_generated: bool = False
    show_logs: bool = False             # the functions' JSON logs on the terminal, not in <state dir>/logs/
    fresh: bool = False                 # start with empty local data (the saved data is deleted)
    persist: bool = True                # keep the data in <state dir>/data across restarts
    # filled in by the services as they start
    aws_endpoint: str = ""
    physical: dict[str, str] = field(default_factory=dict)   # logical id (and id.Attribute) -> local value
    environment: dict[str, str] = field(default_factory=dict)
    pool: WorkerPool | None = None
    moto: MotoProcess | None = None
    function_log: Path | None = None
    gateway: Gateway | None = None
    url: str = ""
    services: list[Service] = field(default_factory=list)
    _started: list[Service] = field(default_factory=list)

    def start(self) -> None:
        try:
            for service in self.services:
                began = time.perf_counter()
                service.start(self)
                self._started.append(service)
                if time.perf_counter() - began > 1.0:
                    print(f"[local] {service.name} took {time.perf_counter() - began:.1f}s to start", file=sys.stderr,
                          flush=True)
            if self.moto is not None:
                self.moto.serving()  # the first start's KMS keys are in a snapshot before any use
            if self.gateway is not None:
                self.gateway.ready.set()  # /_local/health answers 200 from now on
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"[local] stopping {service.name} failed: {exc!r}", file=sys.stderr, flush=True)


# --- services ----------------------------------------------------------------------------------------


class MotoService:
    """moto on loopback, in a process of its own (local/moto_process.py); with persistence, its state restored
    from <state dir>/data before it answers anyone, journalled while it serves, and snapshotted at a clean stop
    (local/persistence.py)."""

    name = "moto"

    def __init__(self) -> None:
        self.moto: MotoProcess | None = None

    def start(self, stack: Stack) -> None:
        directory = None
        if stack.persist:
            directory = data_directory(stack)
            if stack.fresh:
                persistence.Store.wipe(directory)
        self.moto = stack.moto = MotoProcess(directory)
        self.moto.start()
        stack.aws_endpoint = self.moto.endpoint
        point_boto3_at(stack.aws_endpoint)

    def stop(self) -> None:
        if self.moto is not None:
            self.moto.stop()  # its last snapshot: a quick start next time, nothing to replay


def data_directory(stack: Stack) -> Path:
    return stack.state_path.parent / "data"


class ResourcesService:
    """The template's tables, buckets, queues and KMS keys, created in moto."""

    name = "resources"

    def start(self, stack: Stack) -> None:
        stack.physical = resources.provision(stack.table_name, endpoint=stack.aws_endpoint)

    def stop(self) -> None:
        pass  # they live in moto's memory and go with it


class FunctionEnvironmentService:
    """The union of every function's resolved Environment, in os.environ (workers inherit it)."""

    name = "environment"

    def start(self, stack: Stack) -> None:
        functions = list(template.functions().values())
        for warning in lambda_runtime.check_code(functions):
            print(f"[local] warning: {warning}", file=sys.stderr, flush=True)
        stack.environment = lambda_runtime.union_environment(functions, stack.physical, stack.parameters)
        lambda_runtime.apply_environment(stack.environment)
        os.environ["PYTHONUNBUFFERED"] = "1"  # worker output appears as it happens
        # local only: webhooks may go to http://127.0.0.1 (a developer's own receiver), and their retry schedule
        # runs in seconds instead of minutes (30 s, 1 min ... 1 h -> 0.5 s, 1 s ... 60 s; 24 h -> 24 min)
        os.environ.setdefault("FLEXIGIFT_WEBHOOK_ALLOW_LOOPBACK", "1")
        os.environ.setdefault("FLEXIGIFT_WEBHOOK_RETRY_SCALE", str(1 / 60))
        os.environ.pop(FUNCTION_LOG_VARIABLE, None)
        if not stack.show_logs:
            logs = stack.state_path.parent / "logs"
            logs.mkdir(mode=0o700, parents=True, exist_ok=True)
            stack.function_log = logs / "functions.log"
            os.environ[FUNCTION_LOG_VARIABLE] = str(stack.function_log)  # the workers write there
        lambda_runtime.prepare_process(functions)

    def stop(self) -> None:
        pass


class BootstrapKeyService:
    """Registers the stack's bootstrap key as the platform's operator key (every scope in the `default`
    program; it alone creates programs and keys for other programs: logic.api_keys.ensure_key), so that the
    first real keys and programs can be made through the API."""

    name = "bootstrap key"

    def start(self, stack: Stack) -> None:
        from flexigift.aws import reset_clients
        from flexigift.logic.api_keys import KEY_PREFIX, ensure_key

        saved = data_directory(stack) / "operator-key" if stack.persist else None
        if not stack.api_key:
            stack.api_key = os.environ.get("FLEXIGIFT_API_KEY") or ""
        if not stack.api_key and saved is not None and stack.moto is not None and stack.moto.restored:
            try:
                stack.api_key = saved.read_text().strip()  # the same operator key as before the restart
                stack.api_key_generated = bool(stack.api_key)
            except OSError:
                pass
        if not stack.api_key:
            stack.api_key = KEY_PREFIX + secrets.token_urlsafe(32)
            stack.api_key_generated = True
            if saved is not None:
                fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(stack.api_key + "\n")
        reset_clients()
        ensure_key(stack.api_key, "bootstrap")

    def stop(self) -> None:
        pass


class WorkerPoolService:
    name = "lambda workers"

    def start(self, stack: Stack) -> None:
        stack.pool = WorkerPool(size=stack.workers, warm=min(2, stack.workers))
        stack.pool.start()

    def stop(self) -> None:
        pass  # stopped by the stack after the gateway (see GatewayService.stop)


class GatewayService:
    name = "gateway"

    def __init__(self) -> None:
        self.server: GatewayServer | None = None
        self.thread: threading.Thread | None = None
        self.pool: WorkerPool | None = None

    def start(self, stack: Stack) -> None:
        assert stack.pool is not None, "the gateway needs the worker pool"
        self.pool = stack.pool
        stack.gateway = Gateway(stack.pool, parameters=stack.parameters)
        try:
            self.server = make_server(stack.gateway, stack.host, stack.port)
        except OSError as exc:
            raise SystemExit(f"cannot listen on {stack.host}:{stack.port}: {exc.strerror or exc} "
                             "(another `make run`? try PORT=3001)") from None
        stack.port = self.server.server_port
        stack.url = f"http://{stack.host}:{stack.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="gateway", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.pool is not None:
            self.pool.stop()


class StateFileService:
    name = "state file"

    def __init__(self) -> None:
        self.path: Path | None = None

    def start(self, stack: Stack) -> None:
        self.path = stack.state_path
        state.write(self.path, {"pid": os.getpid(), "url": stack.url, "port": stack.port,
                                "moto_endpoint": stack.aws_endpoint, "table_name": stack.table_name,
                                "physical": stack.physical, "api_key": stack.api_key})

    def stop(self) -> None:
        if self.path is not None:
            state.remove_if_ours(self.path, os.getpid())


def default_services() -> list[Service]:
    return [MotoService(), ResourcesService(), FunctionEnvironmentService(), BootstrapKeyService(),
            WorkerPoolService(), GatewayService(), DocsService(), *rewards_services.services(), StateFileService()]


# --- command line ----------------------------------------------------------------------------------


def _banner(stack: Stack) -> str:
    key = stack.api_key if stack.api_key_generated else "(from FLEXIGIFT_API_KEY)"
    return "\n".join([
        "Flexigift local stack (no Docker): the handlers of template.yaml behind a local API Gateway",
        f"  API:    {stack.url}",
        f"  AWS:    moto at {stack.aws_endpoint}, table {stack.table_name}",
        f"  Bootstrap API key (the operator key): {key}",
        f"  Try:    curl -H \"Authorization: {stack.api_key if stack.api_key_generated else '$FLEXIGIFT_API_KEY'}\" "
        f"{stack.url}/users",
        f"  Docs:   {stack.url}/docs   Emails sent: {stack.url}/_local/outbox",
        _data_line(stack),
        f"  Logs:   one line per request here; the functions' JSON logs in {stack.function_log} "
        "(`make run LOGS=1` shows them here)" if stack.function_log else "  Logs:   the functions' JSON logs below",
        "",
    ])


def _data_line(stack: Stack) -> str:
    if stack.moto is None or stack.moto.directory is None:
        return "  Data:   in memory only (--in-memory): Ctrl-C or a crash loses it"
    restored = "restored from" if stack.moto.restored else "kept in"
    return (f"  Data:   {restored} {stack.moto.directory} (survives Ctrl-C and kill -9; "
            "`make run FRESH=1` or `make reset` starts empty)")


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                             "(another `make run`? try PORT=3001)") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")),
                        help="gateway port (default: $PORT or 3000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    parser.add_argument("--table-name", default=DEFAULT_TABLE)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("FLEXIGIFT_LOCAL_WORKERS", "4")),
                        help="most concurrent invocations (Lambda execution environments)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="the template's LogLevel parameter (POWERTOOLS_LOG_LEVEL)")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override a template parameter, as `sam deploy --parameter-overrides` does "
                             "(e.g. AuthorizerCacheSeconds=0: every request authorized afresh); repeatable")
    parser.add_argument("--state-dir", help=f"where to write state.json (default: ${state.STATE_DIR_VARIABLE} "
                                            "or .local-stack/)")
    parser.add_argument("--show-logs", action="store_true",
                        help="the functions' JSON logs on the terminal too (default: <state dir>/logs/functions.log; "
                             "`make run LOGS=1`)")
    parser.add_argument("--fresh", action="store_true",
                        help="start with empty local data: delete what earlier runs saved (`make run FRESH=1`)")
    parser.add_argument("--in-memory", action="store_true",
                        help="keep nothing: the data lives in memory and goes with the stack")
    parser.add_argument("--fsync", action="store_true",
                        help=f"fdatasync every journalled write (survives power loss; ${persistence.FSYNC_VARIABLE}=1)")
    parser.add_argument("--reset", action="store_true",
                        help="delete the saved local data and logs, then exit (`make reset`; not while a stack runs)")
    args = parser.parse_args(argv)
    if args.reset:
        path = state.state_file(args.state_dir)
        if state.running_stack(path):
            print(f"a local stack is running on this state directory ({path.parent}): stop it first", file=sys.stderr)
            return 1
        for name in ("data", "logs"):
            persistence.Store.wipe(path.parent / name)
        print(f"local data deleted from {path.parent}: the next `make run` starts empty")
        return 0
    if args.fsync:
        os.environ[persistence.FSYNC_VARIABLE] = "1"

    stack = Stack(host=args.host, port=args.port, table_name=args.table_name, workers=args.workers,
                  state_path=state.state_file(args.state_dir), services=default_services(),
                  fresh=args.fresh, persist=not args.in_memory, show_logs=args.show_logs)
    declared = template.load().get("Parameters", {})
    for override in args.parameter:
        name, equals, value = override.partition("=")
        if not equals or name not in declared:
            print(f"[local] --parameter {override}: expected NAME=VALUE with a parameter of template.yaml "
                  f"({', '.join(sorted(declared))})", file=sys.stderr)
            return 2
        stack.parameters[name] = value
    if args.log_level:
        stack.parameters["LogLevel"] = args.log_level

    if args.port:
        _check_port_free(args.host, args.port)  # before moto and the workers start, not after
    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
    except lambda_runtime.LocalSetupError as exc:
        print(f"[local] {exc}", file=sys.stderr)
        return 2
    print(_banner(stack), flush=True)
    try:
        while not stopping.wait(0.1):
            pass
    finally:
        print("[local] stopping", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
