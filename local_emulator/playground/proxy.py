"""A reverse proxy for the playground's origin: ``/v1/users/...`` to the state function and
``/v1/sandboxes/...`` to the sandbox function, so the page reaches all three functions on
its own origin and no function has to answer CORS.

The functions' own defenses still decide: the request goes upstream with its headers as
they came (``Origin``, ``Authorization``, ``Content-Type``), so a cross-site page is refused
there as it would be directly. What the function cannot see through the relay is checked
here first under ``AUTH_MODE=none`` (``functions.runtime.auth.local.check_local_caller``):
the caller's address (upstream, every request comes from 127.0.0.1) and its ``Host`` (the
upstream's own goes instead, so that a desktop sandbox's ``desktop_url`` names the sandbox
function itself; DNS rebinding stays refused). Bodies stream both ways (tool calls
may run for minutes, uploads may be large); the path goes as it came, percent-encoding
included (ids with an encoded ``/``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from functions.runtime.auth.local import check_local_caller
from functions.runtime.errors import ApiError
from functions.runtime.http_errors import error_response
from functions.runtime.json_numbers import has_body

if TYPE_CHECKING:
    import httpx
    from starlette.types import Receive, Scope, Send

# RFC 9110 7.6.1: meant for one connection, never relayed
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)


class UpstreamUnavailable(ApiError):
    status = 502
    code = "upstream_unavailable"


class Proxy:
    """ASGI app relaying every HTTP request to ``upstream`` (a base URL, no path)."""

    def __init__(
        self, upstream: str, name: str, *, local_only: bool, connect_timeout_s: float = 10.0
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.name = name
        self.local_only = local_only  # AUTH_MODE=none: callers on this machine only
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            # no read timeout: a tool call answers when it is done (the function caps it)
            timeout = httpx.Timeout(None, connect=self.connect_timeout_s)
            self._client = httpx.AsyncClient(timeout=timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the client and every upstream connection it holds, an in-flight relayed
        stream's too (its response ends there); a closed relay's close does nothing. A
        cancellation of the caller meanwhile does not cut the close short (connections
        left open): the close runs to its end, then the cancellation goes on."""
        client, self._client = self._client, None
        if client is None:
            return
        closing = asyncio.ensure_future(client.aclose())
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await asyncio.wait([closing])
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import httpx

        if scope["type"] != "http":
            return
        if self.local_only:
            try:
                check_local_caller(scope)
            except ApiError as exc:
                await error_response(exc)(scope, receive, send)
                return
        target = self.upstream.encode() + scope.get("raw_path", scope["path"].encode())
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        request = self.client().build_request(
            scope["method"],
            httpx.URL(target.decode("latin-1")),
            headers=headers,
            content=_body(receive) if has_body(scope) else None,
        )
        try:
            response = await self.client().send(request, stream=True)
        except httpx.TransportError as exc:
            # httpx's timeouts and some protocol errors have no text: name their class
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await error_response(
                UpstreamUnavailable(f"the {self.name} function at {self.upstream}: {why}")
            )(scope, receive, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return
