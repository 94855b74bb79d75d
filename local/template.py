"""Read template.yaml: the local stack and the tests take routes, functions, environment and the table
definition from it, so that what runs here cannot drift from what deploys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...) as {tag: value}."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class Route:
    method: str          # GET, POST, ... or ANY
    path: str            # /users/{id}
    function: str        # logical id
    authorizer: str | None = None   # name of the API authorizer in force; None for Authorizer: NONE

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass
class Function:
    logical_id: str
    handler: str                     # module.attribute
    code_uri: str
    environment: dict[str, Any] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: int = 10
    memory_size: int = 128
    layers: list[str] = field(default_factory=list)   # content directories of its layers (/opt in Lambda)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506  # nosec B506  # a SafeLoader subclass


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    all_resources = load().get("Resources", {})
    return {k: v for k, v in all_resources.items() if kind is None or v.get("Type") == kind}


def functions() -> dict[str, Function]:
    globals_ = load().get("Globals", {}).get("Function", {})
    result = {}
    for logical_id, resource in resources("AWS::Serverless::Function").items():
        props = resource.get("Properties", {})
        env = dict(globals_.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        result[logical_id] = Function(
            logical_id=logical_id,
            handler=props["Handler"],
            code_uri=props.get("CodeUri", globals_.get("CodeUri", "")),
            environment=env,
            events=props.get("Events", {}) or {},
            timeout=int(props.get("Timeout", globals_.get("Timeout", 10))),
            memory_size=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            # SAM adds a function's own Layers to the global ones
            layers=[_layer_content(layer) for layer in [*globals_.get("Layers", []), *props.get("Layers", [])]],
        )
    return result


def _layer_content(layer: Any) -> str:
    """ContentUri of a layer given as !Ref to an AWS::Serverless::LayerVersion of this template."""
    name = layer.get("Ref") if isinstance(layer, dict) else None
    resource = resources().get(name or "", {})
    if resource.get("Type") != "AWS::Serverless::LayerVersion":
        raise LookupError(f"layer {layer!r} is not an AWS::Serverless::LayerVersion of this template")
    return resource["Properties"]["ContentUri"]


def routes() -> list[Route]:
    """API routes, explicit methods before ANY and literal paths before parameterised ones."""
    found = []
    for fn in functions().values():
        for event in fn.events.values():
            if event.get("Type") == "Api":
                props = event["Properties"]
                found.append(Route(props["Method"].upper(), props["Path"], fn.logical_id,
                                   _route_authorizer(props)))

    def order(route: Route) -> tuple[int, int, int]:
        return (route.method == "ANY", "+}" in route.path, route.path.count("{"))

    return sorted(found, key=order)


def _api_auth(rest_api_id: Any = None) -> dict[str, Any]:
    apis = resources("AWS::Serverless::Api")
    name = rest_api_id.get("Ref") if isinstance(rest_api_id, dict) else None
    if name is None and len(apis) == 1:
        name = next(iter(apis))
    return (apis.get(name or "", {}).get("Properties", {}) or {}).get("Auth", {}) or {}


def _route_authorizer(event_properties: dict[str, Any]) -> str | None:
    """The authorizer of one Api event: its own Auth.Authorizer, else the API's default (NONE: none)."""
    own = (event_properties.get("Auth") or {}).get("Authorizer")
    name = own or _api_auth(event_properties.get("RestApiId")).get("DefaultAuthorizer")
    return None if not name or name == "NONE" else name


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str                        # logical id of the authorizer function
    payload_type: str                    # REQUEST or TOKEN
    identity_headers: tuple[str, ...]    # a request lacking any of these gets 401 without a call
    # API Gateway's result cache: ReauthorizeEvery as written (a number or a !Ref to a parameter); None when the
    # identity names a source other than headers (not modelled here: such an authorizer is never cached)
    reauthorize_every: Any = 300


def authorizers() -> dict[str, Authorizer]:
    """The Lambda authorizers declared on the template's APIs, by name."""
    found = {}
    for api in resources("AWS::Serverless::Api").values():
        auth = api.get("Properties", {}).get("Auth", {}) or {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            arn = spec.get("FunctionArn", {})
            if _function_of(arn) is None:
                continue
            payload = str(spec.get("FunctionPayloadType", "TOKEN")).upper()
            identity = spec.get("Identity") or {}
            headers = tuple(identity.get("Headers") or ([] if payload == "REQUEST" else
                                                        [identity.get("Header", "Authorization")]))
            other_sources = any(identity.get(k) for k in ("QueryStrings", "StageVariables", "Context"))
            ttl = None if other_sources else identity.get("ReauthorizeEvery", 300)  # SAM's default: 300 s
            found[name] = Authorizer(name, str(_function_of(arn)), payload, headers, ttl)
    return found


def gateway_responses() -> dict[str, dict[str, Any]]:
    """The API's GatewayResponses: type -> {StatusCode, ResponseTemplates, ResponseParameters}."""
    found: dict[str, dict[str, Any]] = {}
    for api in resources("AWS::Serverless::Api").values():
        found.update(api.get("Properties", {}).get("GatewayResponses") or {})
    return found


def _function_of(arn: Any) -> str | None:
    """The function an authorizer's FunctionArn names: `!GetAtt Fn.Arn`, or `!Ref Fn.Alias` (SAM's reference
    to the function's AutoPublishAlias)."""
    if not isinstance(arn, dict):
        return None
    if "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0])
    ref = arn.get("Ref")
    if isinstance(ref, str) and ref.endswith(".Alias"):
        return ref.removesuffix(".Alias")
    return None


def authorizer_function() -> str:
    """Logical id of the API's default REQUEST authorizer function."""
    for resource in resources("AWS::Serverless::Api").values():
        auth = resource.get("Properties", {}).get("Auth", {})
        default = auth.get("DefaultAuthorizer")
        if default:
            function = _function_of(auth["Authorizers"][default]["FunctionArn"])
            if function is not None:
                return function
    raise LookupError("template.yaml declares no default authorizer")


def table_definition(logical_id: str = "Table") -> dict[str, Any]:
    """CreateTable arguments (minus TableName) from the AWS::DynamoDB::Table resource."""
    props = resources()[logical_id]["Properties"]
    definition = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return definition


def ttl_attribute(logical_id: str = "Table") -> str | None:
    spec = resources()[logical_id]["Properties"].get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def resolve(value: Any, physical: dict[str, str], parameters: dict[str, str] | None = None) -> Any:
    """Resolve !Ref / !GetAtt / !Sub in an environment value against local physical names."""
    parameters = parameters or {}
    if isinstance(value, dict):
        if "Ref" in value:
            name = value["Ref"]
            if name in physical:
                return physical[name]
            if name in parameters:
                return parameters[name]
            default = load().get("Parameters", {}).get(name, {}).get("Default")
            if default is not None:
                return str(default)
            raise KeyError(f"cannot resolve !Ref {name} locally")
        if "Fn::GetAtt" in value:
            target, attribute = value["Fn::GetAtt"]
            return physical[f"{target}.{attribute}"]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            return re.sub(r"\$\{([\w.:]+)\}", lambda m: str(resolve(
                {"Fn::GetAtt": m.group(1).split(".", 1)} if "." in m.group(1) else {"Ref": m.group(1)},
                physical, parameters)), text)
    return value
