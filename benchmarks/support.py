"""What the benchmark scripts share. They run as scripts, so this folder is on sys.path and
they import it as ``support``."""

from __future__ import annotations

import socket
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish(name: str, text: str) -> None:
    """Print the figures and keep them in benchmarks/results/<name>.txt."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.txt").write_text(text.rstrip("\n") + "\n")
