"""``/v1/sandboxes/{sandbox_id}/desktop/{view_token}/...``: a sandbox's live view (the door).

Public routes (no bearer token, no signature: a browser opens them), the view token in the
path their credential (``..desktop.viewable``). ``GET .../{path}`` serves noVNC's files and
``WebSocket .../websockify`` carries VNC, both from the sandbox's tool server (its
``/desktop/`` relay), with the backend's headers, signed as its gateway requires
(``Launcher.call_auth``: FC's triggers with ``function`` auth).
"""

import re

from fastapi import APIRouter, Request, Response, WebSocket
from starlette.types import Scope

from functions.runtime.errors import ApiError
from functions.runtime.sandbox.errors import SandboxUnreachable
from functions.runtime.ws_relay import refuse, relay, ws_url

from ..deps import SandboxInstance, SandboxInstanceDep
from ..desktop import DOOR_PREFIX, viewable
from ..proxy import checked, raw_tail

router = APIRouter(prefix=DOOR_PREFIX)

_DOOR = re.compile(r"^/v1/sandboxes/[^/]+/desktop/[^/]+/")
# what noVNC's files may be cached and framed as: a fixed client, fetched once per view
_PASSED = ("content-type", "cache-control", "last-modified", "etag")


def is_door(scope: Scope) -> bool:
    """A request to the live view's door: public (the token in its path is its credential)."""
    return _DOOR.match(scope.get("path", "")) is not None


@router.get("/{path:path}", operation_id="desktop_file", include_in_schema=False)
async def desktop_file(
    sandbox_id: str, view_token: str, path: str, request: Request, instance: SandboxInstanceDep
) -> Response:
    """One of noVNC's files (``vnc.html`` and what it loads); 400 ``invalid_path`` for a
    path that could leave the tool server's ``/desktop/`` (a ``..`` segment, encoded or
    not) or holds a control character."""
    import httpx

    raw = checked(raw_tail(request, 5), "a live view's file path")  # as it came, encoded
    record = await viewable(instance.service.registry, sandbox_id, view_token)
    try:
        upstream = await instance.http.get(
            f"{record.endpoint}/desktop/{raw}",
            params=request.url.query,
            headers=record.headers,
            auth=instance.service.launcher.call_auth(),
        )
    except httpx.TransportError as exc:
        raise SandboxUnreachable(f"sandbox {sandbox_id!r} did not answer; retry") from exc
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED}
    return Response(upstream.content, status_code=upstream.status_code, headers=headers)


@router.websocket("/websockify")
async def desktop_websocket(websocket: WebSocket, sandbox_id: str, view_token: str) -> None:
    """The VNC stream, relayed to the tool server's live view (which checks the token too)."""
    instance: SandboxInstance = websocket.app.state.instance
    try:
        record = await viewable(instance.service.registry, sandbox_id, view_token)
    except ApiError as exc:
        await refuse(websocket, exc.status)
        return
    upstream = ws_url(f"{record.endpoint}/desktop/websockify?token={view_token}")
    await relay(websocket, upstream, record.headers, instance.service.launcher.call_auth())
