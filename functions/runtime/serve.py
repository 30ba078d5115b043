"""``python -m functions.runtime.serve module:attr``: one function's ASGI app over HTTP.

What runs in a function that gets HTTP rather than events: FC's custom runtime starts the
``bootstrap`` of the package, and on AWS the Lambda Web Adapter starts ``run.sh``; both exec
this. It listens where the platform says - FC_SERVER_PORT on FC (9000 unless the function's
customRuntimeConfig says otherwise), AWS_LWA_PORT or PORT under the adapter (8080) - on all
interfaces, as FC requires (a custom runtime bound to 127.0.0.1 is never reached).
SERVE_HOST overrides the address for local runs and tests. Responses stream, so SSE events
reach the caller as they are produced. Log lines are ``LOG_FORMAT``'s; in JSON the app
writes the request lines itself (``telemetry.py``), so uvicorn's access log is off.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from functions.runtime.logs import configure_logging as configure
from functions.runtime.settings import get_settings

DEFAULT_PORT = 9000


def listen_port(env: dict[str, str] | os._Environ[str] = os.environ) -> int:
    for name in ("FC_SERVER_PORT", "AWS_LWA_PORT", "PORT"):
        if env.get(name):
            return int(env[name])
    return DEFAULT_PORT


def configure_logging() -> None:
    configure(get_settings().log_format, sys.stderr)


def load(target: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise SystemExit(f"usage: python -m functions.runtime.serve module:attr (got {target!r})")
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m functions.runtime.serve module:attr")
    configure_logging()
    import uvicorn

    uvicorn.run(
        load(args[0]),
        host=os.environ.get("SERVE_HOST", "0.0.0.0"),
        port=listen_port(),
        lifespan="on",
        log_config=None,  # keep the handler above: every line carries the request id
        access_log=get_settings().log_format == "text",
        timeout_keep_alive=75,  # FC and the adapter reuse connections; outlive their idle time
    )


if __name__ == "__main__":
    main()
