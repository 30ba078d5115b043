"""When the platform will stop the invocation serving this request.

A function that overruns its timeout is killed mid-turn: nothing persisted, the session's
lease left to lapse, the caller's stream cut. So the query function learns its deadline with
each request and ends a turn cleanly before it (``budgets.py``). Each platform tells it
differently:

* Lambda through mangum: the ``LambdaContext`` in ``scope["aws.context"]``, whose
  ``get_remaining_time_in_millis()`` counts down to the invocation's end;
* Lambda through the Lambda Web Adapter: the same context as JSON in the
  ``x-amzn-lambda-context`` header, its ``deadline`` in Unix milliseconds (the adapter
  serialises the Rust runtime's ``Context``; ``deadline_ms`` is read too);
* FC: nothing per request; the function's timeout (``FUNCTION_TIMEOUT_S``, which Terraform
  sets to the configured one) counts from the request's arrival, as FC's own timer does.

The deadline is a ``time.monotonic()`` instant, so clock steps do not move it.
"""

from __future__ import annotations

import json
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from .settings import Settings

# the monotonic instant the platform ends the current request's invocation, or None
DEADLINE: ContextVar[float | None] = ContextVar("deadline", default=None)

LAMBDA_CONTEXT_HEADER = b"x-amzn-lambda-context"


def _remaining_s(scope: Scope) -> float | None:
    """Seconds the platform gives this request, from what arrived with it (None: unknown)."""
    context = scope.get("aws.context")  # set by mangum
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return float(remaining()) / 1000
        except (TypeError, ValueError):
            return None
    for key, value in scope.get("headers", ()):
        if key != LAMBDA_CONTEXT_HEADER:
            continue
        try:
            found = json.loads(value)
            deadline_ms = found.get("deadline", found.get("deadline_ms"))
            return float(deadline_ms) / 1000 - time.time()
        except (ValueError, TypeError, AttributeError):
            return None
    return None


def deadline_of(scope: Scope, settings: Settings, now: float | None = None) -> float | None:
    """The monotonic instant this request's invocation ends, or None when nothing says."""
    now = time.monotonic() if now is None else now
    remaining = _remaining_s(scope)
    if remaining is None and settings.function_timeout_s is not None:
        remaining = settings.function_timeout_s
    return None if remaining is None else now + remaining


def current_deadline() -> float | None:
    """The deadline of the request being served (monotonic), or None."""
    return DEADLINE.get()


class Deadlines:
    """ASGI middleware: the request's deadline in :data:`DEADLINE` while it is served."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = DEADLINE.set(deadline_of(scope, self.settings))
        try:
            await self.app(scope, receive, send)
        finally:
            DEADLINE.reset(token)
