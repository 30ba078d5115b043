"""``python -m local_emulator``: every function on 127.0.0.1, state in a local folder.

What ``make local`` runs. Ports, the store and the agent app come from the same environment
variables the deployed functions read (QUERY_PORT, STATE_PORT, STORE_URL, AGENT_APP, ...);
``--store s3`` or ``--store oss`` starts a loopback S3 (moto) or OSS emulator and points
STORE_URL at it. ``--artifacts`` runs each function from its built zip instead of from
this checkout (see artifacts.py).

Every port it will bind is checked free before anything starts (``ports.py``). When it
stops, the sandboxes whose records die with it (the ``--store s3|oss`` emulators) are
ended; a folder's are kept for the next run (``sandbox_shutdown.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from local_emulator.ports import PortInUse, check_free, emulator_ports

if TYPE_CHECKING:
    from local_emulator.serve import Function


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


@contextlib.contextmanager
def _sandbox_backend(kind: str | None, host: str) -> Iterator[None]:
    """Start the emulated cloud API ``kind`` names and point the sandbox launcher at it."""
    if kind in (None, "docker"):
        if kind:
            os.environ["SANDBOX_BACKEND"] = kind
        yield
        return
    if kind == "fc":
        from local_emulator.fc import fc_emulator

        with fc_emulator(host, account_id=os.environ.get("FC_ACCOUNT_ID")) as env:
            os.environ.update(env)
            print(
                f"  fc api   {env['FC_ENDPOINT']} (FC 3.0 API; sessions on Docker; "
                "their triggers take signed calls only: function auth)",
                flush=True,
            )
            yield
        return
    from local_emulator.agentrun.local import agentrun_emulator

    with agentrun_emulator(host) as env:
        os.environ.update(env)
        endpoint = env["AGENTRUN_ENDPOINT"]
        print(f"  agentrun {endpoint} (AgentRun API; sandboxes on Docker)", flush=True)
        yield


def _offline_model(host: str) -> Function | None:
    """With no model configured: the offline demo model's endpoint, MODEL_BASE_URL on it."""
    if os.environ.get("MODEL_BASE_URL"):
        return None
    from functions.runtime.settings import Settings
    from local_emulator.chat_completions import OFFLINE_API_KEY, OFFLINE_MODEL, offline_model_app
    from local_emulator.serve import Function

    port = Settings().model_port
    os.environ["MODEL_BASE_URL"] = f"http://{host}:{port}/v1"
    if not os.environ.get("MODEL_API_KEY"):
        os.environ["MODEL_API_KEY"] = OFFLINE_API_KEY
    # requests (and their traces, logs) name the model that answers them
    os.environ.setdefault("MODEL_NAME", OFFLINE_MODEL)
    return Function("model", offline_model_app(), port, "/v1/chat/completions (offline demo)")


def main(argv: list[str] | None = None) -> None:
    try:
        run(argv)
    except PortInUse as exc:  # one line, the variable named; nothing was started
        raise SystemExit(f"python -m local_emulator: {exc}") from None


