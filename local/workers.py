"""Execution environments: worker processes that run handlers one invocation at a time, as Lambda does.

Why processes and not the gateway's threads: a handler's resolver keeps the request being handled on itself
(flexigift.api.Resolver.current_event, one per handler module), and module state (cached clients, id
blocks, the read cache) belongs to one execution environment, so two invocations of one handler in
threads of one process would read each other's requests. Lambda never runs two invocations in one
environment at once; neither does a worker. Concurrent requests go to different workers, so races
between them (two POST /users for one user_id) are real races, settled by DynamoDB's conditional writes.

Every worker can run every function (each imports a handler on first use: its cold start), with the
union of the functions' environments that the stack put into os.environ before starting the pool.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from local import lambda_runtime, template

# Where the workers write their output (the functions' logs) instead of the stack's terminal, when set
FUNCTION_LOG_VARIABLE = "FLEXIGIFT_LOCAL_FUNCTION_LOG"
# Time a worker gets beyond the function's Timeout to import its handler and answer over the pipe.
_GRACE_SECONDS = 5.0


def _serve(conn: Any) -> None:
    """A worker's loop: receive (function, event, request id), invoke, send back the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the stack stops us
    log_file = os.environ.get(FUNCTION_LOG_VARIABLE)
    if log_file:  # the functions' JSON logs go to a file; the terminal keeps one line per request
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    functions = template.functions()
    lambda_runtime.prepare_process(list(functions.values()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the stack went away
        if message is None:
            return
        logical_id, event, request_id = message
        fn = functions[logical_id]
        context = lambda_runtime.LocalLambdaContext.for_function(fn, request_id)
        outcome = lambda_runtime.invoke(fn, event, context)
        sys.stdout.flush()
        conn.send((outcome.payload, outcome.error, outcome.duration_ms))


class _Worker:
    def __init__(self, mp: Any, number: int) -> None:
        self.conn, child_conn = mp.Pipe()
        self.process = mp.Process(target=_serve, args=(child_conn,), name=f"lambda-worker-{number}", daemon=True)
        self.process.start()
        child_conn.close()

    def stop(self, timeout: float = 2.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1)
        self.conn.close()


class WorkerPool:
    """Up to `size` workers, started on demand (and `warm` of them at once); warm ones are reused first."""

    def __init__(self, size: int = 4, warm: int = 1) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.warm = min(warm, size)
        # spawn, not fork: the stack process runs threads (moto, the gateway) that fork would copy mid-step
        self._mp = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._started = 0
        self._closed = False

    def start(self) -> None:
        for _ in range(self.warm):
            worker = self._spawn()
            with self._cond:
                self._idle.append(worker)

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._cond.notify_all()
        for worker in workers:
            worker.stop()

    def invoke(self, fn: template.Function, event: dict[str, Any], request_id: str) -> lambda_runtime.Outcome:
        worker = self._deliver((fn.logical_id, event, request_id))
        started = time.perf_counter()
        try:
            if not worker.conn.poll(fn.timeout + _GRACE_SECONDS):
                self._retire(worker, kill=True)
                return self._failure(started, f"Task timed out after {fn.timeout:.2f} seconds",
                                     "Sandbox.Timedout", request_id)
            payload, error, duration_ms = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._retire(worker, kill=True)
            return self._failure(started, f"The execution environment exited unexpectedly ({exc!r})",
                                 "Runtime.ExitError", request_id)
        self._release(worker)
        return lambda_runtime.Outcome(payload, error, duration_ms)

    def _deliver(self, message: tuple[str, dict[str, Any], str]) -> _Worker:
        """Hand the invocation to a live worker. A worker that died while idle (killed, out of memory) is
        replaced, never given work: Lambda does not route an invocation to an environment that is gone. Only
        an invocation the worker has received can fail with it."""
        while True:
            worker = self._acquire()
            if worker.process.is_alive():
                try:
                    worker.conn.send(message)
                    return worker
                except (OSError, ValueError):
                    pass  # it died between the check and the send: the invocation never reached it
            self._retire(worker, kill=True)

    @staticmethod
    def _failure(started: float, message: str, kind: str, request_id: str) -> lambda_runtime.Outcome:
        print(f"[ERROR] {request_id}: {message}", file=sys.stderr, flush=True)
        return lambda_runtime.Outcome({"errorMessage": message, "errorType": kind, "requestId": request_id},
                                      True, (time.perf_counter() - started) * 1000)

    def _spawn(self) -> _Worker:
        with self._cond:
            self._started += 1
            number = self._started
        worker = _Worker(self._mp, number)
        with self._cond:
            self._all.add(worker)
        return worker

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the worker pool is stopped")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self.size:
                    self._all.add(placeholder := _Placeholder())
                    break
                self._cond.wait()
        try:
            worker = self._spawn()
        finally:
            with self._cond:
                self._all.discard(placeholder)
                self._cond.notify()
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                return
            self._idle.append(worker)
            self._cond.notify()

    def _retire(self, worker: _Worker, kill: bool) -> None:
        with self._cond:
            self._all.discard(worker)
            self._cond.notify()
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(1)
        worker.conn.close()


class _Placeholder:
    """Holds a pool slot while its worker is being started."""

    def stop(self) -> None:
        pass
