"""One emulated Lambda instance: imports a handler from an unpacked zip and runs events.

Started by the emulator as ``python -I -S lambda_worker.py ROOT HANDLER IN_FD OUT_FD``: an
isolated interpreter (no site-packages, no PYTHON* variables, not even this file's folder
on the path) whose import path is the standard library and ROOT, the unpacked artifact,
like /var/task on Lambda. A dependency the zip lacks therefore fails here as it fails in
the cloud. Events arrive as JSON lines on IN_FD; results leave as JSON lines on OUT_FD, so
whatever the function prints stays on stdout/stderr, its log. Standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """The attributes of the LambdaContext the Python runtime passes to handlers."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ.get('AWS_REGION', 'us-east-1')}:000000000000:"
            f"function:{self.function_name}"
        )
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main() -> None:
    root, handler_name, in_fd, out_fd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sys.path.insert(0, root)
    os.chdir(root)
    inbox = os.fdopen(in_fd, "rb")
    outbox = os.fdopen(out_fd, "wb")

    def send(message: dict) -> None:
        outbox.write(json.dumps(message).encode() + b"\n")
        outbox.flush()

    module_name, _, attr = handler_name.rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # what Lambda reports as Runtime.ImportModuleError
        traceback.print_exc()
        kind = "ImportModuleError" if isinstance(exc, ImportError) else "HandlerNotFound"
        send(
            {
                "init_error": {
                    "errorType": f"Runtime.{kind}",
                    "errorMessage": f"Unable to import module '{module_name}': {exc}",
                }
            }
        )
        sys.exit(1)
    send({"ready": True, "init_ms": (time.perf_counter() - started) * 1000})
    for line in inbox:
        message = json.loads(line)
        context = Context(message["request_id"], message["deadline_ms"])
        try:
            result = handler(message["event"], context)
            send({"request_id": message["request_id"], "result": result})
        except Exception as exc:
            traceback.print_exc()
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            send({"request_id": message["request_id"], "error": error})


if __name__ == "__main__":
    main()
