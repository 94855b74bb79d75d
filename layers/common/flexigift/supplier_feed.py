"""Where the supplier's catalog feed comes from: an S3 object (the bucket the template creates) or, when
CATALOG_FEED_URL is set, an https URL. Returns the raw bytes; parsing and validation are the refresh's."""

from __future__ import annotations

from dataclasses import dataclass

from flexigift.aws import client
from flexigift.settings import get_settings

MAX_FEED_BYTES = 20 * 1024 * 1024


class FeedUnavailable(Exception):
    """The feed could not be fetched (the refresh changes nothing and the run is reported as failed)."""


@dataclass(frozen=True)
class RawFeed:
    source: str
    body: bytes


def read_feed() -> RawFeed:
    settings = get_settings()
    if settings.catalog_feed_url:
        return _read_url(settings.catalog_feed_url)
    if not settings.catalog_feed_bucket:
        raise FeedUnavailable("neither CATALOG_FEED_URL nor CATALOG_FEED_BUCKET is configured")
    return _read_s3(settings.catalog_feed_bucket, settings.catalog_feed_key)


def _read_s3(bucket: str, key: str) -> RawFeed:
    response = client("s3").get_object(Bucket=bucket, Key=key)
    if int(response.get("ContentLength") or 0) > MAX_FEED_BYTES:
        raise FeedUnavailable(f"s3://{bucket}/{key} is larger than {MAX_FEED_BYTES} bytes")
    return RawFeed(f"s3://{bucket}/{key}", _bounded(response["Body"].read(MAX_FEED_BYTES + 1), f"s3://{bucket}/{key}"))


def _read_url(url: str) -> RawFeed:
    import os
    import ssl
    import urllib.error
    import urllib.request

    if not url.startswith("https://"):
        raise FeedUnavailable("CATALOG_FEED_URL must be an https URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - https only
    # The certificate is verified against the system's CAs or, if SSL_CERT_FILE is set (a private CA), that
    # file, read now: left to OpenSSL, a change of SSL_CERT_FILE was not seen by a process that had
    # already verified a certificate (seen in tests/integration/test_supplier_feed_https.py).
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310  # nosec B310  # https checked above
            body = response.read(MAX_FEED_BYTES + 1)
    except urllib.error.HTTPError as exc:  # before URLError: it is one
        raise FeedUnavailable(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, TLS verification, timeout
        raise FeedUnavailable(f"{url} could not be fetched: {getattr(exc, 'reason', exc)}") from None
    return RawFeed(url, _bounded(body, url))


def _bounded(body: bytes, source: str) -> bytes:
    """The feed, unless it is larger than MAX_FEED_BYTES (a truncated feed must not be read as a short one)."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedUnavailable(f"{source} is larger than {MAX_FEED_BYTES} bytes")
    return body
