"""The listening socket every server of ours hands uvicorn.

Made with ``IPPROTO_TCP``, not 0: asyncio sets ``TCP_NODELAY`` on an accepted connection
only when its socket says it is TCP. Without it, a response written in two parts (uvicorn
writes the head, then the body) waits for the client's delayed ACK: about 40 ms a response
on Linux, up to 200 ms on macOS (``benchmarks/relay_latency.py`` measured the playground's
relay paying it twice). ``uvicorn.run(host=..., port=...)`` binds through ``getaddrinfo``,
which says TCP already; a socket made by hand must say it itself.
"""

from __future__ import annotations

import socket


def tcp_socket(host: str, port: int, backlog: int | None = None) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) as uvicorn binds one
    (``SO_REUSEADDR``: a port whose last connections linger in TIME_WAIT is free), and
    listening when ``backlog`` is given (connections queue from then on, before the server
    accepts them). ``OSError`` when the address cannot be had; the socket is then closed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if backlog is not None:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
