"""The emulator as an ASGI app (control and data plane on one port), and its command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute

from functions.runtime.settings import Settings
from local_emulator.acs_signature import Credential

from .models import AgentRunBackend
from .responses import AgentRunResponses
from .urls import CONTROL_PLANE, DATA_PLANE, DATA_PLANE_METHODS

log = logging.getLogger("agentscope_faas.emulator.agentrun")


def _control_route(responses: AgentRunResponses, method: str, path: str, action: str) -> Route:
    async def endpoint(request: Request) -> Any:
        return await responses.control(request, action)

    return Route(path, endpoint, methods=[method], name=action)


def create_app(
    backend: AgentRunBackend,
    credentials: dict[str, Credential],
    *,
    idle_check_s: float = 1.0,
) -> Starlette:
    """``credentials``: AccessKey id -> secret (and STS token) the emulator accepts."""
    responses = AgentRunResponses(backend, credentials)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async def reap_idle() -> None:
            while True:
                await asyncio.sleep(idle_check_s)
                try:
                    await backend.reap_idle()
                except Exception as exc:  # keep enforcing: the next round may succeed
                    log.warning("idle reaping failed: %s", exc)

        task = asyncio.create_task(reap_idle())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await responses.close()
            await backend.close()

    routes = [_control_route(responses, *entry) for entry in CONTROL_PLANE]
    routes.append(Route(DATA_PLANE, responses.data_plane, methods=DATA_PLANE_METHODS))
    routes.append(WebSocketRoute(DATA_PLANE, responses.data_plane_websocket))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.backend = backend
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local_emulator.agentrun",
        description="A local AgentRun (2025-09-10) control and data plane on Docker.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args(argv)
    settings = Settings()
    key_id, secret = settings.alibaba_cloud_access_key_id, settings.alibaba_cloud_access_key_secret
    if key_id is None or secret is None:
        parser.error("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")

    import uvicorn

    backend = AgentRunBackend(settings, region=settings.agentrun_region or settings.fc_region)
    app = create_app(backend, {key_id.get_secret_value(): Credential(secret.get_secret_value())})
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
