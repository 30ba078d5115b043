"""The interpreter behind ``run_ipython_cell``: one process whose globals persist across cells.

It reads one JSON request per line on fd ``argv[1]`` (``{"code"}``) and answers one JSON line
(``{"ok"}``) on fd ``argv[2]``. Its fds 1 and 2 are the pipe the tool server drains into a
capped buffer, so output of child processes (``os.system``) is captured too, the protocol's
own pipes are never written by user code, and no amount of output fills a disk or the
memory. Like IPython, a cell whose last statement is an expression shows that expression's
repr. SIGINT interrupts the running cell (``KeyboardInterrupt``, as Jupyter's interrupt: the
globals stay); between cells it is ignored, so an interrupt that comes as a cell ends never
costs the process.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import sys
import traceback
from typing import Any


def run_cell(code: str, namespace: dict[str, Any]) -> bool:
    """Run ``code`` in ``namespace``; False when it raised (the traceback is printed)."""
    try:
        tree = ast.parse(code, "<cell>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), namespace)
        if last is not None:
            value = eval(compile(last, "<cell>", "eval"), namespace)
            if value is not None:
                namespace["_"] = value
                print(repr(value))
        return True
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are cell errors too
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            return True
        frames = traceback.extract_tb(exc.__traceback__)
        cell_frames = [f for f in frames if f.filename != __file__]  # hide this module
        lines = traceback.format_list(cell_frames) + traceback.format_exception_only(exc)
        sys.stderr.write("Traceback (most recent call last):\n" + "".join(lines))
        return False


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced by the cell
            pass


_running = False  # whether a cell runs: only then does SIGINT interrupt


def _interrupt(signum: int, frame: object) -> None:
    if _running:
        raise KeyboardInterrupt


def main() -> None:
    global _running
    signal.signal(signal.SIGINT, _interrupt)  # installed here: an ignored SIGINT is inherited
    requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    answers = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    output = os.dup(1)  # kept aside: a cell that closes or moves fd 1 or 2 loses only itself
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in requests:
        request = json.loads(line)
        os.dup2(output, 1)
        os.dup2(output, 2)
        try:
            _running = True
            ok = run_cell(request["code"], namespace)
            _running = False
        except KeyboardInterrupt:  # one that came while run_cell was reporting an error
            _running, ok = False, False
        _flush()  # before the answer: the server takes the output once it has the answer
        answers.write(json.dumps({"ok": ok}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
