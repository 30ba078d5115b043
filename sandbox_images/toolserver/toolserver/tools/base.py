"""The base image's tools: stateful Python (``run_ipython_cell``) and the shell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ..output import output_limit, read_capped
from ..registry import Tool, ToolError, schema, string
from ..workspace import Workspace

DEFAULT_CELL_TIMEOUT_S = 60
DEFAULT_SHELL_TIMEOUT_S = 60
_WORKER = str(Path(__file__).resolve().parents[1] / "worker.py")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Interpreter:
    """One long-lived worker process; cells run one at a time, in the order they arrive.

    A cell that outlives its timeout, or a worker that dies (``os._exit``, a segfault, the
    OOM killer), costs the interpreter's state, never the server: the worker is killed with
    its whole process group and a fresh one starts on the next cell.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", _WORKER, str(req_r), str(ans_w)],
            pass_fds=(req_r, ans_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.workspace.root,
            start_new_session=True,  # its own group: a timeout kills what the cell spawned
        )
        os.close(req_r)
        os.close(ans_w)
        self.requests = os.fdopen(req_w, "w", encoding="utf-8")
        self.answers = os.fdopen(ans_r, "r", encoding="utf-8")

    def _stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.requests.close()
            self.answers.close()
            self.proc = None

    def run(self, code: str, timeout: float) -> tuple[str, bool]:
        """(output, ok) of one cell."""
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            if self.proc is None:
                self._start()
            out = os.path.join(tmp, "out")
            answer: list[str] = []
            timed_out = False
            try:
                self.requests.write(json.dumps({"code": code, "out": out}) + "\n")
                self.requests.flush()
                reader = threading.Thread(target=lambda: answer.append(self.answers.readline()))
                reader.start()
                reader.join(timeout)
                # still reading: the cell runs on; an empty line instead is the pipe's end,
                # the worker gone (which poll() may not report yet: the exit is in flight)
                timed_out = reader.is_alive()
            except BrokenPipeError:
                pass
            ok = bool(answer and answer[0])
            note = ""
            if not ok:
                self._stop()
                note = (
                    f"\n[the cell ran longer than {timeout:g} s and was stopped"
                    if timed_out
                    else "\n[the Python process exited"
                ) + "; the interpreter was restarted and its variables are gone]"
            output = ""
            if os.path.exists(out):
                with open(out, "rb") as f:
                    output = read_capped(f, output_limit())
            if not ok:
                return output + note, False
            return output, json.loads(answer[0])["ok"]

    def close(self) -> None:
        with self.lock:
            self._stop()


def run_shell(command: str, cwd: Path, timeout: float) -> tuple[str, int | None]:
    """(combined output, exit code or None when it timed out) of ``sh -c command``."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    result: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(
        target=lambda: result.append(read_capped(proc.stdout, output_limit()))
    )
    reader.start()
    try:
        code: int | None = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        code = None
    _kill_group(proc)  # also whatever it left running in the background
    reader.join()
    proc.stdout.close()
    return (result[0] if result else ""), code


def make_tools(workspace: Workspace) -> list[Tool]:
    interpreter = Interpreter(workspace)

    def run_ipython_cell(code: str, timeout: float = DEFAULT_CELL_TIMEOUT_S) -> str:
        output, ok = interpreter.run(code, float(timeout))
        if not ok:
            raise ToolError(output)
        return output

    def run_shell_command(command: str, timeout: float = DEFAULT_SHELL_TIMEOUT_S) -> str:
        output, code = run_shell(command, workspace.root, float(timeout))
        if code is None:
            raise ToolError(f"{output}\n[the command ran longer than {timeout:g} s and was killed]")
        if code != 0:
            raise ToolError(f"{output}\n[exit code {code}]")
        return output

    timeout = {"type": "number", "description": "seconds before it is stopped", "minimum": 1}
    return [
        Tool(
            "run_ipython_cell",
            "Run Python code in a persistent interpreter (variables survive between calls). "
            "Returns what it printed; the value of a final expression is shown too.",
            schema(["code"], code=string("Python source to run"), timeout=timeout),
            run_ipython_cell,
        ),
        Tool(
            "run_shell_command",
            "Run a shell command in the workspace; returns its combined stdout and stderr.",
            schema(["command"], command=string("the command line for /bin/sh -c"), timeout=timeout),
            run_shell_command,
        ),
    ]
