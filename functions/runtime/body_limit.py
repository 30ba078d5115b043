"""A cap on request bodies, checked before a route reads them (HTTP 413, the one error shape).

A function's platform has a cap of its own (Lambda: 6 MB per invocation payload), but a
local run, FC's HTTP trigger or a streamed upload has none that fits the route: so every
function refuses a body over ``MAX_REQUEST_BYTES`` (file uploads to a sandbox: over
``MAX_UPLOAD_BYTES``). A declared ``Content-Length`` over the cap is refused before a byte is
read; a chunked body is counted as it arrives and refused when it passes the cap.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import InvalidRequest, PayloadTooLarge
from .http_errors import error_response

Limit = Callable[[Scope], int]


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is over this route's limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: ``limit(scope)`` bytes at most per request body."""

    def __init__(self, app: ASGIApp, limit: Limit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = _content_length(scope)
        if declared == -1:
            bad = InvalidRequest("Content-Length is not a number")
            await error_response(bad)(scope, receive, send)
            return
        if declared is not None and declared > limit:
            response = error_response(too_large(limit))
            response.headers["connection"] = "close"  # the body stays unread
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)  # answered by the app's ApiError handler
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None
