"""The local stack serves the contract: GET /openapi.json and a Swagger UI at GET /docs that needs no CDN."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin

import pytest
import requests

from local.openapi import SPEC_PATH
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_openapi_json_is_the_committed_spec_without_a_key(stack: LocalStack, http: requests.Session) -> None:
    response = http.get(stack.url("/openapi.json"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == json.loads(SPEC_PATH.read_text())


def test_the_docs_page_and_every_asset_it_references_are_served_locally(stack: LocalStack,
                                                                        http: requests.Session) -> None:
    # Given the docs page, fetched without an API key
    page = http.get(stack.url("/docs"), timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    # When every script, stylesheet and icon it references is fetched
    references = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', page.text)
    assert any(r.endswith(".js") for r in references) and any(r.endswith(".css") for r in references), references
    for reference in references:
        # Then none is on another host (the page must render offline) and each answers 200 with content
        assert not re.match(r"^(https?:)?//", reference), f"external asset: {reference}"
        asset = http.get(urljoin(stack.url("/docs"), reference), timeout=10)
        assert asset.status_code == 200, reference
        assert asset.content, reference
    # and the page loads the spec from this stack, with no validator badge calling out
    assert '"url": "/openapi.json"' in page.text
    assert '"validatorUrl": null' in page.text
    assert "http://" not in page.text and "https://" not in page.text
