"""``python -m local_emulator``: every function on 127.0.0.1, state in a local folder.

What ``make local`` runs. Ports, the store and the agent app come from the same environment
variables the deployed functions read (QUERY_PORT, STATE_PORT, STORE_URL, AGENT_APP, ...);
``--store s3`` or ``--store oss`` starts a loopback S3 (moto) or OSS emulator and points
STORE_URL at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator


@contextlib.contextmanager
def _store_backend(kind: str, host: str) -> Iterator[None]:
    """Start the loopback store server ``kind`` names and point STORE_URL at it."""
    if kind == "file":
        yield
        return
    from local_emulator.moto_s3 import local_store_server

    with local_store_server(kind, host) as env:
        os.environ.update(env)
        endpoint = env.get("S3_ENDPOINT_URL") or env["OSS_ENDPOINT"]
        print(f"  {kind:<8} emulator at {endpoint} (in memory: gone on exit)", flush=True)
        yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_emulator", description=__doc__)
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--store", choices=("file", "s3", "oss"), default="file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from functions.runtime.settings import Settings

    host = args.host or Settings().emulator_host
    print("agentscope-faas local emulator", flush=True)
    with _store_backend(args.store, host):
        # the query function's agents reach sandboxes through the emulated sandbox function
        os.environ.setdefault("SANDBOX_URL", f"http://{host}:{Settings().sandbox_port}")
        settings = Settings()
        from functions.query.app import create_app as query_app
        from local_emulator.serve import Function, serve

        functions = [
            Function("query", query_app(settings), settings.query_port, "POST /process"),
        ]
        if importlib.util.find_spec("functions.state.app") is not None:
            from functions.state.app import create_app as state_app

            functions.append(
                Function("state", state_app(settings), settings.state_port, "/v1/users/...")
            )
        from functions.sandbox.app import create_app as sandbox_app

        functions.append(
            Function(
                "sandbox",
                sandbox_app(settings, reaper=True),
                settings.sandbox_port,
                f"/v1/sandboxes (on {settings.sandbox_backend})",
            )
        )
        model = (
            f"{settings.model_name} at {settings.model_base_url}"
            if settings.model_base_url
            else "offline demo model (set MODEL_BASE_URL, MODEL_API_KEY, MODEL_NAME)"
        )
        print(f"  app      {settings.agent_app}", flush=True)
        print(f"  model    {model}", flush=True)
        print(f"  store    {settings.store_url}", flush=True)
        asyncio.run(serve(functions, host))


if __name__ == "__main__":
    main()
