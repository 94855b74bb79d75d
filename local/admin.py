"""API keys and programs on a running local stack, through the API itself.

POST/DELETE /admin/api_keys and POST /admin/programs:

    python -m local.admin create-key --scopes "wallet:read wallet:write" [--name ...] [--program-id ...]
    python -m local.admin create-key --scopes issuer --issuer Kohls
    python -m local.admin create-program acme-rewards [--name ...] [--delivery-methods 1,2]
    python -m local.admin revoke-key key_0123456789abcdef

The calling key is the stack's bootstrap key (the platform's operator key: it alone creates programs and
keys for another program), from .local-stack/state.json or FLEXIGIFT_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from local import state


class AdminError(RuntimeError):
    pass


def _call(base_url: str, api_key: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, method=method,  # noqa: S310 - loopback URL
                                     headers={"Authorization": api_key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310  # the local stack's loopback URL
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise AdminError(f"{method} {path} -> {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise AdminError(f"no local stack answers at {base_url} ({exc.reason}); start one with `make run`") from None


def _target(args: argparse.Namespace) -> tuple[str, str]:
    """Base URL and admin key: --port wins for the URL, then the running stack's state file (the port it
    really listens on), then 3000; the key from FLEXIGIFT_API_KEY or the state file."""
    saved = state.read(state.state_file(args.state_dir)) or {}
    port = getattr(args, "port", None) or saved.get("port") or 3000
    api_key = os.environ.get("FLEXIGIFT_API_KEY") or saved.get("api_key")
    if not api_key:
        raise AdminError("no admin key: set FLEXIGIFT_API_KEY or start the stack with `make run` "
                         "(it writes .local-stack/state.json)")
    return f"http://127.0.0.1:{port}", api_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.admin", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="the stack's port (default: from its state file, else 3000)")
    parser.add_argument("--state-dir", help="where the stack wrote state.json (default: .local-stack/)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="issue a key and print it")
    create.add_argument("--scopes", required=True, help='space- or comma-separated, e.g. "wallet:read wallet:write"')
    create.add_argument("--name", default="local key")
    create.add_argument("--program-id", default=None,
                        help="the key's program (default: the calling key's; another one: operator key only)")
    create.add_argument("--issuer", default=None, help="the issuer an `issuer` key acts for, e.g. Kohls")
    create.add_argument("--json", action="store_true", help="print the whole response")
    program = commands.add_parser("create-program", help="create a program (operator key only) and print it")
    program.add_argument("program_id")
    program.add_argument("--name", default=None, help="default: the program_id")
    program.add_argument("--delivery-methods", default="",
                         help='reward delivery methods its keys may use, e.g. "1,2" (1 = API, 2 = email)')
    revoke = commands.add_parser("revoke-key", help="revoke a key by its key_id")
    revoke.add_argument("key_id")
    # `--port` is accepted after the command too (make api-key passes it there)
    for sub in (create, program, revoke):
        sub.add_argument("--port", type=int, dest="port", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        base_url, api_key = _target(args)
        if args.command == "create-key":
            body: dict[str, Any] = {"name": args.name, "scopes": args.scopes.replace(",", " ").split()}
            if args.program_id:
                body["program_id"] = args.program_id
            if args.issuer:
                body["issuer"] = args.issuer
            issued = _call(base_url, api_key, "POST", "/admin/api_keys", body)
            if args.json:
                print(json.dumps(issued, indent=2))
            else:
                print(issued["api_key"])
                bound = f", issuer {issued['issuer']}" if issued.get("issuer") else ""
                print(f"key_id {issued['key_id']}, scopes {' '.join(issued['scopes'])}, "
                      f"program {issued['program_id']}{bound}", file=sys.stderr)
        elif args.command == "create-program":
            methods = [int(m) for m in args.delivery_methods.replace(",", " ").split()]
            created = _call(base_url, api_key, "POST", "/admin/programs",
                            {"program_id": args.program_id, "name": args.name or args.program_id,
                             "delivery_methods": methods})
            print(json.dumps(created, indent=2))
        else:
            revoked = _call(base_url, api_key, "DELETE", f"/admin/api_keys/{quote(args.key_id, safe='')}")
            print(json.dumps(revoked, indent=2))
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
