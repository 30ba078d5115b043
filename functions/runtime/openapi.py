"""Each function's OpenAPI document, made to say exactly what its handlers do.

FastAPI writes most of the document from the routes; what it cannot know is added here, once
for every function, so that fuzzers and client generators can trust it:

* schemas a route hands in whole (``openapi_extra``: pydantic's JSON schema, with its own
  ``$defs``; ``request_body(Model)`` names the model and its schema is made here, when the
  document is first asked for, not at every cold start) are hoisted into
  ``components/schemas`` and their ``#/$defs/...`` references rewritten, so every
  reference resolves inside the document;
* every error is the one ``ErrorBody`` (FastAPI declares its own 422 body; a route may declare
  ``anyOf`` it and a protocol's own error body, as MCP's endpoints do), and each operation
  declares the errors the shared layers can answer on it: 401 (a route that needs
  credentials), 403 (a local run's host and origin checks; acting for another user), 413 and
  415 (a request body: over the limit, not JSON), 422 (parameters or a body), 503 (the
  object store);
* ids in paths and queries carry their pattern (``storage.keys.ID_PATTERN`` for users and
  sessions, ``PLAIN_ID`` for sandboxes), which the routes check themselves (422 ``invalid_id``).
"""

from __future__ import annotations

import http
import importlib
from collections.abc import Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import Schema
from pydantic import BaseModel

from .http_errors import ERROR_REF, ErrorBody
from .storage.keys import ID_PATTERN, PLAIN_ID

# a parameter's pattern: callers' ids are any printable text, the deployment's own are plain
ID_PARAMETERS = {"user_id": ID_PATTERN, "session_id": ID_PATTERN, "sandbox_id": PLAIN_ID}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# (path, method) -> whether callers may come without credentials
Public = Callable[[str, str], bool]


def _hoist(node: Any, schemas: dict[str, Any]) -> Any:
    """``node`` with its ``$defs`` moved into ``schemas`` and references rewritten."""
    if isinstance(node, list):
        return [_hoist(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    for name, definition in (node.pop("$defs", None) or {}).items():
        schemas.setdefault(name, _hoist(definition, schemas))
    out = {key: _hoist(value, schemas) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = "#/components/schemas/" + ref[len("#/$defs/") :]
    return out


# a request body's schema that ``complete`` makes from the model registered under its name
_BODY_MODEL = "x-body-model"
_body_models: dict[str, type[BaseModel] | str] = {}


def request_body(model: type[BaseModel] | str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``model``'s shape: for routes that
    read their body themselves. The JSON schema is made by ``complete``, when the document
    is first asked for: pydantic takes tens of milliseconds to make a large model's.
    ``model`` may be named as ``"package.module:Class"``, so that a protocol's request
    models load with its first request (or the document), not at cold start."""
    name = model if isinstance(model, str) else f"{model.__module__}:{model.__qualname__}"
    _body_models[name] = model
    schema = {_BODY_MODEL: name}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _body_schema(body: dict[str, Any]) -> None:
    for media in body.get("content", {}).values():
        name = media.get("schema", {}).get(_BODY_MODEL)
        if name is not None:
            # as FastAPI writes a schema handed in with the route: through its Schema
            # model, nulls left out
            schema = Schema(**_body_model(name).model_json_schema())
            media["schema"] = jsonable_encoder(schema, by_alias=True, exclude_none=True)


def _body_model(name: str) -> type[BaseModel]:
    model = _body_models[name]
    if not isinstance(model, str):
        return model
    module, _, attr = model.partition(":")
    loaded: type[BaseModel] = getattr(importlib.import_module(module), attr)
    _body_models[name] = loaded
    return loaded


def _error(status: int) -> dict[str, Any]:
    return {
        "description": http.HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": dict(ERROR_REF)}},
    }


def _one_of_which_is_ours(answer: dict[str, Any]) -> bool:
    """An error declared as ``ErrorBody`` or a protocol's own body (``anyOf``): MCP's
    transport answers its refusals as JSON-RPC errors."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return ERROR_REF in schema.get("anyOf", ())


def _id_pattern(parameter: dict[str, Any]) -> None:
    pattern = ID_PARAMETERS.get(parameter.get("name", ""))
    if pattern is None or parameter.get("in") not in ("path", "query"):
        return
    schema = parameter.get("schema") or {}
    for option in [schema, *schema.get("anyOf", ())]:
        if option.get("type") == "string":
            option.setdefault("pattern", pattern)


def complete(spec: dict[str, Any], public: Public) -> dict[str, Any]:
    """Finish FastAPI's document in place (see the module's docstring); returns it."""
    schemas: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            if method not in _METHODS:
                continue
            if "requestBody" in op:
                _body_schema(op["requestBody"])
                op["requestBody"] = _hoist(op["requestBody"], schemas)
            op["responses"] = responses = _hoist(op.get("responses", {}), schemas)
            for parameter in op.get("parameters", ()):
                _id_pattern(parameter)
            wanted = {403, 503}
            if not public(path, method.upper()):
                wanted.add(401)
            if op.get("parameters") or "requestBody" in op:
                wanted.add(422)
            if "requestBody" in op:
                wanted.update((413, 415))
            for status in sorted(wanted):
                responses.setdefault(str(status), _error(status))
            for status, answer in responses.items():
                if status.startswith(("4", "5")) and not _one_of_which_is_ours(answer):
                    answer["content"] = {"application/json": {"schema": dict(ERROR_REF)}}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return spec