def run(argv: list[str] | None = None) -> None:
    """``main`` without its error line: ``PortInUse`` when a port it needs is taken."""
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["token"]:  # `python -m local_emulator token --user alice`
        from local_emulator.tokens import main as token_main

        raise SystemExit(token_main(args_in[1:]))
    parser = argparse.ArgumentParser(prog="python -m local_emulator", description=__doc__)
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--store", choices=("file", "s3", "oss"), default="file")
    parser.add_argument(
        "--sandbox-backend",
        choices=("docker", "fc", "agentrun"),
        default=os.environ.get("SANDBOX_BACKEND") or None,
        help="where sandboxes run: local Docker, or FC's or AgentRun's API emulated on Docker "
        "(default: SANDBOX_BACKEND, else docker)",
    )
    parser.add_argument(
        "--artifacts",
        nargs="?",
        const="dist/manifest.json",
        metavar="MANIFEST",
        help="run the packaged zips named by this manifest (default dist/manifest.json)",
    )
    parser.add_argument(
        "--platform",
        choices=("aws", "fc"),
        default="aws",
        help="with --artifacts: Lambda Function URLs (aws) or FC HTTP triggers (fc)",
    )
    parser.add_argument(
        "--sandbox-url-auth",
        choices=("signed", "none"),
        default="signed",
        help="with --artifacts: the sandbox function's URL admits only calls the query "
        "function's role signed (AWS_IAM on aws, 'function' on fc: Terraform's defaults), "
        "or anyone (none)",
    )
    parser.add_argument(
        "--buffered",
        action="store_true",
        help="with --artifacts on aws: the query function through mangum, not the adapter",
    )
    args = parser.parse_args(argv)
    if args.sandbox_backend not in (None, "docker", "fc", "agentrun"):  # from SANDBOX_BACKEND
        parser.error(f"SANDBOX_BACKEND={args.sandbox_backend!r}: use docker, fc or agentrun")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from functions.runtime.settings import Settings

    try:
        given = Settings()  # as the environment says before the emulator adds to it
    except ValueError as exc:  # pydantic's ValidationError: one line, the setting named
        parser.exit(2, f"python -m local_emulator: bad settings: {' '.join(str(exc).split())}\n")
    if given.log_format == "json":  # as the functions log on the platforms
        from functions.runtime.logs import configure_logging

        configure_logging("json", sys.stdout)

    host = args.host or given.emulator_host
    # before the store and cloud emulators start: a taken port is one line, nothing started
    desktop_door = bool(args.artifacts) and args.platform == "fc"
    check_free(
        emulator_ports(
            given, offline_model=not os.environ.get("MODEL_BASE_URL"), desktop_door=desktop_door
        ),
        host,
    )
    print("agentscope-faas local emulator", flush=True)
    with _store_backend(args.store, host), _sandbox_backend(args.sandbox_backend, host):
        # the query function's agents reach sandboxes through the emulated sandbox function
        os.environ.setdefault("SANDBOX_URL", f"http://{host}:{Settings().sandbox_port}")
        offline = _offline_model(host)
        settings = Settings()
        if args.artifacts:
            _serve_artifacts(args, settings, host, offline)
            return
        from functions.query.app import create_app as query_app
        from local_emulator.playground import emulator_playground
        from local_emulator.serve import Function, serve

        functions = [
            Function(
                "query",
                emulator_playground(query_app(settings), settings, host),
                settings.query_port,
                "POST /process, /compatible-mode/v1/responses, /ag-ui, /a2a; GET / the playground",
            ),
        ]
        if importlib.util.find_spec("functions.state.app") is not None:
            from functions.state.app import create_app as state_app

            functions.append(
                Function("state", state_app(settings), settings.state_port, "/v1/users/...")
            )
        from functions.sandbox.app import create_app as sandbox_app
        from local_emulator.sandbox_shutdown import SandboxesAtShutdown, store_dies_with_process

        # a store that dies with the emulator takes its sandboxes' records, an emulated cloud
        # their sessions: end them as it stops; else they are kept for the next run
        # (sandbox_shutdown.py)
        why = ""
        if store_dies_with_process(settings.store_url, args.store != "file"):
            why = "their records are in memory, gone with the emulator"
        elif args.sandbox_backend in ("fc", "agentrun"):
            why = f"the {args.sandbox_backend} emulator they run on stops with it"
        functions.append(
            Function(
                "sandbox",
                SandboxesAtShutdown(sandbox_app(settings, reaper=True), end=bool(why), why=why),
                settings.sandbox_port,
                f"/v1/sandboxes (on {settings.sandbox_backend})",
            )
        )
        if offline is not None:
            functions.append(offline)
        model = (
            f"{settings.model_name} at {settings.model_base_url}"
            if offline is None
            else f"offline demo model at {settings.model_base_url} "
            "(set MODEL_BASE_URL, MODEL_API_KEY, MODEL_NAME for a real one)"
        )
        print(f"  app      {settings.agent_app}", flush=True)
        print(f"  model    {model}", flush=True)
        print(f"  store    {settings.store_url}", flush=True)
        _print_traces(settings)
        asyncio.run(serve(functions, host))


