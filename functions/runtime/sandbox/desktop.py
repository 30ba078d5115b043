"""Desktop sandboxes (browser, gui): which types have a desktop, its live view, launch extras.

A desktop sandbox runs an X display with a window manager, Chromium and a VNC server
inside the container, and its tool server serves the **live view** on a second port
(``LIVE_VIEW_PORT``, and relayed under ``/desktop/`` on the tool port): noVNC's web client,
and a WebSocket to the VNC server that opens only with the sandbox's *view token*. The view
token is derived from the sandbox's claimed tool-server token (hex HMAC-SHA256 of a fixed
label under it; ``sandbox_images/toolserver`` derives it the same way), so whoever holds the
tool token can compute the view URL and nothing more has to be stored; the view token alone
does not open the tools.

Two ways in: on Docker, the live-view port published on 127.0.0.1 (``desktop_url``); on
every backend, the sandbox function's door (``door_desktop_url``), which checks the token
and relays to the tool port's ``/desktop/`` with the backend's headers.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlsplit

from .types import SANDBOX_TYPES

LIVE_VIEW_PORT = 6080
# the same live view relayed on the tool server's port (one-port platforms: FC, AgentRun)
TOOL_PORT_PREFIX = "/desktop"
VIEW_LABEL = b"agentscope-faas desktop view"
# the desktop's own screen inside the container (DESKTOP_GEOMETRY in the images)
SCREEN = (1280, 800)


def has_desktop(sandbox_type: str) -> bool:
    """Whether the registry's type ``sandbox_type`` has a desktop (False for unknown names)."""
    found = SANDBOX_TYPES.get(sandbox_type)
    return found is not None and found.desktop


def view_token(tool_token: str) -> str:
    """The live-view token of the sandbox whose tool-server token is ``tool_token``."""
    return hmac.new(tool_token.encode(), VIEW_LABEL, hashlib.sha256).hexdigest()


def desktop_url(view_base: str, tool_token: str) -> str:
    """The noVNC page under ``view_base``, connected to the sandbox's desktop:
    ``<view_base>/vnc.html?autoconnect=true&resize=scale&path=<prefix>websockify?token=...``.

    ``view_base`` is where the live view's files are: the live-view port's base URL
    (``Launched.desktop_endpoint``), the tool server's URL plus ``/desktop`` (the same view
    relayed on the tool port), or a proxy's prefix. ``path`` is noVNC's setting for the
    WebSocket's path from the host's root, percent-encoded.
    """
    base = view_base.rstrip("/")
    prefix = urlsplit(base).path.strip("/")
    ws_path = f"{prefix}/websockify" if prefix else "websockify"
    path = quote(f"{ws_path}?token={view_token(tool_token)}", safe="")
    return f"{base}/vnc.html?autoconnect=true&resize=scale&path={path}"


def door_path(sandbox_id: str, tool_token: str) -> str:
    """Where the sandbox function serves a sandbox's live view: every request under it
    carries the view token in its path, so the door checks it before going upstream."""
    return f"/v1/sandboxes/{sandbox_id}/desktop/{view_token(tool_token)}"


def door_desktop_url(door: str, sandbox_id: str, tool_token: str) -> str:
    """The live view through the sandbox function at ``door`` (its base URL):
    ``<door>/v1/sandboxes/<id>/desktop/<view token>/vnc.html#autoconnect=true&resize=scale
    &path=<door's path>v1/sandboxes/<id>/desktop/<view token>/websockify``.

    noVNC reads its settings from the fragment too (never sent to a server); its files load
    relative to the page, so under the same token-bearing prefix.
    """
    base = door.rstrip("/") + door_path(sandbox_id, tool_token)
    ws_path = quote(urlsplit(base).path.strip("/") + "/websockify", safe="")
    return f"{base}/vnc.html#autoconnect=true&resize=scale&path={ws_path}"


def docker_run_extras(sandbox_type: str, base: dict[str, Any]) -> dict[str, Any]:
    """``containers.run`` options of a desktop sandbox on top of the defaults ``base``.

    Chromium's profile and caches live in /tmp and the home directory, larger tmpfs mounts
    than a code sandbox's (the root stays read-only); /dev/shm is bigger than Docker's 64 MB;
    Chromium's processes and threads need a higher (still bounded) pids limit; the live-view
    port is published on 127.0.0.1 like the tool server's.
    """
    if not has_desktop(sandbox_type):
        return base
    tmpfs = dict(base.get("tmpfs", {}))
    tmpfs["/tmp"] = "rw,nosuid,nodev,size=512m"
    tmpfs["/home/sandbox"] = "rw,nosuid,nodev,size=256m,uid=1000,gid=1000"
    return {
        **base,
        "tmpfs": tmpfs,
        "shm_size": "256m",
        "pids_limit": max(int(base.get("pids_limit") or 0), 1024),
        "ports": {**base.get("ports", {}), f"{LIVE_VIEW_PORT}/tcp": ("127.0.0.1", None)},
    }
