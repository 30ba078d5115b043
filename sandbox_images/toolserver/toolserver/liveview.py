"""The live view: noVNC's web client and its WebSocket bridge to the desktop's VNC server.

Served by the tool server process itself, on a second port (``TOOLSERVER_VIEW_PORT``, 6080
in the desktop images), from a thread: that process is non-dumpable and holds the sandbox's
claimed token, so the view needs no secret of its own anywhere user code could read it (no
password file, no token file, no second process's memory or command line).

- ``GET /vnc.html`` and the client's other files: noVNC's static web client (Debian's
  ``novnc`` package, the same bytes for every sandbox), served to anyone.
- ``GET /websockify?token=<view token>``: the WebSocket (RFC 6455, binary frames) that
  noVNC speaks; its messages are the RFB stream, relayed to ``127.0.0.1:DESKTOP_VNC_PORT``.
  Without the sandbox's view token it is refused with 403 before any byte reaches VNC.

The view token is ``view_token(<the sandbox's claimed tool-server token>)`` (see
``server.py``): whoever may call the sandbox's tools may watch it, the sandbox function can
compute the token from what its registry already holds, and before the claim there is none.
Knowing the view token does not give the tool token. The desktop URL opens noVNC on that
WebSocket (``path`` is noVNC's setting)::

    http://127.0.0.1:<port>/vnc.html?autoconnect=true&resize=scale
        &path=websockify%3Ftoken%3D<view token>
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import desktop

NOVNC_DIR = Path(os.environ.get("NOVNC_DIR") or "/usr/share/novnc")
WEBSOCKET_PATH = "/websockify"
_CHUNK = 1 << 16
_TYPES = {
    ".js": "text/javascript",
    ".html": "text/html",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def _static(connection: Any, path: str) -> Any:
    """The noVNC file at ``path`` as an HTTP response (404 outside the client's folder)."""
    rel = unquote(path).lstrip("/") or "vnc.html"
    root = NOVNC_DIR.resolve()
    target = (root / rel).resolve()
    if root not in target.parents or not target.is_file():
        return connection.respond(404, "not found\n")
    body = target.read_bytes()
    response = connection.respond(200, "")
    del response.headers["Content-Type"]
    del response.headers["Content-Length"]
    kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    response.headers["Content-Type"] = kind or "application/octet-stream"
    response.headers["Content-Length"] = str(len(body))
    response.headers["Cache-Control"] = "no-cache"
    response.body = body
    return response


def _relay(connection: Any) -> None:
    """Carry the RFB stream both ways until either side closes."""
    try:
        # as the tools do: a view opened while the desktop still starts waits for it (and a
        # VNC server that died is started again)
        desktop.DESKTOP.ensure()
        vnc = socket.create_connection(("127.0.0.1", desktop.vnc_port()), timeout=5)
    except (OSError, RuntimeError):
        connection.close(1011, "the desktop's VNC server is not running")
        return
    vnc.settimeout(None)

    def to_browser() -> None:
        try:
            while data := vnc.recv(_CHUNK):
                connection.send(data)
        except Exception:  # the browser left: nothing to tell anyone
            pass
        finally:
            connection.close()

    pump = threading.Thread(target=to_browser, daemon=True)
    pump.start()
    try:
        for message in connection:
            vnc.sendall(message if isinstance(message, bytes) else message.encode())
    except Exception:
        pass
    finally:
        try:
            vnc.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        vnc.close()
        pump.join(5)


def start(host: str, port: int, allowed: Callable[[str], bool]) -> Any:
    """Serve the live view on ``host:port`` from a daemon thread; returns the server.

    ``allowed(token)`` decides a WebSocket's view token (False for every token until the
    tool server is claimed).
    """
    from websockets.sync.server import serve  # the desktop images carry it in /opt/pydeps

    def process_request(connection: Any, request: Any) -> Any:
        url = urlsplit(request.path)
        if url.path != WEBSOCKET_PATH:
            return _static(connection, url.path)
        token = (parse_qs(url.query).get("token") or [""])[0]
        if not token or not allowed(token):
            return connection.respond(403, "missing or wrong view token\n")
        return None  # go on with the WebSocket handshake

    quiet = logging.getLogger("toolserver.liveview")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    server = serve(
        _relay,
        host,
        port,
        process_request=process_request,
        subprotocols=["binary"],
        select_subprotocol=lambda _conn, offered: "binary" if "binary" in offered else None,
        compression=None,  # VNC frames are compressed already; deflate would cost CPU
        max_size=None,
        logger=quiet,
    )
    threading.Thread(target=server.serve_forever, name="liveview", daemon=True).start()
    return server
