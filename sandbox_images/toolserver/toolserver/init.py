"""PID 1 of a sandbox container: the tool server's own init.

Docker's ``--init`` (tini) would be PID 1 with the container's environment, which holds the
tool server's secret (``TOOLSERVER_TOKEN``), and it runs with the sandbox's uid and is
dumpable: user code could read ``/proc/1/environ``. So when the tool server finds itself PID
1 it makes itself non-dumpable first (its ``/proc`` files then belong to root), forks the
server as its only child, and does what an init does: reaps every orphan reparented to it,
forwards SIGTERM/SIGINT/SIGHUP to the server, and exits with the server's status.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable


def keep_memory_private() -> None:
    """Make this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``).

    Popping the secrets from ``os.environ`` hides them from the processes started later, but
    the process's first environment block stays in its memory, readable by anything with its
    uid at ``/proc/<pid>/environ`` - and user code runs with its uid. A non-dumpable process's
    ``/proc`` files belong to root and it cannot be ptraced, so its environment and memory
    stay private; its children (the user's code) are dumpable again after their exec; a
    forked child keeps the flag.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # 4 = PR_SET_DUMPABLE
    except (OSError, AttributeError):  # not Linux: nothing of this kind to protect
        pass


def run(serve: Callable[[], int]) -> int:
    """Be PID 1 around ``serve`` (run in a forked child); the child's exit status."""
    keep_memory_private()
    child = os.fork()
    if child == 0:
        try:
            code = serve()
        except BaseException:
            code = 1
            import traceback

            traceback.print_exc()
        os._exit(code)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.wait()  # the server, or any orphan reparented to PID 1
        except ChildProcessError:
            return 0
        if pid == child:
            return os.waitstatus_to_exitcode(status)
