"""The catalog feed fetched from an https URL (CATALOG_FEED_URL) instead of S3: served here by a real TLS
server on loopback with a certificate made for the test, trusted through SSL_CERT_FILE as an operator
would trust a private CA. A feed that cannot be fetched fails the run and leaves the catalog as it is."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flexigift import supplier_feed
from flexigift.settings import get_settings
from flexigift.supplier_feed import FeedUnavailable
from tests.integration.test_rewards_catalog import catalog, ids, refresh
from tests.rewards_support import feed_bytes, sample_feed

FEED = feed_bytes(sample_feed())


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flexigift test feed")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "feed.pem", directory / "feed.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Feed(BaseHTTPRequestHandler):
    routes = {"/catalog.json": FEED, "/oversized.json": b" " * 2048}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body if body is not None else b'{"error": "no such feed"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Given an https server on loopback serving the sample feed; yields its base URL and certificate."""
    cert_path, key_path = _certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_path
    server.shutdown()
    server.server_close()


def _use_feed(monkeypatch: pytest.MonkeyPatch, url: str, trusted: Path | None) -> None:
    monkeypatch.setenv("CATALOG_FEED_URL", url)
    if trusted is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    get_settings.cache_clear()


def test_the_feed_is_fetched_over_https(aws, rewards, https_feed, monkeypatch):
    """When CATALOG_FEED_URL names the https feed and its certificate is trusted, then the refresh loads
    the whole catalog from it (not from the S3 object)."""
    base, cert = https_feed
    rewards.s3.delete_object(Bucket=rewards.bucket, Key=rewards.feed_key)
    _use_feed(monkeypatch, f"{base}/catalog.json", cert)
    report = refresh()
    assert report["created"] == len(sample_feed()["rewards"]) and report["source"] == f"{base}/catalog.json"
    assert 27234 in ids(catalog("US")[1])


@pytest.mark.parametrize(("path", "trust", "reason"), [
    ("/catalog.json", False, "CERTIFICATE_VERIFY_FAILED"),  # a server the machine does not trust
    ("/gone.json", True, "answered HTTP 404"),
    ("/oversized.json", True, "is larger than 1024 bytes"),
])
def test_a_feed_that_cannot_be_fetched_fails_the_run_and_changes_nothing(aws, rewards, https_feed, monkeypatch,
                                                                           path, trust, reason):
    """Given the catalog loaded from S3, when the https feed cannot be fetched, then the run fails with
    the reason and the catalog is exactly as it was."""
    refresh()
    before = ids(catalog("US")[1])
    base, cert = https_feed
    monkeypatch.setattr(supplier_feed, "MAX_FEED_BYTES", 1024)
    _use_feed(monkeypatch, f"{base}{path}", cert if trust else None)
    with pytest.raises(FeedUnavailable, match=reason):
        refresh()
    assert ids(catalog("US")[1]) == before


def test_a_plain_http_url_is_refused(aws, rewards, monkeypatch):
    _use_feed(monkeypatch, "http://127.0.0.1:9/catalog.json", None)
    with pytest.raises(FeedUnavailable, match="must be an https URL"):
        refresh()
