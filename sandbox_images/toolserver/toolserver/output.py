"""Bounded output: a tool never returns (or holds in memory) more than the limit."""

from __future__ import annotations

import os
import select
import threading
from typing import BinaryIO

DEFAULT_LIMIT = 65536
_CHUNK = 65536


def output_limit() -> int:
    return int(os.environ.get("TOOLSERVER_OUTPUT_LIMIT", DEFAULT_LIMIT))


def cut_marker(omitted: int) -> str:
    return f"\n[... output truncated: {omitted} more bytes not shown ...]"


class Capped:
    """The first ``limit`` bytes of what is added, and a count of the rest (never stored)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.omitted = 0

    def add(self, chunk: bytes) -> None:
        room = max(0, self.limit - len(self.kept))
        self.kept += chunk[:room]
        self.omitted += max(0, len(chunk) - room)

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        return text + cut_marker(self.omitted) if self.omitted else text


def read_capped(stream: BinaryIO, limit: int) -> str:
    """Read ``stream`` to its end, keeping the first ``limit`` bytes and counting the rest."""
    capped = Capped(limit)
    while chunk := stream.read(_CHUNK):
        capped.add(chunk)
    return capped.text()


class OutputPipe:
    """The read end of a pipe that processes write their output to, drained all the time.

    A thread reads whatever arrives, so a writer never blocks on a full pipe and no output
    piles up on disk or in memory: between ``begin()`` and ``end()`` it goes into a
    ``Capped`` buffer, at other times (a background process of an earlier call) it is
    dropped. ``end()`` takes what was written before it without waiting for the pipe's
    end-of-file, which a process left running in the background may hold off for ever. The
    thread closes the descriptor at end-of-file (when every writer is gone), so the number
    is never reused under it.
    """

    def __init__(self, fd: int, limit: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._limit = limit
        self._lock = threading.Lock()
        self._capture: Capped | None = None
        self._closed = False
        threading.Thread(target=self._pump, name="output-pipe", daemon=True).start()

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while True:
            poller.poll()
            with self._lock:
                if not self._drain():
                    os.close(self._fd)
                    self._closed = True
                    return

    def _drain(self) -> bool:
        """Read what is there now (lock held); False at end-of-file."""
        if self._closed:
            return False
        while True:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            if self._capture is not None:
                self._capture.add(chunk)

    def begin(self) -> None:
        with self._lock:
            self._drain()  # what came before is not this call's
            self._capture = Capped(self._limit)

    def end(self) -> str:
        """What was written since ``begin()``, capped; call it once the writer is done."""
        with self._lock:
            self._drain()
            capture, self._capture = self._capture, None
        return capture.text() if capture is not None else ""
