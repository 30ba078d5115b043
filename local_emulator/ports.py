"""The ports a local server binds, checked before anything slow starts.

``make local`` builds images and starts store and cloud emulators before it serves; a port
another program holds would otherwise be found only at the end, as one bind error per
server. :func:`check_free` finds it first and says which variable names the port, in one
line: ``QUERY_PORT=8090: 127.0.0.1:8090 is in use``.
"""

from __future__ import annotations

import errno
import socket
from typing import Any


class PortInUse(Exception):
    """A port a server needs cannot be bound: the message names it and where it came from."""


def emulator_ports(
    settings: Any, *, offline_model: bool, desktop_door: bool = False
) -> dict[str, int]:
    """The variables naming the ports ``python -m local_emulator`` binds, and their values."""
    ports = {
        "QUERY_PORT": settings.query_port,
        "STATE_PORT": settings.state_port,
        "SANDBOX_PORT": settings.sandbox_port,
    }
    if offline_model:  # no MODEL_BASE_URL: the emulator serves the offline model
        ports["MODEL_PORT"] = settings.model_port
    if desktop_door:  # --artifacts --platform fc: the live views' door
        ports["SANDBOX_DESKTOP_PORT"] = settings.sandbox_desktop_port
    return ports


def bind(host: str, port: int, source: str) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn binds one (``SO_REUSEADDR``: a port whose
    last connections linger in TIME_WAIT is free); ``PortInUse`` naming ``source`` (the
    variable or option that chose the port) when it cannot be had."""
    from functions.runtime.sockets import tcp_socket

    try:
        return tcp_socket(host, port)
    except OSError as exc:
        raise PortInUse(f"{source}={port}: {host}:{port} {_why(exc)}") from None


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "is in use"
    if exc.errno == errno.EACCES:
        return "may not be bound by this user (ports below 1024 need root)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "is not an address of this machine"
    return f"cannot be bound ({exc.strerror or exc})"


def check_free(ports: dict[str, int], host: str) -> None:
    """``PortInUse`` unless every port is free on ``host`` and each variable has its own:
    one line naming every variable whose port cannot be had."""
    problems = []
    seen: dict[int, str] = {}
    for source, port in ports.items():
        if port in seen:
            problems.append(f"{source}={port}: the same port as {seen[port]}")
            continue
        seen[port] = source
        try:
            bind(host, port, source).close()
        except PortInUse as exc:
            problems.append(str(exc))
    if problems:
        raise PortInUse("; ".join(problems))
