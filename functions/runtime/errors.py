"""One JSON error shape for every function: ``{"detail": <message>, "code": <snake_case>}``.

FastAPI's own 422 body (``detail`` is a list of field errors) is kept, with ``code`` added,
so clients parse a single shape whatever went wrong.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .storage.base import InvalidKey, StoreUnavailable
from .storage.keys import InvalidId

log = logging.getLogger("agentscope_faas")


class ApiError(Exception):
    """An error a route raises to answer with a given status and code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def error_response(status: int, code: str, detail: object) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail)

    async def invalid_id(_: Request, exc: Exception) -> JSONResponse:
        return error_response(422, "invalid_id", str(exc))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("object store unavailable: %s", exc)
        return error_response(503, "store_unavailable", "the object store is unavailable; retry")

    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return error_response(422, "invalid_request", errors)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(InvalidId, invalid_id)
    app.add_exception_handler(InvalidKey, invalid_id)
    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
