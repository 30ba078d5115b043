"""The sandbox function: ``/v1/sandboxes`` over the registry and a launcher.

Tool calls and workspace files are proxied to the sandbox's tool server with its token
(``proxy.py``), so callers hold only a sandbox id: the token never leaves this function.
Browser and gui sandboxes' live views have a public door here (``desktop.py``), opened by
the view token alone; ``SANDBOX_ROUTES=desktop`` serves that door and nothing else (a
deployment's anonymous trigger).
Each use renews the sandbox's TTL. The reaper runs on ``POST /v1/reaper/run`` (a timer
trigger in the cloud) and, in a long-lived process such as the emulator, every
``SANDBOX_REAP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from functions.runtime.function_app import create_function_app, is_public
from functions.runtime.sandbox.launchers import Launcher
from functions.runtime.settings import Settings, get_settings
from functions.runtime.storage.base import ObjectStore

from .deps import SandboxInstance
from .routes import admin, desktop, files, mcp, reaping, sandboxes, tools

log = logging.getLogger("agentscope_faas.sandbox")


def create_app(
    settings: Settings | None = None,
    store: ObjectStore | None = None,
    launcher: Launcher | None = None,
    *,
    reaper: bool = False,
) -> FastAPI:
    """The sandbox function's ASGI app; ``reaper``: reap and keep the pool warm in-process."""
    instance = SandboxInstance(settings or get_settings(), store=store, launcher=launcher)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_reap_forever(instance)) if reaper else None
        if reaper and instance.settings.sandbox_pool_size > 0:
            instance.service.refill_soon()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # the live view's anonymous door serves its routes alone (SANDBOX_ROUTES=desktop)
    door_only = instance.settings.sandbox_routes == "desktop"
    modules = (desktop,) if door_only else (sandboxes, tools, files, reaping, mcp, admin, desktop)
    return create_function_app(
        title="agentscope-faas sandbox",
        instance=instance,
        routers=[sandboxes.health_router, *(m.router for m in modules)],
        lifespan=lifespan,
        body_limit=files.body_limit(instance.settings),
        json_route=lambda scope: not files.is_upload(scope),
        public=lambda scope: is_public(scope) or desktop.is_door(scope),
        function="sandbox",
    )


async def _reap_forever(instance: SandboxInstance) -> None:
    while True:
        await asyncio.sleep(instance.settings.sandbox_reap_interval_s)
        try:
            await instance.service.reap()
        except Exception as exc:  # keep reaping: the next round may succeed
            log.warning("reaper round failed: %s", exc)
