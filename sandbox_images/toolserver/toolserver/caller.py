"""Whether the HTTP caller of the running tool call is still there.

A stop (``POST /process/stop``, a turn budget, a client that leaves) cancels the call in the
function in front of the sandbox, which closes its connection to this server. The tool
running for it should stop as well, or its work holds the sandbox (a busy interpreter) for
nobody. The handler thread names its connection here (``serving``) while a tool runs; the
tools' own wait loops poll it beside what they wait for (``Watch``), so noticing costs no
thread and no extra wake-up. An HTTP/1.1 caller sends nothing while it waits for its answer,
so a readable socket means end-of-file or a hang-up; bytes that are really there (a client
pipelining its next request) are left alone and no longer watched.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

_current = threading.local()
_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


@contextlib.contextmanager
def serving(connection: socket.socket) -> Iterator[None]:
    """The calling thread's tool call answers ``connection`` until the block ends."""
    _current.connection = connection
    try:
        yield
    finally:
        _current.connection = None


def served() -> bool:
    """Whether the calling thread's tool call answers a caller (``serving``)."""
    return getattr(_current, "connection", None) is not None


class Watch:
    """A ``select.poll`` over the fds a tool waits on, plus its caller's socket (if any).

    ``wait(timeout_s)`` returns the ready fds of the tool's own; ``gone`` turns True once the
    caller has hung up (and stays so).
    """

    def __init__(self, *fds: int) -> None:
        self.poller = select.poll()
        for fd in fds:
            self.poller.register(fd, select.POLLIN)
        self.gone = False
        self.connection: socket.socket | None = getattr(_current, "connection", None)
        self.caller_fd = -1
        if self.connection is not None:
            self.caller_fd = self.connection.fileno()
            self.poller.register(self.caller_fd, select.POLLIN | _HANGUP)

    def wait(self, timeout_s: float) -> list[int]:
        """The tool's fds ready within ``timeout_s`` (maybe none: the caller went, or time)."""
        ready = []
        for fd, events in self.poller.poll(max(0.0, timeout_s) * 1000):
            if fd != self.caller_fd:
                ready.append(fd)
            elif self._hung_up(events):
                self.gone = True
                self._unwatch()
            else:  # real bytes: not a hang-up, and polling them again would spin
                self._unwatch()
        return ready

    def left(self) -> bool:
        """Whether the caller has hung up, checked now; safe from another thread."""
        if self.gone:
            return True
        if self.connection is None:
            return False
        poller = select.poll()
        try:
            poller.register(self.connection, select.POLLIN | _HANGUP)
        except (ValueError, OSError):  # closed already: its call is ending
            return True
        ready = poller.poll(0)
        return bool(ready) and self._hung_up(ready[0][1])

    def _hung_up(self, events: int) -> bool:
        if events & _HANGUP:
            return True
        assert self.connection is not None
        try:
            peeked = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:  # reset by the peer
            return True
        return peeked == b""

    def _unwatch(self) -> None:
        if self.caller_fd >= 0:
            self.poller.unregister(self.caller_fd)
            self.caller_fd = -1
