"""What the benchmark scripts share. They run as scripts, so this folder is on sys.path and
they import it as ``support``."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


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


def uvicorn_worker(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """One uvicorn worker serving ``app`` (``module:attribute``) on 127.0.0.1:``port`` from
    the project root, without access log; the caller waits for it to answer and stops it."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env=env)
