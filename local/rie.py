"""Run one function of a `sam build` output under AWS's Lambda Runtime Interface Emulator (aws-lambda-rie, shipped
inside the aws-sam-cli package) with awslambdaric, the runtime client of AWS's own Python images, against a
running local stack's AWS services:

    python -m local.rie CreateUserFunction --event events/create_user.json [--build-dir .aws-sam/build-native]

Only the function's build directory and its layer's `python/` directory are on the path (as /var/task and
/opt/python in Lambda); the interpreter is .venv-rie's, which holds awslambdaric and nothing of the project.
The function's environment is the one the stack resolved for it (GET /_local/aws), plus what the Lambda
runtime sets (region, credentials, function name, timeout, memory) and AWS_ENDPOINT_URL pointing at the stack's
moto. `make rie-build` makes that build (for this machine's architecture, beside the arm64 deployment
build in .aws-sam/build) and .venv-rie.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess  # nosec B404  # runs the emulator binary shipped with aws-sam-cli and our own venv's python
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local import state
from local.moto_backend import DUMMY_CREDENTIALS, REGION
from local.template import ROOT

BUILD_DIR = ROOT / ".aws-sam" / "build-native"
RIE_PYTHON = ROOT / ".venv-rie" / "bin" / "python"
INVOCATIONS = "/2015-03-31/functions/function/invocations"


class RieError(RuntimeError):
    pass


def native_architecture() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]


def write_native_template(path: Path = ROOT / ".aws-sam" / "template-native.yaml") -> Path:
    """template.yaml for this machine's architecture (the deployment build is arm64), its code paths made
    relative to where the copy lives, for `sam build --template <it> --build-dir .aws-sam/build-x86_64`."""
    arch = native_architecture()
    text = (ROOT / "template.yaml").read_text()
    for old, new in (("CompatibleArchitectures: [arm64]", f"CompatibleArchitectures: [{arch}]"),
                     ("    Architectures: [arm64]", f"    Architectures: [{arch}]"),
                     ("BuildArchitecture: arm64", f"BuildArchitecture: {arch}"),
                     ("CodeUri: functions/", "CodeUri: ../functions/"),
                     ("ContentUri: layers/common/", "ContentUri: ../layers/common/")):
        if old not in text:
            raise RieError(f"template.yaml no longer has {old!r}: teach local/rie.py the new layout")
        text = text.replace(old, new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def emulator() -> Path:
    """aws-sam-cli's copy of aws-lambda-rie for this machine."""
    arch = native_architecture()
    found = sorted((ROOT / ".venv-sam" / "lib").glob(f"python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    if not found:
        raise RieError("aws-lambda-rie not found in .venv-sam (aws-sam-cli ships it): run `make build` first")
    return found[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def layer_dirs(build_dir: Path) -> list[Path]:
    return sorted(p / "python" for p in build_dir.iterdir() if (p / "python").is_dir())


def invoke(logical_id: str, event: Any, aws: dict[str, Any], build_dir: Path = BUILD_DIR,
           timeout: float = 60.0) -> tuple[Any, str]:
    """(the function's answer, the emulator's and function's output) of one invocation under RIE."""
    settings = aws["functions"][logical_id]
    task_root = build_dir / logical_id
    if not task_root.is_dir():
        raise RieError(f"{task_root} does not exist: build for this machine first (`make rie-build`)")
    port = _free_port()
    path = [str(task_root), *map(str, layer_dirs(build_dir))]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC", **settings["environment"],
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, **DUMMY_CREDENTIALS,
           "AWS_ENDPOINT_URL": aws["endpoint"], "AWS_LAMBDA_FUNCTION_NAME": settings["function_name"],
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_TIMEOUT": str(settings["timeout"]),
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings["memory_size"]), "LAMBDA_TASK_ROOT": str(task_root),
           "LAMBDA_RUNTIME_DIR": str(task_root), "PYTHONPATH": os.pathsep.join(path), "PYTHONNOUSERSITE": "1",
           "_HANDLER": settings["handler"]}
    command = [str(emulator()), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
               str(RIE_PYTHON), "-m", "awslambdaric", settings["handler"]]
    output = Path(os.environ.get("TMPDIR", "/tmp")) / f"rie-{logical_id}-{port}.log"  # noqa: S108  # nosec B108  # our own file
    with output.open("wb") as log:
        process = subprocess.Popen(command, cwd=task_root, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603  # nosec B603
    try:
        answer = _post(port, event, timeout, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        text = output.read_text(errors="replace")
        output.unlink(missing_ok=True)
    return answer, text


def _post(port: int, event: Any, timeout: float, process: subprocess.Popen[bytes]) -> Any:
    data = json.dumps(event).encode()
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{INVOCATIONS}", data=data, method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310  # loopback
                return json.loads(response.read() or b"null")
        except (urllib.error.URLError, ConnectionError) as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RieError(f"the emulator did not answer: {exc}") from None
            time.sleep(0.05)


def stack_aws(state_dir: str | None = None) -> dict[str, Any]:
    running = state.running_stack(state.state_file(state_dir))
    if running is None:
        raise RieError("no local stack answers: start one with `make run`")
    with urllib.request.urlopen(running["url"] + "/_local/aws", timeout=10) as response:  # noqa: S310  # nosec B310  # loopback
        return dict(json.loads(response.read()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.rie", description=__doc__.splitlines()[0])
    parser.add_argument("function", nargs="?", help="the function's logical id, e.g. CreateUserFunction")
    parser.add_argument("--write-template", action="store_true",
                        help="write .aws-sam/template-native.yaml (this machine's architecture) and print its path")
    parser.add_argument("--event", "-e", help="event JSON file (default: {})")
    parser.add_argument("--build-dir", default=str(BUILD_DIR))
    parser.add_argument("--state-dir", help="the running stack's state directory (default: .local-stack/)")
    args = parser.parse_args(argv)
    if args.write_template:
        print(write_native_template())
        return 0
    if not args.function:
        parser.error("name a function (or --write-template)")
    try:
        event = json.loads(Path(args.event).read_text()) if args.event else {}
        answer, output = invoke(args.function, event, stack_aws(args.state_dir), Path(args.build_dir))
    except RieError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(output, file=sys.stderr)
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
