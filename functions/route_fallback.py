"""ANY on a known resource with a method it lacks -> 405 with Allow; ANY unknown path -> 404.

API Gateway prefers a resource's explicit methods over its ANY method, so this function only sees
what no operation serves. The methods each resource allows come from template.yaml (ALLOWED_METHODS)."""

from __future__ import annotations

from typing import Any

from flexigift.api import ANY_KEY, create_resolver, error_response, lambda_entry
from flexigift.settings import get_settings

app = create_resolver(scope=ANY_KEY)


@app.not_found
def fallback(_exc: Exception) -> Any:
    event = app.current_event.raw_event
    resource = event.get("resource", "")
    allowed = get_settings().allowed_methods.get(resource)
    if allowed:
        return error_response(app, 405, "method_not_allowed",
                              f"{event.get('httpMethod')} is not allowed on {resource}; allowed: {allowed}",
                              headers={"Allow": allowed})
    return error_response(app, 404, "not_found", f"No route for {event.get('httpMethod')} {event.get('path')}")


handler = lambda_entry(app, clients=())
