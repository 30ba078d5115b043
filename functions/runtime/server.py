"""The HTTP face of an agent app: its protocols' routers over one instance.

This lives in the runtime, not in ``functions/query``, because ``AgentApp.run()`` serves the
same thing; the query function only adds how the app is found and configured. The turn
machinery is in ``turn.py``, the SSE transport in ``sse.py``, each wire protocol in
``protocols/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from . import admin
from .budgets import TurnBudgets
from .deadlines import Deadlines
from .function_app import create_function_app, is_public
from .instance import Instance
from .protocols import PROTOCOLS, lapse_handlers, public_paths, routers
from .turn import Agent, bind_services

if TYPE_CHECKING:
    from .settings import Settings
    from .storage.base import ObjectStore


def build_app(
    agent: Agent,
    settings: Settings,
    store: ObjectStore | None = None,
    protocols: Iterable[str] = PROTOCOLS,
) -> FastAPI:
    """The ASGI app serving ``agent``; ``store`` overrides ``settings.store_url``."""
    protocols = tuple(protocols)
    instance = Instance(settings, store=store)
    instance.turn_observers.append(TurnBudgets(settings))  # TURN_MAX_*, the deadline
    instance.lapse_handlers.extend(lapse_handlers(protocols))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        bind_services(agent, instance)
        await agent.startup()
        try:
            yield
        finally:
            await agent.close()

    public = public_paths(protocols)

    def may_read(scope: Any) -> bool:
        reads = scope.get("method", "GET") in ("GET", "HEAD")
        return is_public(scope) or (reads and scope["path"] in public)

    app = create_function_app(
        title=agent.app_name,
        description=agent.app_description,
        instance=instance,
        routers=[*routers(protocols), admin.router],
        lifespan=lifespan,
        public=may_read,
    )
    app.add_middleware(Deadlines, settings=settings)  # the platform's, for TurnBudgets
    if "responses" in protocols:  # outermost: every error its clients are sent
        from .openai_errors import OpenAIErrors

        app.add_middleware(OpenAIErrors)
    app.state.agent = agent
    return app