def _serve_artifacts(
    args: argparse.Namespace, settings: Any, host: str, offline: Function | None = None
) -> None:
    """Each function from its zip, in processes of its own, behind its platform's trigger."""
    from pathlib import Path

    from local_emulator.artifacts import ArtifactError, functions
    from local_emulator.serve import Function, serve

    store_url = settings.store_url
    scheme, _, path = store_url.partition("://")
    if scheme == "file":  # the functions run in their own folders: give them an absolute path
        store_url = f"file://{Path(path).resolve()}"
    common = {"STORE_URL": store_url}
    sandbox_url = f"http://{host}:{settings.sandbox_port}"
    model = {
        k: os.environ[k]
        for k in ("MODEL_BASE_URL", "MODEL_API_KEY", "MODEL_NAME")
        if k in os.environ
    }
    # the trigger's own URL for the agent card (behind a Function URL event the app would see
    # https, as it does in the cloud; here the trigger is plain http)
    a2a_url = f"http://{host}:{settings.query_port}"
    environment = {
        "query": {
            **common,
            "SANDBOX_URL": sandbox_url,
            "A2A_PUBLIC_URL": a2a_url,
            **(model if offline else {}),
        },
        "state": dict(common),
        "sandbox": dict(common),
    }
    for name, env in environment.items():  # as Terraform names them (OTEL_* are inherited)
        env["OTEL_SERVICE_NAME"] = os.environ.get("OTEL_SERVICE_NAME") or f"agentscope-{name}"
    verifier = None
    if args.sandbox_url_auth == "signed":  # the query role's key, as the platform hands it over
        from local_emulator.url_auth import role_keys

        role_env, verifier = role_keys(args.platform, os.environ.get("AWS_REGION", "us-east-1"))
        scheme = "aws_iam" if args.platform == "aws" else "fc"
        environment["query"].update({**role_env, "SANDBOX_URL_AUTH": scheme})
    manifest = Path(args.artifacts)
    stack = contextlib.ExitStack()
    cloud = stack.enter_context(_cloud_sandboxes(host))
    if args.platform == "fc":  # an FC function may not set FC_*: the launcher's other names
        other = {
            "FC_ENDPOINT": "SANDBOX_FC_ENDPOINT",
            "FC_SANDBOX_FUNCTION_PREFIX": "SANDBOX_FC_FUNCTION_PREFIX",
        }
        cloud = {other.get(name, name): value for name, value in cloud.items()}
    environment["sandbox"].update(cloud)
    copies = {}
    if args.platform == "fc":
        # the live view's door: the sandbox zip again, serving its desktop routes alone
        # behind an anonymous trigger (a browser cannot sign), as Terraform deploys it;
        # Lambda's Function URLs carry no WebSocket, so aws has none
        copies["sandbox-desktop"] = "sandbox"
        door_url = f"http://{host}:{settings.sandbox_desktop_port}"
        environment["sandbox"]["SANDBOX_DESKTOP_URL"] = door_url
        environment["sandbox-desktop"] = {"SANDBOX_ROUTES": "desktop"}
    try:
        apps = functions(
            manifest,
            args.platform,
            environment,
            buffered=args.buffered,
            work_dir=Path(".data/artifacts").resolve() / args.platform,
            copies=copies,
        )
    except (ArtifactError, FileNotFoundError) as exc:
        stack.close()
        raise SystemExit(f"--artifacts: {exc}") from None
    if verifier is not None:
        from local_emulator.url_auth import SignedOnly

        apps["sandbox"] = SignedOnly(apps["sandbox"], verifier)
    from local_emulator.playground import emulator_playground

    apps["query"] = emulator_playground(apps["query"], settings, host)
    ports = {"query": settings.query_port, "state": settings.state_port}
    ports["sandbox"] = settings.sandbox_port
    ports["sandbox-desktop"] = settings.sandbox_desktop_port
    trigger = "Function URL" if args.platform == "aws" else "HTTP trigger"
    doors = {name: trigger for name in apps}
    if verifier is not None:
        doors["sandbox"] += " (AWS_IAM auth)" if args.platform == "aws" else " (function auth)"
    if "sandbox-desktop" in doors:
        doors["sandbox-desktop"] += " (anonymous: live views only)"
    served = [
        Function(name, app, ports[name], f"{doors[name]}, from its zip")
        for name, app in apps.items()
    ]
    if offline is not None:
        served.append(offline)
    print(f"  artifacts {manifest} ({args.platform})", flush=True)
    print(f"  store    {store_url}", flush=True)
    _print_traces(settings)
    with stack:
        asyncio.run(serve(served, host))


def _print_traces(settings: Any) -> None:
    from functions.runtime import tracing

    if tracing.enabled(settings):
        where = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
        print(f"  traces   {where} (OTLP/HTTP)", flush=True)


@contextlib.contextmanager
def _cloud_sandboxes(host: str) -> Iterator[dict[str, str]]:
    """Where the packaged sandbox function launches sandboxes: FC, emulated on Docker.

    Its zip carries the cloud launchers' SDKs, not the Docker SDK (no function has a Docker
    engine), so sandboxes take their cloud path: the FC launcher and the official SDK, to
    the local FC API emulator, which runs each FC session as a container.
    """
    try:
        from local_emulator.fc import fc_emulator

        emulator = fc_emulator(host)
        env = emulator.__enter__()
    except Exception as exc:  # no Docker here: agents still run, their code tools answer errors
        print(f"warning: no sandboxes ({exc})", flush=True)
        yield {}
        return
    print(
        f"  fc api   {env['FC_ENDPOINT']} (sandbox sessions on Docker; "
        "their triggers take signed calls only: function auth)",
        flush=True,
    )
    try:
        yield env
    finally:
        emulator.__exit__(None, None, None)


if __name__ == "__main__":
    main()
