"""Error answers on the OpenAI-compatible routes in OpenAI's shape as well as ours.

OpenAI's API answers an error with ``{"error": {"message", "type", "param", "code"}}``, and
its clients (``openai``) build the exception's text from ``error.message``: from our own
``{"code", "detail"}`` alone, a caller of ``client.responses.retrieve`` saw nothing but
"Error code: 404". Under ``PREFIX`` every JSON error answer (status 400 and up), whoever
raised it (a route, the body limit, authentication, CORS; a bug's 500, which Starlette
answers outside every middleware, through ``function_app``'s handler), keeps ``code`` and
``detail`` and gains ``error``:

* ``message``: ``detail`` as text; field errors as ``<field>: <msg>`` joined by ``; ``;
* ``type``: ``server_error`` for 5xx, else ``invalid_request_error`` (OpenAI's two kinds);
* ``param``: the first field error's field (``input[0].content``), else null;
* ``code``: our code (``response_not_found``, ``invalid_request``, ...).

Streams and successful answers pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/compatible-mode/v1/"


def openai_error(body: dict[str, Any], status: int) -> dict[str, Any]:
    """``body`` (``{"code", "detail"}``) as OpenAI's error object (see the module)."""
    detail = body.get("detail")
    param = None
    if isinstance(detail, list):
        fields = [e for e in detail if isinstance(e, dict)]
        message = "; ".join(f"{_field(e.get('loc'))}: {e.get('msg')}" for e in fields)
        param = _field(fields[0].get("loc")) if fields else None
    else:
        message = detail if isinstance(detail, str) else json.dumps(detail)
    return {
        "message": message or str(body.get("code")),
        "type": "server_error" if status >= 500 else "invalid_request_error",
        "param": param or None,
        "code": body.get("code"),
    }


def _field(loc: Any) -> str:
    """A field error's ``loc`` (``["body", "input", 0, "content"]``) as a path
    (``input[0].content``), the request part (body, query, path) left out."""
    parts = list(loc) if isinstance(loc, list | tuple) else []
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


class OpenAIErrors:
    """ASGI middleware: JSON errors under ``PREFIX`` also in OpenAI's shape (the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # an error's start, until its body is read
        chunks: list[bytes] = []

        async def reshaping(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] >= 400 and _is_json(message):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                start, body = held, reshaped(b"".join(chunks), held["status"])
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, reshaping)


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def reshaped(raw: bytes, status: int) -> bytes:
    """A JSON error body (``{"code", "detail"}``) with OpenAI's ``error`` added; anything
    else as it is."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(body, dict) or "code" not in body or "error" in body:
        return raw
    body["error"] = openai_error(body, status)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
