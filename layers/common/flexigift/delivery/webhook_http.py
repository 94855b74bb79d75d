"""Where a webhook may go, and the POST itself.

Deployed, an endpoint is an https:// URL whose host resolves only to public addresses: loopback, private,
link-local (169.254.169.254, the instance metadata service, among them), multicast, reserved and unspecified
addresses are refused, at registration and again at every delivery, after resolving the name, and the
connection goes to the address that was checked (a name that resolves elsewhere a moment later is not
followed). The local stack also allows http:// to a loopback address, so that a developer receives events on
their own machine (settings.webhook_allow_loopback). Redirects are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Flexigift-Webhooks/1"


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str          # the checked address the connection goes to


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_private or address.is_loopback or address.is_link_local
                                      or address.is_multicast or address.is_reserved or address.is_unspecified)


def _allowed(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if _public(ip):
        return True
    return allow_loopback and ip.is_loopback


def parse(url: str, allow_loopback: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL, before any name is resolved."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrl("must be an https:// URL")
    if scheme == "http" and not allow_loopback:
        raise UnsafeUrl("must be an https:// URL (http:// is accepted only by the local stack, for 127.0.0.1)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not carry credentials")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("has no host")
    if any(c.isspace() for c in url):
        raise UnsafeUrl("must not contain spaces")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def resolve(url: str, allow_loopback: bool) -> Target:
    """Check a URL and resolve its host; every address it resolves to must be allowed (one private address
    among public ones is refused: which one a client would use is not ours to guess)."""
    scheme, host, port, path = parse(url, allow_loopback)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UnsafeUrl(f"host {host!r} does not resolve ({exc.__class__.__name__})") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise UnsafeUrl(f"host {host!r} does not resolve")
    refused = [a for a in addresses if not _allowed(a, allow_loopback)]
    if refused:
        raise UnsafeUrl(f"host {host!r} resolves to a non-public address ({', '.join(refused)}): loopback, private, "
                        "link-local and metadata addresses cannot receive webhooks")
    if scheme == "http" and not all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses):
        raise UnsafeUrl("must be an https:// URL (http:// is accepted only for a loopback address)")
    return Target(scheme, host, port, path, addresses[0])


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    latency_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHttps(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate verified for the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHttp(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], allow_loopback: bool,
         timeout: float = TIMEOUT_SECONDS) -> Outcome:
    """POST once; any answer (status) or failure (error) within `timeout` seconds, never an exception."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(url, allow_loopback)
    except UnsafeUrl as exc:
        return Outcome(None, f"refused: {exc}"[:300], elapsed())
    connection: http.client.HTTPConnection = (_PinnedHttps(target, timeout) if target.scheme == "https"
                                              else _PinnedHttp(target, timeout))
    try:
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        response.read(64 * 1024)  # the answer's body is not kept; reading a little lets the connection close
        status = response.status
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Outcome(None, f"{exc.__class__.__name__}: {exc}"[:300], elapsed())
    finally:
        connection.close()
    latency = elapsed()
    if latency > timeout * 1000:
        return Outcome(status, f"answered after {latency} ms (more than {int(timeout)} s)", latency)
    return Outcome(status, None, latency)
