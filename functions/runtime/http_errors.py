"""The one error answer of every function: its body model, the response, OpenAPI entries.

See ``errors.py`` for the vocabulary; this module turns an ``ApiError`` into HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse

from .errors import ApiError
from .wire import WireModel

log = logging.getLogger("agentscope_faas")


class ErrorBody(WireModel):
    """Every error answer: ``code`` to branch on, ``detail`` for people (a list of field
    errors for ``invalid_request``)."""

    code: str
    detail: Any


# where the OpenAPI document keeps ErrorBody's schema (openapi.complete puts it there)
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def errors(
    *statuses: int, also: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring error answers in the one body shape, plus
    the ``also`` entries (a second success status, say). The body is given by reference
    rather than as ``"model": ErrorBody``: FastAPI builds a pydantic TypeAdapter for each
    ``model`` of each status of each route when the route is made, some two hundred at a
    function's cold start, all for the same schema that only the OpenAPI document reads."""
    declared: dict[int | str, dict[str, Any]] = {
        s: {"content": {"application/json": {"schema": dict(ERROR_REF)}}} for s in statuses
    }
    return {**(also or {}), **declared}


def error_response(exc: ApiError) -> JSONResponse:
    if not exc.expose:
        log.warning("%s: %s", exc.code, exc)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


def field_errors(raw: Iterable[Any], prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic / FastAPI errors as ``[{loc, msg, type}]``, without inputs or URLs."""
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in raw
        if isinstance(e, dict)
    ]
