"""Commands that run things here: ``local`` (the emulator, as ``make local``),
``sandbox-server`` (the sandbox function alone, from an env file), ``playground`` (the page
alone, for a deployment), ``images`` and ``package`` (the build scripts of the checkout)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .http import CliError

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "sandbox_images" / "build.py"
PACKAGING = ROOT / "packaging" / "build.py"
DIST = Path(".data/dist")


def _script(path: Path) -> str:
    if not path.is_file():
        raise CliError(
            f"{path.relative_to(ROOT)} is not here: this command needs the agentscope-faas "
            "checkout (pip install -e . from it)"
        )
    return str(path)


def _run(cmd: list[str]) -> int:
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def images(args: argparse.Namespace) -> int:
    return _run([sys.executable, _script(IMAGES), *args.rest])


def package(args: argparse.Namespace) -> int:
    return _run([sys.executable, _script(PACKAGING), *args.rest])


# --- local -----------------------------------------------------------------------------------


def local(args: argparse.Namespace) -> int:
    """Build the sandbox images (and with --artifacts the zips), then run the emulator."""
    if not args.no_images and _run([sys.executable, _script(IMAGES)]) != 0:
        print(
            "warning: no sandbox images (Docker unavailable): agents run, code tools answer "
            "with an error",
            file=sys.stderr,
        )
    emulator = ["--store", args.store]
    if args.sandbox_backend:
        emulator += ["--sandbox-backend", args.sandbox_backend]
    if args.host:
        emulator += ["--host", args.host]
    if args.artifacts:
        from local_emulator.artifacts import host_arch, host_python

        build = [sys.executable, _script(PACKAGING), "--targets", args.platform]
        build += ["--python", host_python(), "--arch", host_arch(), "--out", str(DIST), "-q"]
        if _run(build) != 0:
            raise CliError("packaging failed (see above)")
        emulator += ["--artifacts", str(DIST / "manifest.json"), "--platform", args.platform]
    from local_emulator.__main__ import main as emulator_main

    try:
        emulator_main(emulator)
    except KeyboardInterrupt:
        return 130
    return 0


# --- sandbox-server --------------------------------------------------------------------------

# the seed's sandbox-server keys with generic names, read from its --config file only (as
# environment variables they would be too easy to set by accident): ours they stand for
SEED_FILE_KEYS = {
    "POOL_SIZE": "SANDBOX_POOL_SIZE",
    "DEFAULT_SANDBOX_TYPE": "SANDBOX_POOL_TYPES",
    "HEARTBEAT_TIMEOUT": "SANDBOX_TTL_S",
}
NOT_USED = {
    "BEARER_TOKEN": "callers present JWTs here: set AUTH_MODE=jwt with AUTH_JWT_SECRET or "
    "AUTH_JWKS_URL",
    "REDIS_ENABLED": "sandboxes are kept in STORE_URL's object store, shared by every instance",
    "WORKERS": "run more processes behind a balancer: they share the store",
}
BACKENDS = ("docker", "fc", "agentrun")


def _config_values(path: str) -> dict[str, str]:
    from dotenv import dotenv_values

    if not Path(path).is_file():
        raise CliError(f"--config {path}: no such file", 2)
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _pool_types(value: str) -> str:
    """``base``, ``base,gui`` or the seed's JSON list ``["base","gui"]`` -> ``base,gui``."""
    if value.strip().startswith("["):
        try:
            return ",".join(str(v) for v in json.loads(value))
        except ValueError:
            raise CliError(f"DEFAULT_SANDBOX_TYPE={value!r} is not a JSON list", 2) from None
    return value


def sandbox_server(args: argparse.Namespace) -> int:
    """The sandbox function alone on ``host:port``, configured from the environment and
    ``--config`` (variables already in the environment win over the file's)."""
    host, port = args.host, args.port
    if args.config:
        for key, value in _config_values(args.config).items():
            upper = key.upper()
            if upper == "HOST":
                host = host or value
            elif upper == "PORT":
                port = port or int(value)
            elif upper in SEED_FILE_KEYS:
                translated = _pool_types(value) if upper == "DEFAULT_SANDBOX_TYPE" else value
                os.environ.setdefault(SEED_FILE_KEYS[upper], translated)
            elif upper in NOT_USED:
                print(f"note: {key} is not used here: {NOT_USED[upper]}", file=sys.stderr)
            else:
                os.environ.setdefault(key, value)
    from functions.runtime.settings import Settings

    try:
        settings = Settings()
    except ValueError as exc:
        raise CliError(f"bad settings: {' '.join(str(exc).split())}", 2) from None
    if settings.sandbox_backend not in BACKENDS:
        raise CliError(
            f"sandbox backend {settings.sandbox_backend!r} (SANDBOX_BACKEND or the seed's "
            f"CONTAINER_DEPLOYMENT) is not one of {', '.join(BACKENDS)}",
            2,
        )
    host = host or settings.emulator_host
    port = port or settings.sandbox_port
    from functions.sandbox.app import create_app
    from local_emulator.serve import Function

    print("agentscope-faas sandbox function", flush=True)
    print(f"  store    {settings.store_url}", flush=True)
    app = create_app(settings, reaper=True)
    routes = f"/v1/sandboxes (on {settings.sandbox_backend})"
    return _serve([Function("sandbox", app, port, routes)], host)


def _serve(functions: list, host: str) -> int:
    import asyncio

    from local_emulator.serve import serve

    try:
        asyncio.run(serve(functions, host))
    except KeyboardInterrupt:
        return 130
    return 0


# --- playground ------------------------------------------------------------------------------


def playground(args: argparse.Namespace) -> int:
    """The page alone, calling the functions at the given URLs (a deployment's)."""
    from functions.runtime.settings import Settings
    from local_emulator.playground import Playground, page_config
    from local_emulator.serve import Function

    for option, url in (("--url", args.url), ("--state-url", args.state_url)):
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise CliError(f"{option} {url!r} is not an http(s) URL", 2)
    settings = Settings(auth_mode=args.auth)
    config = page_config(
        settings,
        query_url=args.url,
        state_url=args.state_url or args.url,
        sandbox_url=args.sandbox_url or args.url,
    )
    host = "127.0.0.1"
    origin = f"http://{host}:{args.port}"
    print("agentscope-faas playground", flush=True)
    print(f"  calls    {args.url} (query)", flush=True)
    print(f"  the functions must allow this page's origin: CORS_ALLOW_ORIGINS={origin}", flush=True)
    return _serve([Function("page", Playground(None, config), args.port, "open it")], host)
