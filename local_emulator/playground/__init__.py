"""The playground: a chat page for the agent, served on the query function's port.

``GET /`` is the page and ``/playground/...`` its files (plain HTML, CSS and JavaScript in
``static/``, nothing from a CDN); ``/playground/config.json`` tells the page where the
functions are and whether they want a token. Everything else goes to the query function,
except ``/v1/users/...`` and ``/v1/sandboxes/...``, which the emulator relays to the state
and sandbox functions (``proxy.py``): one origin for the page, so no function has to
answer CORS locally. For a deployment, ``agentscope-faas playground --url ...`` serves the
same page alone, and the functions answer CORS for the origins in ``CORS_ALLOW_ORIGINS``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .proxy import Proxy

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/playground/"
# the page's own files only; it may call and frame any origin (a deployment, a live view)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src *; frame-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def page_config(
    settings: Any,
    *,
    query_url: str = "",
    state_url: str = "",
    sandbox_url: str = "",
) -> dict[str, str]:
    """What ``/playground/config.json`` answers: URLs ("" = the page's origin), auth."""
    return {
        "query_url": query_url,
        "state_url": state_url,
        "sandbox_url": sandbox_url,
        "auth_mode": settings.auth_mode,
        "default_user": settings.default_user_id,
        "user_claim": settings.auth_user_claim,
    }


class Playground:
    """ASGI app: the page, the relays, and ``app`` (the query function, or None) for the rest.

    ``relays`` maps a path prefix (``/v1/users/``) to the :class:`Proxy` serving it.
    """

    def __init__(
        self,
        app: ASGIApp | None,
        config: dict[str, str],
        relays: dict[str, Proxy] | None = None,
    ) -> None:
        self.app = app
        self.config = json.dumps(config).encode()
        self.relays = relays or {}
        # a few small files, read once
        self.files = {f.name: f.read_bytes() for f in STATIC.iterdir() if f.suffix in TYPES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            if path == "/":
                await self._file(scope, send, "index.html")
                return
            if path == PREFIX + "config.json":
                await _send(scope, send, 200, self.config, "application/json")
                return
            if path.startswith(PREFIX):
                await self._file(scope, send, path[len(PREFIX) :])
                return
        for prefix, relay in self.relays.items():
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                await relay(scope, receive, send)
                return
        if self.app is None:
            await _send(scope, send, 404, b'{"code":"not_found","detail":"only the page here"}')
            return
        await self.app(scope, receive, send)

    async def _file(self, scope: Scope, send: Send, name: str) -> None:
        body = self.files.get(name)
        if body is None:
            await _send(scope, send, 404, b'{"code":"not_found","detail":"no such file"}')
            return
        await _send(scope, send, 200, body, TYPES[Path(name).suffix])

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The inner app's lifespan, with the relays' clients closed before it reports its
        shutdown complete.

        uvicorn waits for nothing in a lifespan after ``lifespan.shutdown.complete``: the
        server stops, and the event loop, as it ends, cancels whatever still runs. A close
        after that message was cut short (one loop turn a pooled connection: the more the
        page had opened, the likelier), a ``CancelledError`` traceback at Ctrl-C and
        connections left open. A lifespan cancelled after startup is the loop ending
        without a shutdown message (a second Ctrl-C forces uvicorn's exit): the relays are
        closed then, and it ends there, quietly.
        """
        started = False

        async def send_closing(message: Message) -> None:
            nonlocal started
            if message["type"] == "lifespan.startup.complete":
                started = True
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self._close_relays()
            await send(message)

        try:
            if self.app is not None:
                await self.app(scope, receive, send_closing)
            else:
                await receive()  # lifespan.startup
                await send_closing({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                await send_closing({"type": "lifespan.shutdown.complete"})
        except asyncio.CancelledError:
            if not started:
                raise  # uvicorn reports a startup that did not finish
        finally:  # also after a startup that failed, or a cancellation
            await self._close_relays()

    async def _close_relays(self) -> None:
        for relay in self.relays.values():
            await relay.aclose()


def relays_for(state_url: str, sandbox_url: str, settings: Any) -> dict[str, Proxy]:
    """The emulator's relays to its state and sandbox functions."""
    local_only = settings.auth_mode == "none"
    state = Proxy(state_url, "state", local_only=local_only)
    sandbox = Proxy(sandbox_url, "sandbox", local_only=local_only)
    return {"/v1/users/": state, "/v1/sandboxes/": sandbox}


async def _send(
    scope: Scope, send: Send, status: int, body: bytes, media: str = "application/json"
) -> None:
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if media.startswith("text/html"):
        headers.append((b"content-security-policy", CSP.encode()))
        headers.append((b"referrer-policy", b"no-referrer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def emulator_playground(query_app: ASGIApp, settings: Any, host: str) -> Playground:
    """The query function's app with the page in front and relays to the emulator's state
    and sandbox functions (on ``settings``' ports at ``host``)."""
    dial = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    relays = relays_for(
        f"http://{dial}:{settings.state_port}", f"http://{dial}:{settings.sandbox_port}", settings
    )
    return Playground(query_app, page_config(settings), relays)
