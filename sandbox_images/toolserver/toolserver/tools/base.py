"""The base image's tools: stateful Python (``run_ipython_cell``) and the shell."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..caller import Watch
from ..output import OutputPipe, output_limit
from ..registry import Tool, ToolError, schema, string
from ..workspace import Workspace

DEFAULT_CELL_TIMEOUT_S = 60
DEFAULT_SHELL_TIMEOUT_S = 60
DEFAULT_MAX_CALL_TIMEOUT_S = 300.0
INTERRUPT_GRACE_S = 5.0  # a cell whose caller left has this long to end after its SIGINT
_WORKER = str(Path(__file__).resolve().parents[1] / "worker.py")


def max_call_timeout() -> float:
    """The longest ``timeout`` a call gets, in seconds (``SANDBOX_MAX_CALL_TIMEOUT_S``).

    Longer ones are cut to it, so no call holds the interpreter (or a proxy in front of the
    sandbox) longer than the deployment allows.
    """
    raw = os.environ.get("SANDBOX_MAX_CALL_TIMEOUT_S", "")
    try:
        value = float(raw) if raw else DEFAULT_MAX_CALL_TIMEOUT_S
    except ValueError:
        value = DEFAULT_MAX_CALL_TIMEOUT_S
    return value if math.isfinite(value) and value > 0 else DEFAULT_MAX_CALL_TIMEOUT_S


def call_timeout(requested: float, cap: float) -> float:
    """``requested`` seconds, at most ``cap``; ToolError for what is no duration at all."""
    try:
        value = float(requested)
    except OverflowError:  # an integer beyond any float
        value = math.inf if requested > 0 else -math.inf
    if value == math.inf:
        return cap  # as long as allowed
    if not math.isfinite(value) or value <= 0:
        raise ToolError(f"timeout must be a positive number of seconds, got {requested!r}")
    return min(value, cap)


def _ran_too_long(what: str, timeout: float, cap: float, ending: str) -> str:
    limit = " (this sandbox's longest call: SANDBOX_MAX_CALL_TIMEOUT_S)" if timeout >= cap else ""
    return f"\n[{what} ran longer than {timeout:g} s{limit} and was {ending}"


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


class Interpreter:
    """One long-lived worker process, running one cell at a time.

    A call that finds a cell running answers "busy" at once rather than queueing behind it.
    Output goes through a drained pipe into a capped buffer (``OutputPipe``), so a cell that
    prints without end costs neither the interpreter nor the sandbox's memory. A cell that
    outlives its timeout, or a worker that dies (``os._exit``, a segfault, the OOM killer),
    costs the interpreter's state, never the server: the worker is killed with its whole
    process group and a fresh one starts on the next cell.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.cell_started = 0.0
        self.cell_timeout = 0.0
        self.interrupted = False  # the running cell's caller left and it got SIGINT
        self.watch: Watch | None = None  # the running cell's watch on its caller

    def _start(self) -> None:
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", _WORKER, str(req_r), str(ans_w)],
                pass_fds=(req_r, ans_w),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                cwd=self.workspace.root,
                start_new_session=True,  # its own group: a timeout kills what the cell spawned
            )
        except BaseException:
            for fd in (req_r, req_w, ans_r, ans_w, out_r, out_w):
                os.close(fd)
            raise
        for fd in (req_r, ans_w, out_w):
            os.close(fd)
        self.requests = os.fdopen(req_w, "w", encoding="utf-8")
        self.answers = ans_r
        self.output = OutputPipe(out_r, output_limit())

    def _stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.requests.close()
            os.close(self.answers)
            self.proc = None

    def _answer(self, timeout: float) -> dict | None:
        """The worker's answer line; None when it is gone. TimeoutError past ``timeout``.

        A caller that hangs up meanwhile (a stopped turn) interrupts the cell: SIGINT to the
        worker's group, as Jupyter's interrupt does, so the cell ends with KeyboardInterrupt
        and the variables stay. One that ignores it is stopped ``INTERRUPT_GRACE_S`` later as
        a timed-out cell is, so the interpreter is never busy for a caller who has gone.
        """
        deadline = time.monotonic() + timeout
        watch = self.watch = Watch(self.answers)
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not watch.wait(left):
                if watch.gone and self.proc is not None and not self.interrupted:
                    self.interrupted = True
                    _signal_group(self.proc, signal.SIGINT)
                    deadline = min(deadline, time.monotonic() + INTERRUPT_GRACE_S)
                continue
            chunk = os.read(self.answers, 4096)
            if not chunk:
                return None  # the pipe's end: the worker exited
            line += chunk
        return json.loads(line)

    def busy_note(self) -> str:
        running = time.monotonic() - self.cell_started
        left = max(0.0, self.cell_timeout - running)
        return (
            f"busy: another cell is still running in this interpreter (for {running:.0f} s; "
            f"it is stopped at the latest in {left:.0f} s). Nothing was run; call again "
            "when it has finished - the variables are kept."
        )

    def run(self, code: str, timeout: float, cap: float) -> tuple[str, bool]:
        """(output, ok) of one cell; ToolError "busy" when another cell is running."""
        if not self.lock.acquire(blocking=False):
            # a cell whose caller has left is being interrupted: its end is near, so wait
            # for it rather than answer busy to the next turn that comes right after a stop
            watch = self.watch
            gone = watch is not None and watch.left()
            if not (gone and self.lock.acquire(timeout=INTERRUPT_GRACE_S + 1)):
                raise ToolError(self.busy_note())
        try:
            return self._run(code, timeout, cap)
        finally:
            self.watch = None
            self.lock.release()

    def _run(self, code: str, timeout: float, cap: float) -> tuple[str, bool]:
        if self.proc is None:
            self._start()
        self.cell_started, self.cell_timeout = time.monotonic(), timeout
        self.interrupted = False
        self.output.begin()
        answer: dict | None = None
        timed_out = False
        try:
            self.requests.write(json.dumps({"code": code}) + "\n")
            self.requests.flush()
            answer = self._answer(timeout)
        except BrokenPipeError:
            pass
        except TimeoutError:
            timed_out = True
        if answer is None:
            self._stop()  # first: what it wrote before it was killed is then all there
        output = self.output.end()
        if answer is not None:
            return output, bool(answer.get("ok"))
        note = (
            _ran_too_long("the cell", timeout, cap, "stopped")
            if timed_out
            else "\n[the Python process exited"
        )
        return output + note + "; the interpreter was restarted and its variables are gone]", False

    def close(self) -> None:
        with self.lock:
            self._stop()


