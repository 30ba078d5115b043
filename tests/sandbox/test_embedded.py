"""Embedded mode: the SDK, or the stdio MCP server, with no ``SANDBOX_URL`` starts its sandbox
on the Docker engine itself. Such a sandbox is no deployment's: every one on the machine has
the owner label ``embedded``. These tests find and remove sandboxes by that label, so they are
the suite's only ones that make any, and share this one file: pytest-xdist runs a file whole
on one worker, so no other test's embedded sandbox is ever there to be found or removed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from functions.runtime.sandbox import BaseSandbox
from functions.runtime.sandbox.launchers.docker import LABEL_SANDBOX
from tests.fixtures.docker import remove_owned
from tests.sandbox.support import containers_of, text_of
from tests.sandbox.test_mcp import INITIALIZE
from tests.sandbox.test_mcp_stdio import run_cells, stdio


@pytest.fixture(autouse=True)
def _embedded_removed(docker_client) -> Iterator[None]:
    """Whatever a failed test left running in embedded mode goes with it."""
    yield
    remove_owned(docker_client, "embedded")


def test_embedded_mode_starts_the_container_itself(serve, settings, docker_client):
    embedded = settings.model_copy(update={"sandbox_url": None})
    with BaseSandbox(settings=embedded) as box:
        (container,) = [
            c
            for c in containers_of(docker_client, embedded, owner="embedded")
            if c.labels[LABEL_SANDBOX] == box.sandbox_id
        ]
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert text_of(box.run_ipython_cell(code="6 * 7")) == "42\n"
    remaining = containers_of(docker_client, embedded, owner="embedded")
    assert container.id not in {c.id for c in remaining}


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_embedded_mode_starts_its_own_sandbox_and_removes_it(settings, docker_client):
    params = stdio("--type", "base", SANDBOX_URL="")
    assert asyncio.run(run_cells(params, "print('in docker')")) == ["in docker\n"]
    assert containers_of(docker_client, settings, owner="embedded") == []


def _line(proc: subprocess.Popen, message: dict) -> None:
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


@contextlib.contextmanager
def initialized_stdio_server() -> Iterator[subprocess.Popen]:
    """The stdio server in embedded mode, past MCP's handshake, its stdin kept open; killed
    on the way out whatever happened."""
    params = stdio("--type", "base", SANDBOX_URL="")
    proc = subprocess.Popen(
        [params.command, *params.args],
        env=params.env,
        cwd=params.cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        _line(proc, INITIALIZE)
        assert json.loads(proc.stdout.readline())["id"] == 1
        _line(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_ends_the_stdio_server_with_stdin_open_and_removes_its_sandbox(
    settings, docker_client, signum
):
    """A client (or a terminal) ends its server by a signal without closing stdin first: the
    server must not wait for a line that never comes, and its sandbox goes with it."""
    with initialized_stdio_server() as proc:
        call = {"name": "run_shell_command", "arguments": {"command": "echo started"}}
        _line(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
        answer = json.loads(proc.stdout.readline())
        assert answer["result"]["content"][0]["text"] == "started\n"
        assert len(containers_of(docker_client, settings, owner="embedded")) == 1
        proc.send_signal(signum)
        assert proc.wait(timeout=120) == 0  # stdin is still open
        assert containers_of(docker_client, settings, owner="embedded") == []


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_a_stop_while_the_sandbox_is_made_still_removes_it(settings, docker_client):
    """The signal comes after the container exists but before the server has its answer:
    the start runs on, and the container made goes with the process."""
    with initialized_stdio_server() as proc:
        _line(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        deadline = time.monotonic() + 120
        while not containers_of(docker_client, settings, owner="embedded"):
            assert time.monotonic() < deadline, "no container was made"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        assert containers_of(docker_client, settings, owner="embedded") == []
