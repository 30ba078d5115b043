"""AWS Lambda's entry point around a function's ASGI app.

Lambda calls ``lambda_handler(event, context)`` with a Function URL or API Gateway HTTP API
(payload 2.0) event; mangum turns it into one ASGI request and the response back into the
dict Lambda expects, body buffered (SSE arrives in one piece at the end, within Lambda's
6 MB response cap - the Lambda Web Adapter mode streams instead: see serve.py).

Mangum would run the app's lifespan around every invocation, which rebuilds the agent, its
clients and the store on each request and throws away what a warm instance is for. Here
the lifespan starts once, on the first invocation, and stays up for the instance's life:
Lambda freezes an idle instance and gives no shutdown hook without an extension, so the
shutdown half runs only where the process exits normally (the emulator, tests). Mangum is
imported on that first invocation, so it never weighs on the cold start of other platforms.

Lambda freezes the instance as soon as the handler returns, so every span of the invocation
is exported before it does (``tracing.force_flush``: nothing to do when tracing is off).
With ``LOG_FORMAT=json`` the runtime's own log handler writes JSON lines. An event that is
not an HTTP request mangum reads is answered 400 ``invalid_event`` (:func:`invalid_event`).
"""

from __future__ import annotations

import atexit
import json
import logging
from collections.abc import Callable
from typing import Any

from . import tracing

log = logging.getLogger("agentscope_faas")


def lambda_handler_for(app: Any) -> Callable[[dict, Any], dict]:
    adapter: Any = None
    settings = getattr(getattr(app.state, "instance", None), "settings", None)
    if settings is not None and settings.log_format == "json":
        from .logs import configure_logging

        configure_logging("json", keep_handlers=True)

    def lambda_handler(event: dict, context: Any) -> dict:
        nonlocal adapter
        if adapter is None:
            from mangum import Mangum
            from mangum.protocols.lifespan import LifespanCycle

            adapter = Mangum(app, lifespan="off")  # sets up the event loop
            cycle = LifespanCycle(app, "on")
            cycle.__enter__()
            atexit.register(cycle.__exit__, None, None, None)
        try:
            try:  # mangum's own steps (Mangum.__call__ without its lifespan: ours runs once)
                handler = adapter.infer(event, context)
                scope, body = handler.scope, handler.body
            except Exception as exc:  # the event is the invoker's; the app never ran
                return invalid_event(exc)
            from mangum.protocols.http import HTTPCycle

            return handler(HTTPCycle(scope, body)(app))
        finally:
            tracing.force_flush()

    return lambda_handler


def invalid_event(exc: Exception) -> dict[str, Any]:
    """The answer to an event mangum cannot read as an HTTP request (a direct invoke with
    ``{}``, ``headers: null``, a body that is not base64 though it says so): 400
    ``invalid_event`` in the error shape, as a Function URL / API Gateway response."""
    detail = (
        "not an HTTP request event this function reads (a Function URL, API Gateway or ALB "
        f"event): {type(exc).__name__}: {str(exc)[:200]}"
    )
    log.warning("invalid Lambda event: %s", detail)
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"code": "invalid_event", "detail": detail}),
        "isBase64Encoded": False,
    }
