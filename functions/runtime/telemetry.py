"""Per request: the server span (tracing on) and the JSON request line (``LOG_FORMAT=json``).

One ASGI middleware does both in one pass, installed by the app factory only when one of
them is wanted: with tracing off and text logs a request goes through nothing of this.
The request line is written when the response has gone (its last byte sent), then a
served function whose last request in flight this was flushes its spans in the background
(``tracing.idle_flush``); under ``lambda_handler`` the handler flushes instead.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import tracing
from .logs import REQUEST, REQUEST_LOGGER, RequestRecord
from .redact import loggable_path
from .tracing import w3c

if TYPE_CHECKING:
    from .protocol import Response
    from .tracing.otel import Tracing
    from .turn import Turn

request_log = logging.getLogger(REQUEST_LOGGER)


class RequestTelemetry:
    """ASGI middleware: a server span per request (``tracer``) and/or the request line."""

    def __init__(self, app: ASGIApp, tracer: Tracing | None = None, log: bool = False) -> None:
        self.app = app
        self.tracer = tracer
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(scope["method"], loggable_path(scope["path"]))
        reset = REQUEST.set(record)
        span = None
        if self.tracer is not None:
            tracing.idle_flush.started()
            span = self.tracer.start_server_span(scope)
            record.trace_id = span.trace_id
        else:
            record.trace_id = _caller_trace_id(scope)
        status: int | None = None
        error: BaseException | None = None

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except BaseException as exc:
            error = exc
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if span is not None:
                span.end(status, route, error)
            if self.log:
                # what the caller got: the status sent, else the 500 that follows an error
                _log_request(record, scope, route, status or (500 if error else None))
            if span is not None:
                # served (FC, the Lambda Web Adapter): flush once idle; mangum: the handler does
                tracing.idle_flush.finished(flush="aws.event" not in scope)
            REQUEST.reset(reset)


def _caller_trace_id(scope: Scope) -> str | None:
    """The trace the caller put this request in, for the log line when tracing is off."""
    for key, value in scope["headers"]:
        if key == b"traceparent":
            found = w3c.traceparent(value.decode("latin-1"))
            return found.trace_id if found is not None else None
    return None


def _log_request(
    record: RequestRecord, scope: Scope, route: str | None, status: int | None
) -> None:
    principal = scope.get("state", {}).get("principal")
    turn: Turn | None = record.turn
    fields: dict[str, Any] = {
        "method": record.method,
        "route": route,
        "path": record.path,
        "status": status,
        "duration_ms": round((time.perf_counter_ns() - record.started_ns) / 1e6, 3),
        "user": getattr(principal, "user_id", None),
        "session": scope.get("path_params", {}).get("session_id"),
    }
    if turn is not None:
        calls = turn.calls
        fields["user"] = fields["user"] or turn.request.user_id
        fields["session"] = turn.request.session_id
        fields.update(
            model_calls=calls.model_calls,
            tool_calls=calls.tool_calls,
            input_tokens=calls.input_tokens,
            output_tokens=calls.output_tokens,
        )
    request_log.info(
        "%s %s %s", record.method, route or record.path, status, extra={"fields": fields}
    )


class TurnRecorder:
    """Turn observer that ties a turn to its request's log line (its session, its calls)."""

    def started(self, turn: Turn) -> None:
        record = REQUEST.get()
        if record is not None:
            record.turn = turn

    def event(self, turn: Turn, event: Any) -> None:
        pass

    def finished(self, turn: Turn, final: Response | None) -> None:
        pass
