"""Which platform request a log line belongs to.

A function's logs are read next to the platform's own (FC's log service, CloudWatch), which
are keyed by the platform's request id. Each entry point finds that id where its platform
puts it: FC sends an ``x-fc-request-id`` header to a custom runtime; mangum hands over the
Lambda context; the Lambda Web Adapter forwards that context as JSON in
``x-amzn-lambda-context``. A logging filter stamps it on every record of the request.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import Any

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")


def request_id_of(scope: dict[str, Any]) -> str | None:
    context = scope.get("aws.context")  # set by mangum
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("x-fc-request-id"):
        return headers["x-fc-request-id"]
    lambda_context = headers.get("x-amzn-lambda-context")
    if lambda_context:
        try:
            found = json.loads(lambda_context).get("request_id")
        except (ValueError, AttributeError):
            found = None
        if found:
            return str(found)
    return headers.get("x-amzn-requestid") or None


class RequestIds:
    """ASGI middleware: the platform's request id in :data:`REQUEST_ID` while a request runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        found = request_id_of(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(found)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record, so a format string can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True
