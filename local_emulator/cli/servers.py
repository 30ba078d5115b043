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
from typing import Any
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


def _check_ports(args: argparse.Namespace) -> None:
    """Every port the emulator will bind is free (before minutes of building): else one
    line naming the variable, ``QUERY_PORT=8090: 127.0.0.1:8090 is in use``."""
    from functions.runtime.settings import Settings
    from local_emulator.ports import PortInUse, check_free, emulator_ports

    try:
        settings = Settings()
    except ValueError:  # the emulator says which setting is wrong, in its own line
        return
    ports = emulator_ports(
        settings,
        offline_model=not os.environ.get("MODEL_BASE_URL"),
        desktop_door=bool(args.artifacts) and args.platform == "fc",
    )
    try:
        check_free(ports, args.host or settings.emulator_host)
    except PortInUse as exc:
        raise CliError(str(exc)) from None


def local(args: argparse.Namespace) -> int:
    """Build the sandbox images (and with --artifacts the zips), then run the emulator."""
    _check_ports(args)
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
    from local_emulator.__main__ import run as emulator_main
    from local_emulator.ports import PortInUse

    try:
        emulator_main(emulator)
    except PortInUse as exc:  # taken while the images were built
        raise CliError(str(exc)) from None
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


def _pool_types(value: str, where: str) -> str:
    """``base``, ``base,gui`` or the seed's JSON list ``["base","gui"]`` -> ``base,gui``."""
    if value.strip().startswith("["):
        try:
            return ",".join(str(v) for v in json.loads(value))
        except (ValueError, TypeError):
            raise CliError(f"{where}={value!r} is not a JSON list", 2) from None
    return value


def _port(value: str, where: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise CliError(f"{where}={value!r} is not a port number (1 to 65535)", 2)
    return port


def _env_names(field: str) -> list[str]:
    """The environment names a setting is read from: its own, and its aliases (the seed's)."""
    from pydantic import AliasChoices

    from functions.runtime.settings import Settings

    names = [field.upper()]
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        names += [c.upper() for c in alias.choices if isinstance(c, str)]
    elif isinstance(alias, str):
        names.append(alias.upper())
    return names


def _secret(field: str) -> bool:
    from pydantic import SecretStr

    from functions.runtime.settings import Settings

    info = Settings.model_fields.get(field)
    return info is None or "SecretStr" in str(info.annotation) or info.annotation is SecretStr


def _settings_error(exc: Any, config: str | None, from_file: dict[str, str]) -> str:
    """Settings' validation errors as one line, each under the name the user wrote: the
    file's key (``--config fc.env: HEARTBEAT_TIMEOUT='soon': ...``) or the variable's."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return f"bad settings: {' '.join(str(exc).split())}"
    environment = {k.upper(): k for k in os.environ}
    parts = []
    for error in errors:
        msg = " ".join(str(error.get("msg", "")).split())
        loc = error.get("loc") or ()
        if not loc:
            parts.append(msg)
            continue
        names = _env_names(str(loc[0]))
        value = error.get("input")
        shown = f"={value!r}" if isinstance(value, str) and not _secret(str(loc[0])) else ""
        written = next((from_file[n] for n in names if n in from_file), None)
        if written is not None:
            parts.append(f"--config {config}: {written}{shown}: {msg}")
        else:
            name = next((environment[n] for n in names if n in environment), names[0])
            parts.append(f"{name}{shown}: {msg}")
    return "; ".join(parts)


def sandbox_server(args: argparse.Namespace) -> int:
    """The sandbox function alone on ``host:port``, configured from the environment and
    ``--config`` (variables already in the environment win over the file's)."""
    host, port = args.host, args.port
    port_from = "--port"
    # the settings' environment names the file set, and the key as the file wrote it: an
    # error names what the user wrote (HEARTBEAT_TIMEOUT), not what it stands for
    from_file: dict[str, str] = {}
    if args.config:
        for key, value in _config_values(args.config).items():
            upper = key.upper()
            if upper == "HOST":
                host = host or value
            elif upper == "PORT":
                if port is None:
                    port_from = f"--config {args.config}: {key}"
                    port = _port(value, port_from)
            elif upper in SEED_FILE_KEYS:
                translated = value
                if upper == "DEFAULT_SANDBOX_TYPE":
                    translated = _pool_types(value, f"--config {args.config}: {key}")
                if SEED_FILE_KEYS[upper] not in os.environ:
                    os.environ[SEED_FILE_KEYS[upper]] = translated
                    from_file[SEED_FILE_KEYS[upper]] = key
            elif upper in NOT_USED:
                print(f"note: {key} is not used here: {NOT_USED[upper]}", file=sys.stderr)
            elif key not in os.environ:
                os.environ[key] = value
                from_file[upper] = key
    from functions.runtime.settings import Settings

    try:
        settings = Settings()
    except ValueError as exc:
        raise CliError(_settings_error(exc, args.config, from_file), 2) from None
    if settings.sandbox_backend not in BACKENDS:
        raise CliError(
            f"sandbox backend {settings.sandbox_backend!r} (SANDBOX_BACKEND or the seed's "
            f"CONTAINER_DEPLOYMENT) is not one of {', '.join(BACKENDS)}",
            2,
        )
    host = host or settings.emulator_host
    if port is None:
        port, port_from = settings.sandbox_port, "SANDBOX_PORT"
    from functions.sandbox.app import create_app
    from local_emulator.sandbox_shutdown import SandboxesAtShutdown, store_dies_with_process
    from local_emulator.serve import Function

    print("agentscope-faas sandbox function", flush=True)
    print(f"  store    {settings.store_url}", flush=True)
    # memory:// dies with this server: its sandboxes too, else they would run for nobody
    app = SandboxesAtShutdown(
        create_app(settings, reaper=True),
        end=store_dies_with_process(settings.store_url),
        why="their records are in memory, gone with this server",
    )
    routes = f"/v1/sandboxes (on {settings.sandbox_backend})"
    return _serve([Function("sandbox", app, port, routes, port_from)], host, "sandbox server")


def _serve(functions: list, host: str, what: str) -> int:
    import asyncio

    from local_emulator.ports import PortInUse
    from local_emulator.serve import serve

    try:
        asyncio.run(serve(functions, host, what))
    except PortInUse as exc:
        raise CliError(str(exc)) from None
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
    try:
        # the page verifies no token (the functions do): it needs no AUTH_JWKS_URL or
        # AUTH_JWT_SECRET, only the user defaults; --auth tells it whether to ask for one
        settings = Settings(auth_mode="none")
    except ValueError as exc:
        raise CliError(_settings_error(exc, None, {}), 2) from None
    config = page_config(
        settings,
        query_url=args.url,
        state_url=args.state_url or args.url,
        sandbox_url=args.sandbox_url or args.url,
    )
    config["auth_mode"] = args.auth
    host = "127.0.0.1"
    origin = f"http://{host}:{args.port}"
    print("agentscope-faas playground", flush=True)
    print(f"  calls    {args.url} (query)", flush=True)
    print(f"  the functions must allow this page's origin: CORS_ALLOW_ORIGINS={origin}", flush=True)
    page = Function("page", Playground(None, config), args.port, "open it", "--port")
    return _serve([page], host, "playground")
