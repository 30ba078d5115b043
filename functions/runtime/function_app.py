"""One factory for the ASGI app of every function.

``create_function_app`` installs, in one place, what every function must do the same way:
the error handlers (any :class:`~.errors.ApiError`, FastAPI's validation errors, unknown
routes and methods - all answered as ``{"code", "detail"}``), the platform request id on
every log line, and the instance context (``app.state.instance``) that routers reach
through the ``InstanceDep`` dependency. Each function is then its routers and a
``create_app`` of a few lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth.middleware import Authenticate, Predicate
from .body_limit import BodyLimit, Limit
from .errors import ApiError, InvalidRequest, MethodNotAllowed, NotFound
from .http_errors import ErrorBody, error_response, field_errors
from .instance import Instance
from .request_ids import RequestIds

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
# ``(request) -> ApiError | None``: a function's own reading of a path no route matched
NotFoundHook = Callable[[Request], "ApiError | None"]


PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})


def is_public(scope: Any) -> bool:
    """What any caller may read without credentials: health and the API's description."""
    return scope["path"] in PUBLIC_PATHS and scope.get("method", "GET") in ("GET", "HEAD")


def get_instance(request: Request) -> Instance:
    return request.app.state.instance


InstanceDep = Annotated[Instance, Depends(get_instance)]


def install_error_handlers(app: FastAPI, not_found: NotFoundHook | None = None) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(InvalidRequest(field_errors(exc.errors())))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, ApiError):  # FastAPI wraps what broke reading the body
            return error_response(exc.__cause__)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            found = not_found(request) if not_found is not None else None
            return error_response(found or NotFound(f"no route {request.url.path}"))
        if exc.status_code == 405:
            return error_response(
                MethodNotAllowed(f"{request.method} is not allowed here", headers=headers)
            )
        code = "http_error"
        return error_response(
            ApiError(exc.detail, status=exc.status_code, code=code, headers=headers)
        )

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # a bug: the traceback goes to the log (Starlette re-raises after answering), the
        # caller gets the one error shape instead of a bare text/plain 500
        return error_response(ApiError())

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _declare_one_error_shape(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers send: FastAPI declares its own 422
    body (``HTTPValidationError``) on every route with parameters; ours is ``ErrorBody``."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = default()
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for operations in spec.get("paths", {}).values():
            for op in operations.values():
                answer = op.get("responses", {}).get("422")
                if answer is not None:
                    answer["content"] = {"application/json": {"schema": ref}}
                    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_function_app(
    *,
    title: str,
    instance: Instance,
    routers: Iterable[APIRouter],
    description: str = "",
    version: str = "1",
    lifespan: Lifespan | None = None,
    not_found: NotFoundHook | None = None,
    redirect_slashes: bool = True,
    body_limit: Limit | None = None,
    public: Predicate | None = None,
    json_route: Predicate | None = None,
) -> FastAPI:
    """A function's app: its routers over ``instance``, with the shared machinery installed.

    ``lifespan`` runs inside the app's own (a reaper, an agent's init hooks); the instance
    is closed after it. ``not_found`` lets a function explain an unmatched path better than
    404 (the state function answers an id that cannot route with 422). ``body_limit``
    gives a route's body cap in bytes (default: ``MAX_REQUEST_BYTES`` everywhere).
    Every request is authenticated (``auth/``) before a route runs; ``public`` says which
    may come without credentials (default: ``/health`` and the OpenAPI document),
    ``json_route`` which take JSON bodies (default: all).
    """

    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await instance.close()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=app_lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=redirect_slashes,
    )
    app.state.instance = instance
    _declare_one_error_shape(app)
    install_error_handlers(app, not_found)
    max_bytes = instance.settings.max_request_bytes
    app.add_middleware(BodyLimit, limit=body_limit or (lambda _: max_bytes))
    app.add_middleware(
        Authenticate,
        settings=instance.settings,
        public=public or is_public,
        json_route=json_route or (lambda _: True),
    )
    app.add_middleware(RequestIds)
    for router in routers:
        app.include_router(router)
    return app
