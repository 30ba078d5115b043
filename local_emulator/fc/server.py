"""The emulator as an ASGI app, served from a thread, and the ways to start it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from functions.runtime.sandbox.types import SANDBOX_TYPES
from functions.runtime.sockets import tcp_socket
from local_emulator.acs_signature import Credential

from .models import FcBackend
from .responses import FcResponses
from .urls import TRIGGER_PREFIX

log = logging.getLogger("agentscope_faas.fc_emulator")

SESSION_HEADER = "x-agentscope-sandbox-session"  # the sandbox functions' affinity header
_START_TIMEOUT_S = 15.0
SWEEP_INTERVAL_S = 1.0


class FcApp:
    """A bare ASGI app: the API under ``/2023-03-30/``, triggers under ``/http-triggers/``."""

    def __init__(self, backend: FcBackend, credentials: dict[str, Credential]) -> None:
        self.backend = backend
        self.responses = FcResponses(backend, credentials)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.backend.sweep()
            except Exception as exc:  # keep sweeping: Docker may answer next time
                log.warning("session sweep failed: %s", exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            sweeper: asyncio.Task | None = None
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await asyncio.to_thread(self.backend.remove_leftovers)
                    sweeper = asyncio.create_task(self._sweep_forever())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if sweeper is not None:
                        sweeper.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await sweeper
                    await self.responses.close()
                    await self.backend.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive, send)
            if scope["path"].startswith(TRIGGER_PREFIX):
                await self.responses.invoke_websocket(websocket)
            else:  # the API is plain HTTP
                await websocket.close(code=1008)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.url.path.startswith(TRIGGER_PREFIX):
            response = await self.responses.invoke(request)
        else:
            response = await self.responses.handle(request)
        await response(scope, receive, send)


@dataclass
class FcEmulator:
    """A running emulator: its URL, its backend (tests move its clock) and its key pair."""

    url: str
    backend: FcBackend
    access_key_id: str
    access_key_secret: str = field(repr=False)
    _stop: Any = field(repr=False, default=None)

    def stop(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()

    def __enter__(self) -> FcEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fc_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    account_id: str | None = None,
    region: str = "cn-hangzhou",
    max_sessions: int = 100,
    settings: Any = None,
) -> FcEmulator:
    """Serve an emulator with uvicorn from a daemon thread, listening when this returns.

    The key pair is made here, random: the emulator accepts requests signed with it only.
    """
    import uvicorn

    account_id = account_id or str(secrets.randbelow(9 * 10**15) + 10**15)
    key_id, key_secret = f"LTAI{secrets.token_hex(8)}", secrets.token_urlsafe(24)
    backend = FcBackend(
        account_id=account_id, region=region, settings=settings, max_sessions=max_sessions
    )
    app = FcApp(backend, {key_id: Credential(key_secret)})
    sock = tcp_socket(host, port, backlog=128)
    backend.base_url = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the caller below
            failed.append(exc)

    thread = threading.Thread(target=run, name="fc-emulator", daemon=True)
    thread.start()
    while not server.started:
        if failed or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"FC emulator failed to start: {failed[:1]}")
        thread.join(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(60)  # shutdown removes the session containers
        with contextlib.suppress(OSError):
            sock.close()

    return FcEmulator(backend.base_url, backend, key_id, key_secret, stop)


TRIGGER_AUTH_TYPES = ("function", "anonymous")


def register_sandbox_functions(
    emulator: FcEmulator,
    settings: Any,
    types: Iterable[str] = SANDBOX_TYPES,
    trigger_auth: str = "function",
) -> None:
    """Deploy one sandbox function per type, as the Terraform does, through the official SDK.

    Their environment holds no secret: every session's tool server is claimed by the launcher
    with a token of its own. Their HTTP triggers have ``trigger_auth`` (``function``, the
    Terraform's default: only signed calls pass; ``anonymous``: any).
    """
    if trigger_auth not in TRIGGER_AUTH_TYPES:
        raise ValueError(f"trigger_auth must be one of {TRIGGER_AUTH_TYPES}")
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    from functions.runtime.settings import sandbox_image

    client = Client(
        Config(
            access_key_id=emulator.access_key_id,
            access_key_secret=emulator.access_key_secret,
            endpoint=emulator.url.removeprefix("http://"),
            protocol="http",
            region_id=emulator.backend.region,
        )
    )
    affinity = {
        "affinityHeaderFieldName": SESSION_HEADER,
        "sessionTTLInSeconds": 21600,
        "sessionIdleTimeoutInSeconds": int(min(21600, settings.sandbox_ttl_s)),
        "sessionConcurrencyPerInstance": 1,
        "disableSessionIdReuse": True,
    }
    for sandbox_type in types:
        name = f"{settings.fc_sandbox_function_prefix}{sandbox_type}"
        client.create_function(
            models.CreateFunctionRequest(
                body=models.CreateFunctionInput(
                    function_name=name,
                    runtime="custom-container",
                    handler="index.handler",
                    cpu=2,
                    memory_size=2048,
                    timeout=900,
                    custom_container_config=models.CustomContainerConfig(
                        image=sandbox_image(sandbox_type, settings), port=8000
                    ),
                    environment_variables={
                        "SANDBOX_MAX_CALL_TIMEOUT_S": f"{settings.sandbox_max_call_timeout_s:g}"
                    },
                    instance_isolation_mode="SESSION_EXCLUSIVE",
                    session_affinity="HEADER_FIELD",
                    session_affinity_config=json.dumps(affinity),
                )
            )
        )
        client.create_trigger(
            name,
            models.CreateTriggerRequest(
                body=models.CreateTriggerInput(
                    trigger_name="http",
                    trigger_type="http",
                    qualifier="LATEST",
                    trigger_config=json.dumps(
                        {"authType": trigger_auth, "methods": ["GET", "POST", "PUT", "DELETE"]}
                    ),
                )
            ),
        )


@contextlib.contextmanager
def deployed_emulator(
    host: str = "127.0.0.1",
    *,
    account_id: str | None = None,
    max_sessions: int = 100,
    settings: Any = None,
    types: Iterable[str] = SANDBOX_TYPES,
    trigger_auth: str = "function",
) -> Iterator[tuple[FcEmulator, dict[str, str]]]:
    """``fc_emulator``, also giving the running emulator (its backend, its keys) to tests."""
    from functions.runtime.settings import Settings

    settings = settings or Settings()
    with start_fc_emulator(
        host, account_id=account_id, max_sessions=max_sessions, settings=settings
    ) as emulator:
        register_sandbox_functions(emulator, settings, types, trigger_auth)
        yield (
            emulator,
            {
                "SANDBOX_BACKEND": "fc",
                "FC_ENDPOINT": emulator.url,
                "FC_ACCOUNT_ID": emulator.backend.account_id,
                "FC_REGION": emulator.backend.region,
                "FC_SANDBOX_FUNCTION_PREFIX": settings.fc_sandbox_function_prefix,
                "ALIBABA_CLOUD_ACCESS_KEY_ID": emulator.access_key_id,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emulator.access_key_secret,
            },
        )


@contextlib.contextmanager
def fc_emulator(
    host: str = "127.0.0.1",
    *,
    account_id: str | None = None,
    max_sessions: int = 100,
    settings: Any = None,
    types: Iterable[str] = SANDBOX_TYPES,
    trigger_auth: str = "function",
) -> Iterator[dict[str, str]]:
    """An emulator with the sandbox functions deployed; yields the sandbox function's env.

    ``settings`` (default: from the environment) give the image names, the function prefix
    and the containers' limits; ``account_id`` defaults to a random one (the containers'
    owner label is ``fc-emulator-<account_id>``); the sandbox functions' triggers have
    ``trigger_auth`` (default ``function``, as deployed). The env selects the FC launcher and points
    it here, with the emulator's key pair: local and random, never real credentials, and
    secret all the same (do not print them). Containers go when it stops.
    """
    with deployed_emulator(
        host,
        account_id=account_id,
        max_sessions=max_sessions,
        settings=settings,
        types=types,
        trigger_auth=trigger_auth,
    ) as (_, env):
        yield env
