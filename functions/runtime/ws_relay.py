"""Relay one WebSocket to another (RFC 6455): what a door in front of a live view does.

The sandbox function's live-view route and the emulated platforms' HTTP triggers (FC's carry
WebSockets) hand a caller's WebSocket on to the server behind them. The upstream connection
is made first, with the caller's subprotocols; only when it is open is the caller's accepted,
with the subprotocol upstream chose, so a refusal upstream (a wrong view token: 403) reaches
the caller as a refused handshake, never as an open socket that closes. Messages then flow
both ways unchanged (binary stays binary) until either side closes.

The client is the ``websockets`` package's, dialling the URL directly (never through an
HTTP proxy of the environment). Where the upstream's gateway wants signed requests (an FC
HTTP trigger with ``function`` auth), the handshake is signed by the same ``httpx.Auth`` that
signs the plain requests to it (``signed_headers``): a handshake is a GET with no body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.websockets import WebSocket

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("agentscope_faas.ws_relay")

OPEN_TIMEOUT_S = 10.0
# headers of the caller's handshake that belong to that handshake alone
_HANDSHAKE = {
    "host",
    "connection",
    "upgrade",
    "content-length",
    "transfer-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
}


def ws_url(http_url: str) -> str:
    """``http(s)://...`` as ``ws(s)://...``."""
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :]
    return http_url


def passed_headers(headers: Mapping[str, str], dropped: set[str] | frozenset = frozenset()) -> dict:
    """The caller's handshake headers a relay may pass on (not the handshake's own)."""
    return {k: v for k, v in headers.items() if k.lower() not in _HANDSHAKE | set(dropped)}


def signed_headers(auth: httpx.Auth, url: str, headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus what ``auth`` adds to a bodiless ``GET url`` (http(s) or ws(s)): the
    signature of a WebSocket handshake, made by the signer of the upstream's plain requests.
    The ``Host`` it signs is the one a client sends for ``url`` (not returned: the WebSocket
    client sends its own, the same)."""
    import httpx

    http_url = "http" + url[2:] if url.startswith("ws") else url
    request = httpx.Request("GET", http_url, headers=dict(headers))
    flow = auth.sync_auth_flow(request)
    signed = next(flow)
    flow.close()
    return {k: v for k, v in signed.headers.items() if k.lower() not in ("host", "content-length")}


async def refuse(client: WebSocket, status: int = 403) -> None:
    """Refuse the caller's handshake with an HTTP ``status`` (where the server can send one;
    otherwise close before accepting, which servers answer with 403)."""
    if "websocket.http.response" in client.scope.get("extensions", {}):
        await client.send_denial_response(Response(status_code=status))
    else:
        await client.close(code=1008)


async def relay(
    client: WebSocket,
    upstream_url: str,
    headers: Mapping[str, str],
    auth: httpx.Auth | None = None,
) -> None:
    """Connect to ``upstream_url`` (ws:// or wss://) with ``headers`` (the handshake signed
    by ``auth`` when given), then carry messages between it and ``client`` (not yet
    accepted) until either closes.

    An upstream that refuses the handshake refuses the caller with the same status; one that
    does not answer, with 502.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    offered = client.scope.get("subprotocols") or []
    sent = signed_headers(auth, upstream_url, headers) if auth is not None else dict(headers)
    try:
        upstream = await connect(
            upstream_url,
            additional_headers=sent,
            subprotocols=offered or None,
            compression=None,  # relay frames as they are; a VNC stream is compressed already
            max_size=None,
            proxy=None,
            open_timeout=OPEN_TIMEOUT_S,
            user_agent_header=None,
        )
    except InvalidStatus as exc:
        await refuse(client, exc.response.status_code)
        return
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        log.warning("websocket relay: upstream did not open (%s)", type(exc).__name__)
        await refuse(client, 502)
        return
    async with upstream:
        await client.accept(subprotocol=upstream.subprotocol)
        await _pump(client, upstream)


async def _pump(client: WebSocket, upstream: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    async def down() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in upstream:
                if isinstance(message, bytes):
                    await client.send_bytes(message)
                else:
                    await client.send_text(message)

    async def up() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            await upstream.send(data if data is not None else message.get("text", ""))

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
        # the upstream's own close (e.g. 1011 with why) reaches the caller unchanged
        code = upstream.close_code if upstream.close_code not in (None, 1005, 1006) else 1000
        with contextlib.suppress(Exception):  # the caller may have gone already
            await client.close(code=code, reason=upstream.close_reason or None)
