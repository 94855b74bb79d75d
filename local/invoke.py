"""The Docker-free twin of `sam local invoke`: run one function of template.yaml once on an event.

    python -m local.invoke CreateUserFunction --event events/create_user.json   (make invoke FN=... EVENT=...)

The result (or Lambda's error payload) is printed to stdout as JSON; the function's logs go to stderr.
With a local stack running (make run) the function uses that stack's moto and table, so what it writes
shows up in the API; otherwise it runs against an in-process moto with a fresh table from the template.
The exit status is 1 if the function raised.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local import lambda_runtime, resources, state, template
from local.moto_backend import point_boto3_at
from local.stack import DEFAULT_TABLE, STAGE_PARAMETERS


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[Any]:
    """Send everything written to stdout (logs, prints, EMF) to stderr; yield the real stdout."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w")
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield real
    finally:
        sys.stdout.flush()
        real.close()
        os.dup2(saved, 1)
        os.close(saved)


def _env_overrides(path: str | None, logical_id: str) -> dict[str, str]:
    """A `sam local invoke --env-vars` file: {"Parameters": {...}} for all, {"<LogicalId>": {...}} for one."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    return {k: str(v) for k, v in {**data.get("Parameters", {}), **data.get(logical_id, {})}.items()}


def _read_event(source: str | None) -> Any:
    if source in (None, "-"):
        return json.load(sys.stdin) if source == "-" else {}
    return json.loads(Path(source).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__.splitlines()[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. CreateUserFunction")
    parser.add_argument("--event", "-e", help="event JSON file ('-' reads stdin; default: {})")
    parser.add_argument("--env-vars", "-n", help="environment overrides, in sam's --env-vars format")
    parser.add_argument("--standalone", action="store_true",
                        help="use an in-process moto even if a local stack is running")
    args = parser.parse_args(argv)

    functions = template.functions()
    fn = functions.get(args.function)
    if fn is None:
        parser.error(f"no function {args.function} in template.yaml; choose from: {', '.join(sorted(functions))}")
    event = _read_event(args.event)

    stack = None if args.standalone else state.running_stack()
    table_name = stack["table_name"] if stack else DEFAULT_TABLE
    point_boto3_at(stack["moto_endpoint"] if stack else None)
    where = f"the local stack's moto at {stack['moto_endpoint']}" if stack else "an in-process moto"
    print(f"[local] invoking {fn.logical_id} ({fn.handler}) against {where}, table {table_name}",
          file=sys.stderr, flush=True)

    with contextlib.ExitStack() as scope:
        if stack is None:
            from moto import mock_aws

            scope.enter_context(mock_aws())
            physical = resources.provision(table_name)
        else:
            physical = stack.get("physical") or resources.physical_names(table_name)
        environment = lambda_runtime.function_environment(fn, physical, STAGE_PARAMETERS)
        lambda_runtime.apply_environment({**environment, **_env_overrides(args.env_vars, fn.logical_id)})
        lambda_runtime.prepare_process([fn])
        result_stream = scope.enter_context(stdout_to_stderr())
        context = lambda_runtime.LocalLambdaContext.for_function(fn)
        outcome = lambda_runtime.invoke(fn, event, context)
        print(f"[local] {fn.logical_id} finished in {outcome.duration_ms:.1f} ms"
              + (" with an error" if outcome.error else ""), file=sys.stderr, flush=True)
        json.dump(outcome.payload, result_stream, indent=2)
        result_stream.write("\n")
        result_stream.flush()
    return 1 if outcome.error else 0


if __name__ == "__main__":
    sys.exit(main())
