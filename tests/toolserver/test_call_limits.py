"""Limits of one call: the timeout cap, a busy interpreter, output without end (issue 16, 4)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.toolserver.conftest import RunningToolServer


def text_of(result: dict) -> str:
    return "".join(part["text"] for part in result["content"])


def wait_for(path: Path, what: str, deadline_s: float = 60.0) -> None:
    """Wait for a file the sandbox writes (a readiness probe, not a timing assumption)."""
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


@pytest.fixture
def capped(start_toolserver) -> RunningToolServer:
    """A server whose longest call is 1 s (SANDBOX_MAX_CALL_TIMEOUT_S)."""
    return start_toolserver(SANDBOX_MAX_CALL_TIMEOUT_S="1", TOOLSERVER_OUTPUT_LIMIT="2000")


def test_a_cell_s_timeout_is_cut_to_the_cap(capped):
    capped.call("run_ipython_cell", code="lost = 1")
    result = capped.call("run_ipython_cell", code="while True: pass", timeout=1000000)
    assert result["isError"] is True
    text = text_of(result)
    assert "ran longer than 1 s" in text and "SANDBOX_MAX_CALL_TIMEOUT_S" in text
    assert "restarted" in text
    assert text_of(capped.call("run_ipython_cell", code="'next'")) == "'next'\n"


def test_a_command_s_timeout_is_cut_to_the_cap(capped):
    result = capped.call("run_shell_command", command="echo started; sleep 600", timeout=10**400)
    assert result["isError"] is True
    text = text_of(result)
    assert text.startswith("started") and "killed" in text
    assert "SANDBOX_MAX_CALL_TIMEOUT_S" in text


@pytest.mark.parametrize("timeout", [0, -5, "NaN", "-Infinity"])
def test_a_timeout_that_is_no_duration_is_a_clear_error(toolserver, timeout):
    with toolserver.client() as http:
        body = f'{{"command": "echo ran", "timeout": {timeout}}}'
        result = http.post("/tools/run_shell_command", content=body).json()
    assert result["isError"] is True
    assert "timeout must be a positive number" in text_of(result)
    assert "ran" not in text_of(result)


def test_a_busy_interpreter_answers_busy_at_once_and_keeps_its_cell(toolserver):
    started, go = toolserver.workspace / "started", toolserver.workspace / "go"
    toolserver.call("run_ipython_cell", code="kept = 41")
    first: list[dict] = []
    code = (
        "import os, time\n"
        "open('started', 'w').close()\n"
        "while not os.path.exists('go'):\n    time.sleep(0.01)\n"
        "print('first done')"
    )
    runner = threading.Thread(
        target=lambda: first.append(toolserver.call("run_ipython_cell", code=code, timeout=120))
    )
    runner.start()
    try:
        wait_for(started, "the first cell's start")
        busy = toolserver.call("run_ipython_cell", code="kept = 0")
        assert busy["isError"] is True
        assert text_of(busy).startswith("busy:") and "Nothing was run" in text_of(busy)
        # the shell is no interpreter: it runs next to a busy cell
        assert text_of(toolserver.call("run_shell_command", command="echo free")) == "free\n"
    finally:
        go.touch()
        runner.join()
    assert text_of(first[0]) == "first done\n"
    assert text_of(toolserver.call("run_ipython_cell", code="kept + 1")) == "42\n"


def test_a_cell_printing_100_mb_keeps_the_interpreter_and_its_variables(toolserver):
    toolserver.call("run_ipython_cell", code="kept = 'yes'")
    code = "import sys\nfor _ in range(100): sys.stdout.write('a' * 1000000)"
    result = toolserver.call("run_ipython_cell", code=code)
    text = text_of(result)
    assert result["isError"] is False, text[-300:]
    assert text.startswith("a" * 2000)
    assert "[... output truncated: 99998000 more bytes not shown ...]" in text  # limit 2000
    assert text_of(toolserver.call("run_ipython_cell", code="kept")) == "'yes'\n"


def test_output_of_a_child_process_is_capped_too(toolserver):
    code = "import os\nos.system('head -c 5000000 /dev/zero | tr \"\\\\0\" b')\n'after'"
    text = text_of(toolserver.call("run_ipython_cell", code=code))
    # 5,000,000 bytes of b, then the repr line "'after'\n" (8 bytes), past the first 2000
    assert text.startswith("b" * 2000) and "4998008 more bytes" in text


def test_a_cell_that_moves_its_output_loses_only_itself(toolserver):
    toolserver.call("run_ipython_cell", code="import os\nos.close(1)\nos.close(2)")
    assert text_of(toolserver.call("run_ipython_cell", code="print('back')")) == "back\n"


def kill_written_pid(path: Path) -> None:
    """Kill the process whose pid the sandbox wrote to ``path`` (one this test started)."""
    if path.exists() and path.read_text().strip():
        try:
            os.kill(int(path.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_background_process_holding_the_output_does_not_hold_the_call(toolserver):
    """A process in a session of its own escapes the kill and keeps the pipe open: the call
    still answers when the shell ends, not when that process does."""
    command = (
        "setsid sh -c 'echo $$ > bg.tmp; mv bg.tmp bg.pid; exec sleep 600' & "
        "while [ ! -e bg.pid ]; do sleep 0.01; done; echo done"  # it has its own session now
    )
    cell = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "open('cell.pid', 'w').write(str(p.pid))"
    )
    try:
        with toolserver.client() as http:
            # the client's timeout bounds a hang; no timing is asserted
            result = http.post(
                "/tools/run_shell_command", json={"command": command}, timeout=30
            ).json()
        assert text_of(result).startswith("done")
        toolserver.call("run_ipython_cell", code=cell)
        assert text_of(toolserver.call("run_ipython_cell", code="'still'")) == "'still'\n"
    finally:
        kill_written_pid(toolserver.workspace / "bg.pid")
        kill_written_pid(toolserver.workspace / "cell.pid")
