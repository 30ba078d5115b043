"""A local trace viewer: Arize Phoenix (PyPI ``arize-phoenix``) on 127.0.0.1, offline.

``make traces`` installs Phoenix into ``.venv-traces`` (its pins must not move ``.venv``'s)
and runs this file with that venv's interpreter: the web UI and the OTLP/HTTP receiver on
http://127.0.0.1:6006 (spans to ``/v1/traces``), data in ``.data/phoenix``. ``make local
TRACES=1`` points every function at it. Standard library here; Phoenix is imported last.

Phoenix binds its OTLP/gRPC receiver to every interface and has no setting for it; this
project's servers answer on loopback only, so the gRPC server's address is bound to
127.0.0.1 here. Its telemetry and its assistant's tools (shell, web, GitHub) are off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PORT = int(os.environ.get("TRACES_PORT", "6006"))
GRPC_PORT = int(os.environ.get("TRACES_GRPC_PORT", "4317"))
SETTINGS = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_PORT": str(PORT),
    "PHOENIX_GRPC_PORT": str(GRPC_PORT),
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
}


def bind_grpc_to_loopback() -> None:
    import grpc.aio

    make_server = grpc.aio.server

    def server(*args: object, **kwargs: object) -> object:
        made = make_server(*args, **kwargs)
        add_port = made.add_insecure_port
        made.add_insecure_port = lambda address: add_port(  # type: ignore[method-assign]
            "127.0.0.1:" + address.rpartition(":")[2]
        )
        return made

    grpc.aio.server = server  # type: ignore[assignment]


def main() -> None:
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
    work = Path(os.environ.setdefault("PHOENIX_WORKING_DIR", str(Path(".data/phoenix").resolve())))
    work.mkdir(parents=True, exist_ok=True)
    bind_grpc_to_loopback()
    from phoenix.server.main import main as phoenix

    print(
        f"trace viewer: http://127.0.0.1:{PORT} (OTLP/HTTP: http://127.0.0.1:{PORT}/v1/traces)",
        flush=True,
    )
    sys.argv = ["phoenix", "serve"]
    phoenix()


if __name__ == "__main__":
    main()
