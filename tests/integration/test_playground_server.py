"""The playground's server side (local_emulator/playground): the page and its files on the
query function's port, and the relays to the state and sandbox functions, which leave every
function's own defenses in charge. Real servers on 127.0.0.1; the page itself runs in a
browser in tests/e2e/test_playground.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from local_emulator.playground import Playground, page_config, relays_for
from local_emulator.serve import free_port
from tests.apps import echo_app
from tests.fixtures.servers import serve_app


def say(url: str, text: str, **fields) -> dict:
    body = {"input": [{"role": "user", "content": [{"type": "text", "text": text}]}], **fields}
    answer = httpx.post(f"{url}/process", json={**body, "stream": False}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def page(tmp_path) -> Iterator[str]:
    """The query function behind the playground, relaying to real state/sandbox functions."""
    settings = Settings(store_url=f"file://{tmp_path}/store")
    with (
        serve_app(state_app(settings)) as state,
        serve_app(sandbox_app(settings)) as sandbox,
    ):
        app = Playground(
            build_app(echo_app, settings),
            page_config(settings),
            relays_for(state, sandbox, settings),
        )
        with serve_app(app) as url:
            yield url


def test_the_page_and_its_files_come_from_the_query_port_with_their_own_policy(page):
    html = httpx.get(f"{page}/")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    csp = html.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert '<script type="module" src="/playground/app.js">' in html.text
    for name, media in (("app.js", "text/javascript"), ("style.css", "text/css")):
        answer = httpx.get(f"{page}/playground/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
    config = httpx.get(f"{page}/playground/config.json").json()
    assert config == {
        "query_url": "",
        "state_url": "",
        "sandbox_url": "",
        "auth_mode": "none",
        "default_user": "default",
        "user_claim": "sub",
    }
    for missing in ("nothing.js", "..%2Fproxy.py", "../__init__.py", "static/app.js"):
        assert httpx.get(f"{page}/playground/{missing}").status_code == 404
    assert httpx.head(f"{page}/").content == b""


def test_sessions_and_sandboxes_are_reachable_on_the_page_origin(page):
    first = say(page, "hello", user_id="u1", session_id="a/b")  # an id with a slash
    listed = httpx.get(f"{page}/v1/users/u1/sessions").json()
    assert [s["id"] for s in listed["items"]] == ["a/b"] and first["session_id"] == "a/b"
    messages = httpx.get(f"{page}/v1/users/u1/sessions/a%2Fb/messages").json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert httpx.get(f"{page}/v1/sandboxes").json() == {"items": []}
    deleted = httpx.delete(f"{page}/v1/users/u1/sessions/a%2Fb")
    assert deleted.status_code == 204
    assert httpx.get(f"{page}/v1/users/u1/sessions").json()["items"] == []


def test_the_relays_keep_the_functions_local_defenses(page):
    rebinding = httpx.get(f"{page}/v1/users/u1/sessions", headers={"Host": "evil.example"})
    assert rebinding.status_code == 403 and rebinding.json()["code"] == "host_not_allowed"
    cross_site = httpx.get(f"{page}/v1/sandboxes", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403 and cross_site.json()["code"] == "cross_site_request"
    plain = httpx.post(
        f"{page}/v1/sandboxes", content=b'{"type": "base"}', headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415  # what a cross-site form could send, refused upstream
    assert httpx.get(f"{page}/", headers={"Host": "evil.example"}).status_code == 200  # no data


async def test_a_caller_off_this_machine_is_refused_before_the_relay(tmp_path):
    """The relay re-sends from 127.0.0.1, so the function behind it would take any caller
    for a local one: under AUTH_MODE=none the relay refuses one off this machine itself,
    whatever Host it writes. A local caller through the same app reaches the function."""
    settings = Settings(store_url=f"file://{tmp_path}/store")
    with serve_app(state_app(settings)) as state, serve_app(sandbox_app(settings)) as sandbox:
        relays = relays_for(state, sandbox, settings)
        app = Playground(None, page_config(settings), relays)
        for peer, status in (("203.0.113.9", 403), ("10.0.0.7", 403), ("127.0.0.1", 200)):
            transport = httpx.ASGITransport(app=app, client=(peer, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                for method, path in (("GET", "/v1/users/u1/sessions"), ("GET", "/v1/sandboxes")):
                    answer = await c.request(method, path)
                    assert answer.status_code == status, (peer, path, answer.text)
                    if status == 403:
                        assert answer.json()["code"] == "remote_caller"
                created = await c.post("/v1/sandboxes", json={"type": "base"})
                if status == 403:
                    assert created.json()["code"] == "remote_caller"
        for relay in relays.values():
            await relay.aclose()


def test_a_function_that_is_not_there_is_a_502_in_the_error_shape(tmp_path):
    settings = Settings(store_url=f"file://{tmp_path}/store")
    dead = f"http://127.0.0.1:{free_port()}"
    app = Playground(None, page_config(settings), relays_for(dead, dead, settings))
    with serve_app(app) as url:
        answer = httpx.get(f"{url}/v1/users/u1/sessions")
        alone = httpx.post(f"{url}/process", json={})
    assert answer.status_code == 502 and answer.json()["code"] == "upstream_unavailable"
    assert "state function" in answer.json()["detail"]
    assert alone.status_code == 404  # the page alone serves no function


async def test_a_function_that_does_not_take_the_connection_is_a_502_naming_the_timeout():
    """httpx's timeouts have no text of their own: the 502 names the kind of fault instead
    of ending in a colon. The upstream's accept queue is full (listen(0), filled), so the
    relay's connection waits until its connect timeout."""
    import socket

    from local_emulator.playground.proxy import Proxy

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(3):
        pending = socket.socket()
        pending.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            pending.connect(("127.0.0.1", port))
        waiting.append(pending)
    relay = Proxy(f"http://127.0.0.1:{port}", "state", local_only=True, connect_timeout_s=0.3)
    try:
        transport = httpx.ASGITransport(app=relay, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answer = await client.get("/v1/users/u1/sessions")
    finally:
        await relay.aclose()
        for sock in (*waiting, listener):
            sock.close()
    assert answer.status_code == 502, answer.text
    detail = answer.json()["detail"]
    assert answer.json()["code"] == "upstream_unavailable"
    # ConnectTimeout where the full queue drops the connection (Linux's default); a
    # kernel that refuses it instead gives a ConnectError, with its text
    assert detail.startswith(f"the state function at http://127.0.0.1:{port}: Connect"), detail
