"""The one error answer of every function: its body model, the response, OpenAPI entries.

See ``errors.py`` for the vocabulary; this module turns an ``ApiError`` into HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .errors import ApiError

log = logging.getLogger("agentscope_faas")


class ErrorBody(BaseModel):
    """Every error answer: ``code`` to branch on, ``detail`` for people (a list of field
    errors for ``invalid_request``)."""

    code: str
    detail: Any


def errors(
    *statuses: int, also: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring error answers in the one body shape, plus
    the ``also`` entries (a second success status, say)."""
    return {**(also or {}), **{status: {"model": ErrorBody} for status in statuses}}


def error_response(exc: ApiError) -> JSONResponse:
    if not exc.expose:
        log.warning("%s: %s", exc.code, exc)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


def field_errors(raw: Iterable[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic / FastAPI errors as ``[{loc, msg, type}]``, without inputs or URLs."""
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in raw
        if isinstance(e, dict)
    ]
