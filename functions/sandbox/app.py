"""The sandbox function: ``/v1/sandboxes`` over the registry and a launcher.

Tool calls and workspace files are proxied to the sandbox's tool server with its token, so
callers hold only a sandbox id: the token never leaves this function. Each use renews the
sandbox's TTL. The reaper runs on ``POST /v1/reaper/run`` (a timer trigger in the cloud)
and, in a long-lived process such as the emulator, every ``SANDBOX_REAP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Body, FastAPI, Request, Response
from pydantic import BaseModel, Field

from functions.runtime.errors import ApiError, error_response, install_error_handlers
from functions.runtime.sandbox.launchers import Launcher
from functions.runtime.sandbox.launchers.base import BackendThrottled, BackendUnavailable
from functions.runtime.settings import Settings, get_settings
from functions.runtime.storage.base import ObjectStore
from functions.runtime.storage.keys import validate_id

from .service import SANDBOX_TYPES, SandboxService

log = logging.getLogger("agentscope_faas.sandbox")

TOOL_CALL_TIMEOUT_S = 900.0


class CreateSandbox(BaseModel):
    type: str = Field("base", description=f"one of {', '.join(SANDBOX_TYPES)}")
    user_id: str | None = None
    session_id: str | None = None
    ttl_s: float | None = Field(None, gt=0, le=86400)


class Runtime:
    """The store, launcher and HTTP client of one instance, made on first use."""

    def __init__(
        self, settings: Settings, store: ObjectStore | None, launcher: Launcher | None
    ) -> None:
        self.settings = settings
        self._store = store
        self._launcher = launcher
        self._service: SandboxService | None = None
        self._http: Any = None

    def service(self) -> SandboxService:
        if self._service is None:
            if self._store is None:
                from functions.runtime.storage import open_store

                self._store = open_store(self.settings.store_url, self.settings)
            if self._launcher is None:
                from functions.runtime.sandbox.launchers import get_launcher

                self._launcher = get_launcher(self.settings)
            self._service = SandboxService(self._store, self._launcher, self.settings)
        return self._service

    def http(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(TOOL_CALL_TIMEOUT_S, connect=5))
        return self._http

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
        if self._http is not None:
            await self._http.aclose()


def create_app(
    settings: Settings | None = None,
    store: ObjectStore | None = None,
    launcher: Launcher | None = None,
    *,
    reaper: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime(settings, store, launcher)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # a long-lived process (the emulator) reaps and keeps the pool warm on its own
        task = asyncio.create_task(_reap_forever(runtime)) if reaper else None
        if reaper and settings.sandbox_pool_size > 0:
            runtime.service().refill_soon()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(
        title="agentscope-faas sandbox",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)

    async def throttled(_: Request, exc: BackendThrottled) -> Response:
        response = error_response(429, "backend_throttled", f"{exc}; retry later")
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return response

    async def unavailable(_: Request, exc: BackendUnavailable) -> Response:
        return error_response(503, "backend_unavailable", f"{exc}; retry later")

    app.add_exception_handler(BackendThrottled, throttled)
    app.add_exception_handler(BackendUnavailable, unavailable)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/sandboxes")
    async def create(body: CreateSandbox, response: Response) -> dict[str, Any]:
        """A sandbox; with a session_id, that session's sandbox of the type (made if absent)."""
        user = body.user_id or settings.default_user_id
        record, created = await runtime.service().create(
            body.type, user, body.session_id, body.ttl_s
        )
        response.status_code = 201 if created else 200
        return record.public()

    @app.get("/v1/sandboxes")
    async def list_sandboxes(user_id: str | None = None) -> dict[str, Any]:
        records = await runtime.service().list(user_id or settings.default_user_id)
        return {"items": [r.public() for r in records]}

    @app.get("/v1/sandboxes/{sandbox_id}")
    async def get(sandbox_id: str) -> dict[str, Any]:
        return (await runtime.service().require(sandbox_id)).public()

    @app.delete("/v1/sandboxes/{sandbox_id}")
    async def delete(sandbox_id: str) -> dict[str, Any]:
        """Idempotent: deleting what is already gone answers 200 with deleted=false."""
        validate_id(sandbox_id, "sandbox_id")
        return {"sandbox_id": sandbox_id, "deleted": await runtime.service().delete(sandbox_id)}

    @app.post("/v1/reaper/run")
    async def reap() -> dict[str, int]:
        done = await runtime.service().reap()
        return {"expired": done.expired, "orphans": done.orphans}

    @app.post("/v1/sandboxes/{sandbox_id}/pause")
    async def pause(sandbox_id: str) -> dict[str, Any]:
        """Freeze it (memory and files kept, no compute); 501 where the backend cannot."""
        return (await runtime.service().set_paused(sandbox_id, True)).public()

    @app.post("/v1/sandboxes/{sandbox_id}/resume")
    async def resume(sandbox_id: str) -> dict[str, Any]:
        return (await runtime.service().set_paused(sandbox_id, False)).public()

    async def proxy(sandbox_id: str, method: str, path: str, request: Request) -> Response:
        import httpx

        record = await runtime.service().require(sandbox_id)
        if record.paused:
            raise ApiError(
                409,
                "sandbox_paused",
                f"sandbox {sandbox_id!r} is paused; POST /v1/sandboxes/{sandbox_id}/resume first",
            )
        try:
            upstream = await runtime.http().request(
                method,
                f"{record.endpoint}{path}",
                params=dict(request.query_params),
                content=await request.body(),
                headers={
                    **record.headers,
                    "Authorization": f"Bearer {record.token}",
                    "Content-Type": request.headers.get("content-type", "application/json"),
                },
            )
        except httpx.TransportError as exc:
            log.warning("sandbox %s unreachable: %s", sandbox_id, exc)
            if await runtime.service().forget_if_gone(record):
                raise ApiError(
                    410,
                    "sandbox_gone",
                    f"sandbox {sandbox_id!r} stopped running and was removed; create a new one",
                ) from exc
            raise ApiError(
                502, "sandbox_unreachable", f"sandbox {sandbox_id!r} did not answer; retry"
            ) from exc
        judge = getattr(runtime.service().launcher, "call_error", None)
        failure = judge(upstream.status_code, upstream.content) if judge else None
        if failure is not None:  # the backend's gateway refused, not the tool server
            if isinstance(failure, ApiError) and failure.status == 410:
                await runtime.service().delete(record.id)  # gone for good: so is its record
            raise failure
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )

    @app.get("/v1/sandboxes/{sandbox_id}/tools")
    async def tools(sandbox_id: str, request: Request) -> Response:
        return await proxy(sandbox_id, "GET", "/tools", request)

    @app.post("/v1/sandboxes/{sandbox_id}/tools/{name}")
    async def call_tool(
        sandbox_id: str, name: str, request: Request, _: dict = Body(default_factory=dict)
    ) -> Response:
        """Run a tool; the body is its arguments, the answer ``{content, isError}``."""
        return await proxy(sandbox_id, "POST", f"/tools/{name}", request)

    @app.api_route("/v1/sandboxes/{sandbox_id}/files", methods=["GET"])
    async def files_root(sandbox_id: str, request: Request) -> Response:
        return await proxy(sandbox_id, "GET", "/workspace", request)

    @app.api_route(
        "/v1/sandboxes/{sandbox_id}/files/{path:path}", methods=["GET", "PUT", "POST", "DELETE"]
    )
    async def files(sandbox_id: str, path: str, request: Request) -> Response:
        return await proxy(sandbox_id, request.method, f"/workspace/{path}", request)

    return app


async def _reap_forever(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.sandbox_reap_interval_s)
        try:
            await runtime.service().reap()
        except Exception as exc:  # keep reaping: the next round may succeed
            log.warning("reaper round failed: %s", exc)