def run_shell(command: str, cwd: Path, timeout: float) -> tuple[str, int | None]:
    """(combined output, exit code or None when it timed out) of ``sh -c command``.

    The output is taken when the shell ends, not at the pipe's end-of-file: something it
    left running in a session of its own may hold the pipe open long after. A caller that
    hangs up meanwhile (a stopped turn) has the command killed with its process group.
    """
    read_end, write_end = os.pipe()
    output = OutputPipe(read_end, output_limit())  # it closes read_end once writers are gone
    output.begin()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=write_end,
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    code = _wait(proc, timeout)
    _kill_group(proc)  # also whatever it left running in the background
    return output.end(), code


def _wait(proc: subprocess.Popen, timeout: float) -> int | None:
    """``proc``'s exit code; None past ``timeout`` or once the caller has hung up."""
    deadline = time.monotonic() + timeout
    ended = os.pidfd_open(proc.pid)  # readable when the process ends
    try:
        watch = Watch(ended)
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0 or watch.gone:
                return None
            watch.wait(left)
        return proc.returncode
    finally:
        os.close(ended)


def make_tools(workspace: Workspace) -> list[Tool]:
    interpreter = Interpreter(workspace)
    cap = max_call_timeout()

    def run_ipython_cell(code: str, timeout: float = DEFAULT_CELL_TIMEOUT_S) -> str:
        output, ok = interpreter.run(code, call_timeout(timeout, cap), cap)
        if not ok:
            raise ToolError(output)
        return output

    def run_shell_command(command: str, timeout: float = DEFAULT_SHELL_TIMEOUT_S) -> str:
        limit = call_timeout(timeout, cap)
        output, code = run_shell(command, workspace.root, limit)
        if code is None:
            raise ToolError(output + _ran_too_long("the command", limit, cap, "killed]"))
        if code != 0:
            raise ToolError(f"{output}\n[exit code {code}]")
        return output

    timeout = {
        "type": "number",
        "description": f"seconds before it is stopped; at most {cap:g} (longer is cut to that)",
        "minimum": 1,
    }
    return [
        Tool(
            "run_ipython_cell",
            "Run Python code in a persistent interpreter (variables survive between calls). "
            "Returns what it printed; the value of a final expression is shown too. One cell "
            "runs at a time: a call while another runs answers busy.",
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
