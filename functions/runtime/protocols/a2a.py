"""A2A (Agent2Agent, spec 1.0, and 0.3's method names): the agent card and JSON-RPC.

* ``GET /.well-known/agent-card.json`` - the agent card, public like ``/health``;
* ``POST /a2a`` - JSON-RPC 2.0: ``SendMessage``, ``SendStreamingMessage`` (SSE),
  ``GetTask``, ``ListTasks``, ``CancelTask``, ``SubscribeToTask`` (SSE) and 0.3's
  ``message/send``, ``message/stream``, ``tasks/get``, ``tasks/cancel``,
  ``tasks/resubscribe``. Protocol errors are JSON-RPC errors (HTTP 200), as A2A says;
  a call without valid credentials is a 401 before any of it.

Each task is one turn of the app on the session named by its ``contextId``, stored in the
object store under its owner, so any instance answers for any task. The work is in
``a2a_server.py`` (built on the first A2A request: a2a-sdk is imported only then),
``a2a_executor.py`` and ``a2a_tasks.py``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from ..auth import get_principal
from ..function_app import RequestRoute
from ..http_errors import errors

if TYPE_CHECKING:
    from ..instance import Instance
    from .a2a_server import A2AServer

CARD_PATH = "/.well-known/agent-card.json"
RPC_PATH = "/a2a"
# what callers may read without credentials (the app factory's ``public``)
PUBLIC_PATHS = frozenset({CARD_PATH})

router = APIRouter()

RPC_BODY = {
    "requestBody": {
        "required": True,
        "description": "A JSON-RPC 2.0 request whose method is an A2A 1.0 or 0.3 method",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["jsonrpc", "method"],
                    "properties": {
                        "jsonrpc": {"const": "2.0"},
                        "id": {"type": ["string", "integer", "null"]},
                        "method": {"type": "string", "examples": ["SendMessage"]},
                        "params": {"type": "object"},
                    },
                }
            }
        },
    }
}


def server_of(request: Request) -> A2AServer:
    """The app's A2A server, built on first use (and closed with its instance)."""
    state = request.app.state
    server: A2AServer | None = getattr(state, "a2a_server", None)
    if server is None:
        instance = state.instance
        server = state.a2a_server = _server_module().A2AServer(instance, state.agent, RPC_PATH)
        instance.on_close(server.close)
    return server


def _server_module() -> Any:
    """``a2a_server.py``, which imports a2a-sdk (a few hundred milliseconds: on first use)."""
    # a2a-sdk wraps its own methods in spans, read from this variable once at import: our
    # traces have the request's and the turn's spans; its internals only on request
    os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
    from . import a2a_server

    return a2a_server


async def on_lapsed_turn(
    instance: Instance, user_id: str, response_id: str, expired_at: float
) -> None:
    """A turn (of any protocol) took over the lease, lapsed at ``expired_at`` (Unix
    seconds), of the turn writing ``response_id``: if that turn ran an A2A task and the
    lease lapsed longer ago than :func:`lost_after_s`, its instance died (or lost the
    context) before the task's end, so the task is recorded failed now (``instance_lost``)
    rather than left ``working`` once its context has moved on. Sooner, a live instance on
    a slow store may still be writing the end: the task is left to ``GetTask``, which
    records it failed once the new turn has held the context that long. One GET when no
    task has that id (a2a-sdk is imported only when one has)."""
    # here, not at import: only a turn that took over a lapsed lease needs them
    from ..services.layout import a2a_task_key
    from ..services.lock import lost_after_s
    from ..storage.keys import InvalidId

    if expired_at + lost_after_s(instance.settings) > time.time():
        return
    try:
        key = a2a_task_key(user_id, response_id)
    except InvalidId:  # no task can have that id
        return
    found = await instance.store.get(key)
    if found is not None:
        await _server_module().record_lapsed(instance.store, user_id, found)


@router.get(CARD_PATH, operation_id="a2a_agent_card", response_model=None)
async def agent_card(request: Request) -> Any:
    """The A2A agent card: name, description, skills, interfaces (JSON-RPC 1.0 and 0.3)."""
    return await server_of(request).card(request)


async def a2a(request: Request) -> Any:
    """One A2A JSON-RPC call: a JSON-RPC response, or an SSE stream for the streaming methods."""
    # read directly, not as dependencies: FastAPI runs a plain-function dependency in a
    # worker thread, two thread hops a call that this route does not need
    settings = request.app.state.instance.settings
    owner = get_principal(request).act_for(None, settings.default_user_id)
    return await server_of(request).rpc(request, owner)


router.add_api_route(
    RPC_PATH,
    operation_id="a2a",
    openapi_extra=RPC_BODY,
    response_model=None,
    responses=errors(401, 403, 413, 415),
    endpoint=a2a,
    methods=["POST"],
    route_class_override=RequestRoute,
)
