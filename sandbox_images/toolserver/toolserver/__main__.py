"""``python -m toolserver``: serve the tool sets named by TOOLSERVER_TOOLSETS until SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from . import tools
from .init import keep_memory_private
from .server import SESSION_HEADER, ToolServer
from .workspace import Workspace


def main() -> int:
    token = os.environ.get("TOOLSERVER_TOKEN", "")
    # on FC: a key shared by the function's containers, one HMAC token per session header
    token_key = "" if token else os.environ.get("TOOLSERVER_TOKEN_KEY", "")
    if not token and not token_key:
        print(
            "toolserver: neither TOOLSERVER_TOKEN nor TOOLSERVER_TOKEN_KEY is set; "
            "refusing to start",
            file=sys.stderr,
        )
        return 2
    root = os.environ.get("WORKSPACE_DIR", "/workspace")
    os.makedirs(root, exist_ok=True)
    workspace = Workspace(root)
    names = [
        n.strip() for n in os.environ.get("TOOLSERVER_TOOLSETS", "base").split(",") if n.strip()
    ]
    starters: list[Callable[[], None]] = []  # started once the secrets are gone (a desktop)
    try:
        offered = tools.load(names, workspace, starters)
    except ValueError as exc:
        print(f"toolserver: {exc}", file=sys.stderr)
        return 2
    host = os.environ.get("TOOLSERVER_HOST", "0.0.0.0")
    port = int(os.environ.get("TOOLSERVER_PORT", "8000"))
    session_header = os.environ.get("TOOLSERVER_SESSION_HEADER") or SESSION_HEADER
    view_port = int(os.environ.get("TOOLSERVER_VIEW_PORT") or 0) or None
    server = ToolServer(
        (host, port),
        token,
        offered,
        workspace,
        token_key=token_key,
        session_header=session_header,
        view_port=view_port,
    )
    # the secrets came from the environment: keep them out of what user code can read there
    os.environ.pop("TOOLSERVER_TOKEN", None)
    os.environ.pop("TOOLSERVER_TOKEN_KEY", None)
    keep_memory_private()
    for start in starters:
        start()
    if view_port:  # the live view, in this process: see liveview.py
        from . import liveview

        liveview.start(host, view_port, server.view_allowed, session_header)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"toolserver listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    if os.getpid() == 1:  # PID 1 of the container: be its init too (see init.py)
        from . import init

        sys.exit(init.run(main))
    sys.exit(main())
