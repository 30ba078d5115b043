"""AWS Lambda's entry point around a function's ASGI app.

Lambda calls ``lambda_handler(event, context)`` with a Function URL, API Gateway (REST, HTTP
API payload 1.0 or 2.0) or ALB event; mangum turns it into one ASGI request and the response
back into the dict Lambda expects, body buffered (SSE arrives in one piece at the end, within
Lambda's 6 MB response cap - the Lambda Web Adapter mode streams instead: see serve.py).

Mangum would run the app's lifespan around every invocation, which rebuilds the agent, its
clients and the store on each request and throws away what a warm instance is for. Here
the lifespan starts once, on the first invocation, and stays up for the instance's life:
Lambda freezes an idle instance and gives no shutdown hook without an extension, so the
shutdown half runs only where the process exits normally (the emulator, tests). Mangum is
imported on that first invocation, so it never weighs on the cold start of other platforms.

Lambda freezes the instance as soon as the handler returns, so every span of the invocation
is exported before it does (``tracing.force_flush``: nothing to do when tracing is off).
With ``LOG_FORMAT=json`` the runtime's own log handler writes JSON lines. An event that is
not an HTTP request mangum reads is answered 400 ``invalid_event`` (:func:`invalid_event`),
and a response too large for Lambda 413 ``response_too_large`` (:func:`response_too_large`).
Mangum decodes every event's path once and gives no ``raw_path``, which is wrong for some
sources and loses an encoded ``/`` for all: :func:`http_paths` sets both as a server would.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

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
                paths = http_paths(event)
                if paths is not None:
                    # the stage is the app's root for the URLs it makes, not for routing
                    scope["path"], scope["raw_path"], scope["app_root_path"] = paths
                    scope["root_path"] = ""
            except Exception as exc:  # the event is the invoker's; the app never ran
                return invalid_event(exc)
            from mangum.protocols.http import HTTPCycle

            result = handler(HTTPCycle(scope, body)(app))
            size, limit = response_size(result), response_limit(event)
            if size <= limit:
                return result
            return handler(response_too_large(size, limit, kept_headers(result)))
        finally:
            tracing.force_flush()

    return lambda_handler


# Lambda's cap on a buffered invocation's response: past it the invocation fails and the
# caller gets the Function URL's bare 502, whatever the app answered; an ALB takes 1 MB
RESPONSE_LIMIT = 6 * 1024 * 1024
ALB_RESPONSE_LIMIT = 1024 * 1024
_PYTHON_RUNTIME = re.compile(r"AWS_Lambda_python3\.(\d+)")
_CORS_HEADER = re.compile(r"access-control-|vary$", re.I)


def response_limit(event: dict) -> int:
    """The most response JSON the source of ``event`` passes on (:data:`RESPONSE_LIMIT`)."""
    from_alb = "elb" in (event.get("requestContext") or {})
    return ALB_RESPONSE_LIMIT if from_alb else RESPONSE_LIMIT


def response_size(result: dict[str, Any]) -> int:
    """Bytes of ``result`` as the Lambda runtime sends it: JSON, with non-ASCII escaped
    (``\\uXXXX``) by the runtimes before Python 3.12 and sent as UTF-8 from 3.12 on."""
    version = _PYTHON_RUNTIME.fullmatch(os.environ.get("AWS_EXECUTION_ENV", ""))
    escaped = version is None or int(version.group(1)) < 12
    return len(json.dumps(result, ensure_ascii=escaped).encode("utf-8", "surrogatepass"))


def kept_headers(result: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The CORS headers of a response (mangum's output, either header shape), kept on the
    answer that replaces it so a browser can read that answer."""
    kept: list[tuple[bytes, bytes]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        kept += [(name.encode(), str(v).encode()) for v in values if _CORS_HEADER.match(name)]
    for name, value in (result.get("headers") or {}).items():
        if _CORS_HEADER.match(name):
            kept.append((name.encode(), str(value).encode()))
    return kept


def response_too_large(
    size: int, limit: int, headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """The answer in place of a response over ``limit`` (base64 and JSON escapes
    included), in mangum's response shape so each source gets its own format. A 4xx: the
    request asked for more than one invocation can return, and asking again unchanged
    never succeeds; a smaller page does, as does the streaming deployment."""
    detail = (
        f"the response is {size} bytes, over the {limit}-byte cap of a Lambda function's "
        "buffered response here: ask for less (a smaller limit or page), or deploy the "
        "function with response streaming"
    )
    log.warning("response too large for Lambda: %s", detail)
    body = json.dumps({"code": "response_too_large", "detail": detail}).encode()
    kept = [(b"content-type", b"application/json"), *(headers or [])]
    return {"status": 413, "headers": kept, "body": body}


# what a percent-encoded path keeps as it is (RFC 3986's pchar and "/"), apart from "%"
_PATH_SAFE = "/!$&'()*+,;=:@"
# the API's own endpoint, where a named stage is the path's first segment (a custom domain
# maps stages without one)
_EXECUTE_API = re.compile(r"[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", re.I)
# a Function URL's host, and the emulator's (the Host it was called on: a loopback address)
_FUNCTION_URL = re.compile(
    r"[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws|(localhost|127\.0\.0\.1|\[::1\])(:\d+)?", re.I
)


def http_paths(event: dict) -> tuple[str, bytes, str] | None:
    """The ASGI ``path`` and ``raw_path`` of an HTTP event, and the stage its URLs go under
    (``/prod``; "" for none), for Starlette's ``app_root_path``.

    Function URLs, REST APIs and ALBs pass the path on as the client sent it, still
    percent-encoded, so ``raw_path`` keeps ``a%2Fb`` one segment (the apps route ids with a
    ``/`` in them) and ``path`` is decoded once. An HTTP API (an event with a ``version``
    that is not a Function URL's) decodes the path itself, on any domain (``rawPath`` of
    payload 2.0 and ``path`` of 1.0 alike; an encoded ``/`` or ``?`` is gone before the
    function runs), so it is not decoded again: ``50%25`` stays ``50%``. On an API's own
    execute-api endpoint a named stage is in the URL: an HTTP API puts it in front of the
    path, which loses it here; a REST API's path leaves it out. Either way the stage is
    returned, so the URLs the app gives out (an agent card's, a live view's) carry it while
    routing never sees it. An event without a path (Lambda@Edge's) keeps mangum's reading:
    None.
    """
    context = event.get("requestContext") or {}
    version = event.get("version")
    if version == "2.0":
        path = event.get("rawPath") or context["http"]["path"]
    elif "path" in event:
        path = event["path"]
    else:
        return None
    path = path or "/"
    domain = str(context.get("domainName", ""))
    stage = context.get("stage")
    named_stage = (
        f"/{stage}" if stage and stage != "$default" and _EXECUTE_API.fullmatch(domain) else ""
    )
    if version and not _FUNCTION_URL.fullmatch(domain):  # an HTTP API: decoded already
        if named_stage and (path + "/").startswith(named_stage + "/"):
            path = path[len(named_stage) :] or "/"
        return path, quote(path, safe=_PATH_SAFE).encode("ascii"), named_stage
    raw = quote(path, safe=_PATH_SAFE + "%")  # a client's stray space or non-ASCII encoded
    return unquote(raw), raw.encode("ascii"), named_stage


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
