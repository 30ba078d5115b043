"""The live view's door on the sandbox function: the view token in the path is the only way in.

The sandbox function is served by uvicorn with ``AUTH_MODE=jwt``; a record in its registry
points at a stand-in for a tool server's ``/desktop/`` relay (an app that records what
reaches it), so the test can see that nothing goes upstream unless the token is right, and
what does go carries the backend's headers and never the tool token. The real relay, with
real containers and a real browser, is tests/sandbox/test_desktop_sandboxes.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from functions.runtime.sandbox.desktop import door_desktop_url, door_path, view_token
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.sandbox.app import create_app
from functions.sandbox.registry import Registry, SandboxRecord
from local_emulator.tokens import mint_token
from tests.fixtures.servers import serve_app

SECRET = "door-tests-" + uuid.uuid4().hex
TOOL_TOKEN = "t" * 43


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in tool server: ``GET /desktop/{path}`` answers and is recorded."""
    seen: list[dict[str, Any]] = []

    async def desktop(request: Request) -> PlainTextResponse:
        seen.append({"path": request.url.path, "headers": dict(request.headers)})
        return PlainTextResponse("<title>noVNC</title>", media_type="text/html")

    app = Starlette(routes=[Route("/desktop/{path:path}", desktop)])
    with serve_app(app) as url:
        yield url, seen


def settings_for(tmp_path: Any, **extra: Any) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        **extra,
    )


def record(
    endpoint: str, *, type: str = "browser", expires_in: float = 600, **extra: Any
) -> SandboxRecord:
    now = time.time()
    return SandboxRecord(
        id=f"sbx-{uuid.uuid4().hex[:24]}",
        type=type,
        user_id="alice",
        backend="fc",
        handle="fn/session",
        endpoint=endpoint,
        token=TOOL_TOKEN,
        headers={"x-agentscope-sandbox-session": "session"},
        created_at=now,
        expires_at=now + expires_in,
        ttl_s=600,
        **extra,
    )


def store(settings: Settings, *records: SandboxRecord) -> None:
    async def add() -> None:
        registry = Registry(open_store(settings.store_url))
        for r in records:
            await registry.add(r)

    asyncio.run(add())


def test_the_door_relays_with_the_token_and_nothing_without_it(tmp_path, upstream):
    url, seen = upstream
    settings = settings_for(tmp_path)
    live = record(url)
    others = {
        "expired": record(url, expires_in=-1),
        "paused": record(url, paused=True),
        "no desktop": record(url, type="base"),
    }
    store(settings, live, *others.values())
    with serve_app(create_app(settings)) as function, httpx.Client(trust_env=False) as http:
        good = door_desktop_url(function, live.id, TOOL_TOKEN)
        assert good.startswith(f"{function}{door_path(live.id, TOOL_TOKEN)}/vnc.html#")
        answer = http.get(good)  # a browser: no bearer token, no signature
        assert answer.status_code == 200 and "noVNC" in answer.text
        (forwarded,) = seen
        assert forwarded["path"] == "/desktop/vnc.html"
        assert forwarded["headers"]["x-agentscope-sandbox-session"] == "session"
        assert TOOL_TOKEN not in str(forwarded["headers"])
        assert http.get(good.replace("vnc.html", "app/ui.js")).status_code == 200
        seen.clear()
        wrong = good.replace(view_token(TOOL_TOKEN), "0" * 64)
        for bad in [wrong] + [
            door_desktop_url(function, r.id, TOOL_TOKEN) for r in others.values()
        ]:
            answer = http.get(bad)
            assert answer.status_code == 404, bad
            assert answer.json()["code"] == "sandbox_not_found"
        assert seen == []  # nothing reached the sandbox
        # the door opens nothing else: the API still wants a bearer token
        assert http.get(f"{function}/v1/sandboxes/{live.id}").status_code == 401
        # nor another route of the tool server, nor a path no URL can carry
        door = f"{function}{door_path(live.id, TOOL_TOKEN)}"
        for escape in ("..%2F..%2Ftools", "%2e%2e/%2e%2e/workspace", "a/%2E%2E/x", "a%00b"):
            answer = http.get(f"{door}/{escape}")
            assert answer.status_code == 400, (escape, answer.text)
            assert answer.json()["code"] == "invalid_path"
        assert http.get(f"{door}/app/a%3Fb.js").status_code == 200  # encoded, as it came
        assert seen[-1]["path"] == "/desktop/app/a%3Fb.js"  # one file, a?b.js
        assert all(s["path"].startswith("/desktop/") for s in seen)


def test_the_door_refuses_a_websocket_with_a_wrong_token(tmp_path, upstream):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url, seen = upstream
    settings = settings_for(tmp_path)
    live = record(url)
    store(settings, live)
    with serve_app(create_app(settings)) as function:
        ws = function.replace("http://", "ws://") + door_path(live.id, TOOL_TOKEN)
        for bad in (ws.replace(view_token(TOOL_TOKEN), "0" * 64), ws.replace(live.id, "sbx-no")):
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{bad}/websockify", open_timeout=10, proxy=None).close()
            assert refused.value.response.status_code == 404
    assert seen == []


def test_the_anonymous_door_serves_the_live_view_and_nothing_else(tmp_path, upstream):
    """SANDBOX_ROUTES=desktop: what a deployment's anonymous trigger runs."""
    url, _ = upstream
    settings = settings_for(tmp_path, sandbox_routes="desktop")
    live = record(url)
    store(settings, live)
    alice = {"Authorization": f"Bearer {mint_token(SECRET, 'alice')}"}
    with (
        serve_app(create_app(settings)) as function,
        httpx.Client(base_url=function, trust_env=False) as http,
    ):
        assert http.get(door_desktop_url("", live.id, TOOL_TOKEN)).status_code == 200
        assert http.get("/health").status_code == 200
        for method, path in [
            ("POST", "/v1/sandboxes"),
            ("GET", "/v1/sandboxes"),
            ("GET", f"/v1/sandboxes/{live.id}"),
            ("DELETE", f"/v1/sandboxes/{live.id}"),
            ("GET", f"/v1/sandboxes/{live.id}/tools"),
            ("POST", f"/v1/sandboxes/{live.id}/tools/run_shell_command"),
            ("GET", f"/v1/sandboxes/{live.id}/files"),
            ("POST", "/v1/reaper/run"),
        ]:
            answer = http.request(method, path, headers=alice, json={})
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
