"""The interpreter behind ``run_ipython_cell``: one process whose globals persist across cells.

It reads one JSON request per line on fd ``argv[1]`` (``{"code", "out"}``) and answers one
JSON line on fd ``argv[2]``. For each cell, fds 1 and 2 are pointed at the file ``out``, so
output of child processes (``os.system``) is captured too, and the protocol's own pipes are
never written by user code. Like IPython, a cell whose last statement is an expression shows
that expression's repr.
"""

from __future__ import annotations

import ast
import json
import os
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


def main() -> None:
    requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    answers = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in requests:
        request = json.loads(line)
        fd = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        ok = run_cell(request["code"], namespace)
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps({"ok": ok}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
