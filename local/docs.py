"""The API's contract on the local stack: GET /openapi.json (docs/openapi.json, as committed) and a Swagger UI
at GET /docs. No CDN: the UI's scripts and styles come from the swagger-ui-py package (Swagger UI 5, which
reads OpenAPI 3.1) and are served from /docs/static/, so the page renders offline. No authorization, as
API Gateway would serve them from a separate, public resource."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from local.gateway import HttpRequest, HttpResponse
from local.openapi import SPEC_PATH, TITLE

if TYPE_CHECKING:
    from local.stack import Stack

SPEC_URL = "/openapi.json"
DOCS_URL = "/docs"
STATIC_URL = "/docs/static/"
# the files the page uses, with their media types; nothing else of the package is served
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def assets_dir() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).resolve().parent / "static"


def page() -> str:
    title = html.escape(f"{TITLE} API")
    config = json.dumps({"url": SPEC_URL, "dom_id": "#swagger-ui", "deepLinking": True,
                         "validatorUrl": None,  # the default would call validator.swagger.io
                         "persistAuthorization": True})
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="{STATIC_URL}swagger-ui.css">
  <link rel="stylesheet" href="{STATIC_URL}index.css">
  <link rel="icon" type="image/png" href="{STATIC_URL}favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{STATIC_URL}swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle(Object.assign({config}, {{
      presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
    }}));
  </script>
</body>
</html>
"""


def _ok(body: bytes, content_type: str, cache: str = "no-cache") -> HttpResponse:
    return HttpResponse(200, [("Content-Type", content_type), ("Cache-Control", cache)], body)


class DocsService:
    """Adds /openapi.json, /docs and /docs/static/<asset> to the gateway's local routes."""

    name = "api docs"

    def start(self, stack: Stack) -> None:
        assert stack.gateway is not None, "the docs are served by the gateway"
        gateway = stack.gateway
        gateway.add_local_route("GET", SPEC_URL, lambda _r: _ok(SPEC_PATH.read_bytes(), "application/json"))
        gateway.add_local_route("GET", DOCS_URL, lambda _r: _ok(page().encode(), "text/html; charset=utf-8"))
        static = assets_dir()
        for name, content_type in ASSETS.items():
            data = (static / name).read_bytes()
            gateway.add_local_route("GET", STATIC_URL + name, self._asset(data, content_type))

    @staticmethod
    def _asset(data: bytes, content_type: str):  # noqa: ANN205 - a LocalHandler
        def serve(_request: HttpRequest) -> HttpResponse:
            return _ok(data, content_type, "public, max-age=3600")

        return serve

    def stop(self) -> None:
        pass
