"""``python -m toolserver``: serve the tool sets named by TOOLSERVER_TOOLSETS until SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from . import tools
from .server import Starts, ToolServer
from .workspace import Workspace

# what earlier launchers put in the environment; a secret there is readable by user code
_SECRETS_IN_ENV = ("TOOLSERVER_TOKEN", "TOOLSERVER_TOKEN_KEY")


def keep_memory_private() -> None:
    """Make this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``).

    User code runs with this process's uid, so without this it could read the claimed token
    from ``/proc/<pid>/mem`` or ptrace the server. A non-dumpable process's ``/proc`` files
    belong to root and it cannot be ptraced; its children (the user's code) are dumpable
    again after their exec.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # 4 = PR_SET_DUMPABLE
    except (OSError, AttributeError):  # not Linux: nothing of this kind to protect
        pass


def _start_all(starters: list[Callable[[], None]], starts: Starts) -> None:
    try:
        for start in starters:
            try:
                start()
            except Exception as exc:  # the tools that need it report it (and try again) on use
                print(f"toolserver: a tool set failed to start: {exc}", file=sys.stderr, flush=True)
                starts.failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        starts.done.set()  # GET /ready: whatever started is as warm as it gets


def main() -> int:
    given = [name for name in _SECRETS_IN_ENV if os.environ.get(name)]
    if given:
        print(
            f"toolserver: {', '.join(given)} is set, but a secret in the container's "
            "environment is readable by the code the sandbox runs (/proc/1/environ); "
            "refusing to start. The launcher claims the server with POST /claim instead.",
            file=sys.stderr,
        )
        return 2
    root = os.environ.get("WORKSPACE_DIR", "/workspace")
    os.makedirs(root, exist_ok=True)
    workspace = Workspace(root)
    names = [
        n.strip() for n in os.environ.get("TOOLSERVER_TOOLSETS", "base").split(",") if n.strip()
    ]
    starters: list[Callable[[], None]] = []  # what a tool set starts with the server (a desktop)
    try:
        offered = tools.load(names, workspace, starters)
    except ValueError as exc:
        print(f"toolserver: {exc}", file=sys.stderr)
        return 2
    host = os.environ.get("TOOLSERVER_HOST", "0.0.0.0")
    port = int(os.environ.get("TOOLSERVER_PORT", "8000"))
    view_port = int(os.environ.get("TOOLSERVER_VIEW_PORT") or 0) or None
    starts = Starts() if starters else None  # what the tool sets start (GET /ready)
    server = ToolServer((host, port), offered, workspace, view_port=view_port, starts=starts)
    keep_memory_private()  # before the first request: the token arrives with a claim
    if starts is not None:  # a desktop comes up behind the listening server; its tools wait
        threading.Thread(
            target=_start_all, args=(starters, starts), name="starters", daemon=True
        ).start()
    if view_port:  # the live view, in this process: see liveview.py
        from . import liveview

        liveview.start(host, view_port, server.view_allowed)
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
    sys.exit(main())
