"""The sandbox's desktop: an X display (Xvfb), a window manager (openbox) and VNC (x11vnc).

Started by the tool server (the browser and gui tool sets' start hooks) after its secrets
left the environment, so none of these processes ever held them. VNC listens on
``127.0.0.1`` inside the container only and has no password: the one way in from outside is
the live view (``liveview.py``), which checks the sandbox's view token first. Code inside the
sandbox can reach the display and VNC anyway; they are its own screen.

Settings (environment): ``DISPLAY`` (``:1``), ``DESKTOP_GEOMETRY`` (``1280x800``),
``DESKTOP_VNC_PORT`` (5900).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 15.0


def display() -> str:
    return os.environ.get("DISPLAY") or ":1"


def geometry() -> tuple[int, int]:
    width, _, height = (os.environ.get("DESKTOP_GEOMETRY") or "1280x800").partition("x")
    return int(width), int(height)


def vnc_port() -> int:
    return int(os.environ.get("DESKTOP_VNC_PORT") or 5900)


class Desktop:
    """The display's processes; ``ensure`` (re)starts whichever is not running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, "DISPLAY": display()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # its own session: a shell command's timeout kills its own group, never these
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def _alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def ensure(self) -> None:
        """Start the X server, the window manager and VNC, waiting until each answers."""
        with self.lock:
            number = display().lstrip(":").split(".")[0]
            if not self._alive("xvfb"):
                width, height = geometry()
                socket = Path(f"/tmp/.X11-unix/X{number}")
                socket.unlink(missing_ok=True)  # a dead server's socket would fool the wait
                proc = self._spawn(
                    "xvfb",
                    ["Xvfb", display(), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                )
                _wait(lambda: socket.exists(), proc, "Xvfb")
            if not self._alive("wm"):
                self._spawn("wm", ["openbox"])
            if not self._alive("vnc"):
                proc = self._spawn(
                    "vnc",
                    ["x11vnc", "-display", display(), "-rfbport", str(vnc_port()), "-localhost",
                     "-nopw", "-forever", "-shared", "-quiet"],
                )  # fmt: skip
                _wait(lambda: _listening(vnc_port()), proc, "x11vnc")


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready, proc: subprocess.Popen, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S:g} s")
        time.sleep(0.02)


DESKTOP = Desktop()
