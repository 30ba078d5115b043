"""A real tool server process on 127.0.0.1 (``python -m toolserver``), as a container runs it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import free_port, wait_http

TOOLSERVER_DIR = Path(__file__).resolve().parents[2] / "sandbox_images" / "toolserver"


@dataclass
class RunningToolServer:
    url: str
    token: str
    workspace: Path
    proc: subprocess.Popen

    def client(self, token: str | None = None) -> httpx.Client:
        token = self.token if token is None else token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=auth, timeout=60)

    def call(self, name: str, **args: object) -> dict:
        with self.client() as http:
            resp = http.post(f"/tools/{name}", json=args)
        assert resp.status_code == 200, resp.text
        return resp.json()


def toolserver_env(workspace: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(TOOLSERVER_DIR),
        "TOOLSERVER_HOST": "127.0.0.1",
        "TOOLSERVER_PORT": str(port),
        "WORKSPACE_DIR": str(workspace),
        # a display of its own: a desktop start removes the display's stale X socket, and
        # must never reach the one of the session running the tests
        "DISPLAY": f":{port}",
        **extra,
    }


@pytest.fixture
def start_toolserver(tmp_path: Path) -> Iterator[Callable[..., RunningToolServer]]:
    procs: list[subprocess.Popen] = []

    def start(*, claim: bool = True, **extra: str) -> RunningToolServer:
        """A listening server; claimed with a fresh token, as a launcher does, unless not."""
        port = free_port()
        token = secrets.token_urlsafe(32)
        workspace = tmp_path / f"workspace{len(procs)}"
        env = toolserver_env(workspace, port, **extra)
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolserver"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", proc)  # any answer (401 included) means it listens
        if claim:
            claimed = httpx.post(f"{url}/claim", headers={"Authorization": f"Bearer {token}"})
            assert claimed.status_code == 200, claimed.text
        return RunningToolServer(url, token, workspace, proc)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def toolserver(start_toolserver: Callable[..., RunningToolServer]) -> RunningToolServer:
    return start_toolserver(TOOLSERVER_OUTPUT_LIMIT="2000")
