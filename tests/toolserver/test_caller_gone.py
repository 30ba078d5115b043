"""A tool call whose HTTP caller hangs up stops its work (a stopped turn, issue 15/22)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.servers import free_port, wait_http
from tests.toolserver.conftest import RunningToolServer
from tests.toolserver.test_call_limits import text_of, wait_for

MISBEHAVING = Path(__file__).with_name("misbehaving_mcp.py")
DEADLINE_S = 30.0  # far below the 600 s the work would take if nothing stopped it


def hang_up_during(server: RunningToolServer, tool: str, args: dict, started: Path) -> None:
    """Send a call, wait until its work has started, then close the connection unanswered."""
    url = urlsplit(server.url)
    body = json.dumps(args).encode()
    head = (
        f"POST /tools/{tool} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head + body)
        wait_for(started, f"{tool}'s start")
    # closed here, before any answer


def until_free(server: RunningToolServer, code: str) -> dict:
    """The first answer to ``code`` that is not "busy" (the interrupt lands asynchronously)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = server.call("run_ipython_cell", code=code)
        if not text_of(result).startswith("busy:"):
            return result
        assert time.monotonic() < deadline, "the cell kept running after its caller left"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended too


def test_a_cell_whose_caller_left_is_interrupted_and_keeps_its_variables(toolserver):
    code = "import time\nx = 1\nopen('started', 'w').close()\ntime.sleep(600)\nx = 2"
    args = {"code": code, "timeout": 600}
    hang_up_during(toolserver, "run_ipython_cell", args, toolserver.workspace / "started")
    result = toolserver.call("run_ipython_cell", code="x")  # at once: it waits out the interrupt
    assert result["isError"] is False, text_of(result)
    assert text_of(result) == "1\n"  # the interpreter was interrupted, not restarted


def test_an_interrupted_cell_ends_with_keyboard_interrupt(toolserver):
    code = (
        "import time\nopen('started', 'w').close()\n"
        "try:\n    time.sleep(600)\nexcept KeyboardInterrupt:\n    how = 'interrupted'"
    )
    hang_up_during(toolserver, "run_ipython_cell", {"code": code}, toolserver.workspace / "started")
    assert text_of(until_free(toolserver, "how")) == "'interrupted'\n"


def test_a_cell_that_ignores_the_interrupt_is_stopped_after_a_grace(toolserver):
    code = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "open('started', 'w').close()\ntime.sleep(600)"
    )
    hang_up_during(toolserver, "run_ipython_cell", {"code": code}, toolserver.workspace / "started")
    result = until_free(toolserver, "'fresh'")
    assert text_of(result) == "'fresh'\n"


def test_a_command_whose_caller_left_is_killed_with_its_group(toolserver):
    pid_file = toolserver.workspace / "pid"
    command = "sleep 600 & echo $! > pid.tmp; mv pid.tmp pid; wait"
    hang_up_during(toolserver, "run_shell_command", {"command": command, "timeout": 600}, pid_file)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + DEADLINE_S
    while not gone(pid):
        assert time.monotonic() < deadline, "the command kept running after its caller left"
        time.sleep(0.05)


def test_a_caller_that_stays_gets_its_answer(toolserver):
    """The watch on the caller's socket does not cut a call whose caller waits."""
    code = "import time\ntime.sleep(0.5)\n'done'"
    assert text_of(toolserver.call("run_ipython_cell", code=code)) == "'done'\n"
    result = toolserver.call("run_shell_command", command="sleep 0.5; echo done")
    assert text_of(result) == "done\n"


@pytest.fixture
def url_server(toolserver) -> Iterator[dict]:
    """The misbehaving server over Streamable HTTP, in the workspace as a stdio one runs."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(MISBEHAVING), "--http", str(port)], cwd=toolserver.workspace
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield {"url": f"http://127.0.0.1:{port}/mcp"}
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("transport", ["stdio", "url"])
def test_a_call_to_an_mcp_server_whose_caller_left_is_cancelled(toolserver, request, transport):
    """The MCP server in the sandbox gets ``notifications/cancelled`` for the request."""
    if transport == "url":
        config = request.getfixturevalue("url_server")
    else:
        config = {"command": sys.executable, "args": [str(MISBEHAVING), "good"]}
    with toolserver.client() as http:
        added = http.post("/mcp-servers", json={"mcpServers": {"m": config}})
    assert added.status_code == 200, added.text
    started = time.monotonic()
    hang_up_during(toolserver, "m__slow", {}, toolserver.workspace / "slow-started")
    log = toolserver.workspace / "cancelled.log"
    deadline = time.monotonic() + DEADLINE_S
    while not (log.exists() and log.read_text().endswith("\n")):
        assert time.monotonic() < deadline, "the MCP server was never told of the cancel"
        time.sleep(0.05)
    (request_id,) = log.read_text().split()
    assert int(request_id) > 2  # 1 and 2 were initialize and tools/list
    assert time.monotonic() - started < DEADLINE_S  # far below its 600 s
    # the server and the tool server go on
    assert toolserver.call("m__echo", text="on")["content"] == [{"type": "text", "text": "on"}]
