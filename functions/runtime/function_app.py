"""One factory for the ASGI app of every function.

``create_function_app`` installs, in one place, what every function must do the same way:
the error handlers (any :class:`~.errors.ApiError`, FastAPI's validation errors, unknown
routes and methods - all answered as ``{"code", "detail"}``), the platform request id on
every log line, the request's trace and log line (``telemetry.py``: tracing on, or
``LOG_FORMAT=json``), and the instance context (``app.state.instance``) that routers reach
through the ``InstanceDep`` dependency. Each function is then its routers and a
``create_app`` of a few lines.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .auth.middleware import Authenticate, Predicate
from .body_limit import BodyLimit, Limit
from .cors import install_cors
from .errors import ApiError, InvalidRequest, MethodNotAllowed, NotFound
from .http_errors import error_response, field_errors
from .instance import Instance
from .json_numbers import JsonNumbers
from .openapi import complete
from .request_ids import RequestIds
from .storage.base import StoreError

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
# ``(request) -> ApiError | None``: a function's own reading of a path no route matched
NotFoundHook = Callable[[Request], "ApiError | None"]


PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})


def is_public(scope: Any) -> bool:
    """What any caller may read without credentials: health and the API's description."""
    return scope["path"] in PUBLIC_PATHS and scope.get("method", "GET") in ("GET", "HEAD")


class HeadAsGet:
    """``HEAD`` answered as ``GET`` without the body, the same status and headers (RFC 9110
    9.3.2): Starlette's plain routes do so, FastAPI's API routes answer 405 (a health
    checker may send ``HEAD /health``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headless(message: Any) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headless)


def get_instance(request: Request) -> Instance:
    return request.app.state.instance


async def _instance(request: Request) -> Instance:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request
    return request.app.state.instance


InstanceDep = Annotated[Instance, Depends(_instance)]


class RequestRoute(APIRoute):
    """A route whose endpoint is ``async (request) -> Response``, called as it is.

    FastAPI's own handler still solves dependencies, reads the body and serializes the
    result for an endpoint that asks for none of it; for a hot route (a turn) that is more
    time than its own validation. The OpenAPI document is FastAPI's, as for any route
    (``openapi_extra`` gives the body). Errors raised go to the app's handlers.
    Use: ``router.add_api_route(path, endpoint, route_class_override=RequestRoute, ...)``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's):
    each method is tried against the router as a request with it would be."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
    if "GET" in allowed and "HEAD" not in allowed:  # HeadAsGet answers it
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def install_error_handlers(app: FastAPI, not_found: NotFoundHook | None = None) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        if isinstance(exc, StoreError) and exc.status == 503:
            probe = get_instance(request).built("store_probe")
            if probe is not None:
                probe.forget()  # /health must not vouch for a store a request saw fail
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
            headers["Allow"] = ", ".join(_allowed_methods(request))
            return error_response(
                MethodNotAllowed(f"{request.method} is not allowed here", headers=headers)
            )
        code = "http_error"
        return error_response(
            ApiError(exc.detail, status=exc.status_code, code=code, headers=headers)
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug: the traceback goes to the log (Starlette re-raises after answering), the
        # caller gets the one error shape instead of a bare text/plain 500
        response = error_response(ApiError())
        from .openai_errors import PREFIX, reshaped

        if request.url.path.startswith(PREFIX):  # answered outside OpenAIErrors' reach
            response.body = reshaped(bytes(response.body), 500)
            response.init_headers()
        return response

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _complete_openapi(app: FastAPI, public: Predicate) -> None:
    """Make the OpenAPI document say what the handlers send (``openapi.complete``)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        scope = {"type": "http", "headers": []}
        app.openapi_schema = complete(
            default(), lambda path, method: public({**scope, "path": path, "method": method})
        )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_telemetry(app: FastAPI, instance: Instance, function: str) -> None:
    """Tracing (imported here, at app build, and only when an exporter is configured) and
    the JSON request line; nothing at all when neither is on."""
    from . import tracing

    tracer = tracing.setup(instance.settings, function)
    log = instance.settings.log_format == "json"
    if tracer is None and not log:
        return
    from .telemetry import RequestTelemetry, TurnRecorder

    if tracer is not None:
        instance.tracing = tracer
        instance.turn_observers.append(tracer.turn_observer())
    if log:
        instance.turn_observers.append(TurnRecorder())
    app.add_middleware(RequestTelemetry, tracer=tracer, log=log)


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
    function: str = "query",
) -> FastAPI:
    """A function's app: its routers over ``instance``, with the shared machinery installed.

    ``lifespan`` runs inside the app's own (a reaper, an agent's init hooks); the instance
    is closed after it. ``not_found`` lets a function explain an unmatched path better than
    404 (the state function answers an id that cannot route with 422). ``body_limit``
    gives a route's body cap in bytes (default: ``MAX_REQUEST_BYTES`` everywhere).
    Every request is authenticated (``auth/``) before a route runs; ``public`` says which
    may come without credentials (default: ``/health`` and the OpenAPI document),
    ``json_route`` which take JSON bodies (default: all). ``function`` (query, state,
    sandbox) names its traces' service unless ``OTEL_SERVICE_NAME`` does.
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
        # FastAPI's own OpenTelemetry (>= 0.142) would add a second server span once a
        # global tracer provider exists; ours (telemetry.py) is lighter and also links X-Ray
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.instance = instance
    _complete_openapi(app, public or is_public)
    install_error_handlers(app, not_found)
    max_bytes = instance.settings.max_request_bytes
    app.add_middleware(HeadAsGet)
    app.add_middleware(JsonNumbers, json_route=json_route or (lambda _: True))
    app.add_middleware(BodyLimit, limit=body_limit or (lambda _: max_bytes))
    app.add_middleware(
        Authenticate,
        settings=instance.settings,
        public=public or is_public,
        json_route=json_route or (lambda _: True),
    )
    install_telemetry(app, instance, function)
    app.add_middleware(RequestIds)
    if os.environ.get("FC_FUNCTION_NAME"):  # on FC: see fc_role.py
        from .fc_role import RoleKeyFromRequests

        app.add_middleware(RoleKeyFromRequests)
    install_cors(app, instance.settings)  # outermost: preflights come without credentials
    for router in routers:
        # the routes themselves, not include_router's wrapper: FastAPI (>= 0.160) matches an
        # included router's routes through per-request route contexts, twice a request,
        # which cost more than the rest of routing; these routers set no prefix,
        # dependencies or tags at inclusion, so the OpenAPI document is the same
        app.router.routes.extend(router.routes)
    return app
