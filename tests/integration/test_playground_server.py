"""The playground's server side (local_emulator/playground): the page and its files on the
query function's port, and the relays to the state and sandbox functions, which leave every
function's own defenses in charge. Real servers on 127.0.0.1; the page itself runs in a
browser in tests/e2e/test_playground.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from local_emulator.playground import Playground, page_config, relays_for
from local_emulator.playground.proxy import Proxy
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


async def _upstream(scope, receive, send) -> None:
    """A function behind a relay: ``.../stream`` sends one event and holds the response
    open until its caller goes; anything else is a small JSON body."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    if scope["path"].endswith("/stream"):
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(path: str) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8090),
    }


async def _relayed(app, path: str, body: asyncio.Event | None = None) -> list[dict]:
    """``app``'s ASGI messages for a GET of ``path``, from a caller that never goes away;
    ``body`` is set when the first part of the body comes."""
    sent = []

    async def receive() -> dict:
        await asyncio.Event().wait()  # the caller stays
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)
        if body is not None and message.get("body"):
            body.set()

    await app(_scope(path), receive, send)
    return sent


async def _busy_relay(upstream: str) -> tuple[Proxy, list, asyncio.Task]:
    """A relay as the page leaves it after heavy use: several pooled upstream connections,
    and a relayed stream in flight (its first event sent on)."""
    relay = Proxy(upstream, "state", local_only=True)
    answers = await asyncio.gather(*(_relayed(relay, "/v1/users/u1/x") for _ in range(8)))
    assert all(a[0]["status"] == 200 for a in answers)
    connections = list(relay.client()._transport._pool.connections)
    assert len(connections) == 8
    streaming = asyncio.Event()
    stream = asyncio.ensure_future(_relayed(relay, "/v1/users/u1/stream", streaming))
    await streaming.wait()
    connections = list(relay.client()._transport._pool.connections)
    assert len(connections) == 8 and not all(c.is_idle() for c in connections)  # the stream's
    return relay, connections, stream


def _cut(stream: asyncio.Task) -> None:
    """``stream``, a relayed response in flight, ended when the relay closed its upstream
    connection (the response unfinished: uvicorn closes the caller's connection)."""
    assert stream.done()
    assert isinstance(stream.exception(), httpx.ReadError), stream.exception()


async def _lifespan(app, *, shut_down: bool) -> tuple[asyncio.Task, asyncio.Future]:
    """``app``'s lifespan in a task of its own, as uvicorn runs it: started, then told to shut
    down (``shut_down``) or left waiting. The future resolves with the message ending it."""
    inbox: asyncio.Queue = asyncio.Queue()
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    ended: asyncio.Future = asyncio.get_running_loop().create_future()
    clients = [relay._client for relay in app.relays.values()]

    async def send(message: dict) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set_result(True)
        else:  # what uvicorn sees the moment it stops waiting for the lifespan
            closed = all(c is None or c.is_closed for c in clients)
            ended.set_result((message["type"], closed))

    task = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await started
    if shut_down:
        await inbox.put({"type": "lifespan.shutdown"})
    return task, ended


async def test_the_relays_are_closed_before_the_lifespan_says_it_has_shut_down():
    """Ctrl-C on ``make local`` after heavy use of the page printed ``Exception in
    'lifespan' protocol`` ... ``relay.aclose()`` ... ``CancelledError``: the relays were
    closed after ``lifespan.shutdown.complete``, which uvicorn does not wait past, so the
    ending event loop cancelled the close (one loop turn a pooled connection). Closed
    before it, nothing is left for that cancellation, which the test sends as the loop
    would; a stream in flight through the relay ends with it."""
    with serve_app(_upstream) as upstream:
        relay, connections, stream = await _busy_relay(upstream)
        app = Playground(None, {}, {"/v1/users/": relay})
        task, ended = await _lifespan(app, shut_down=True)
        message, closed_by_then = await ended
        task.cancel()  # the loop ending: everything still running is cancelled
        await asyncio.wait([task, stream], timeout=30)  # a guard against a hang, not a timing
        assert message == "lifespan.shutdown.complete"
        assert closed_by_then, "the relays were still open when shutdown was reported done"
        assert task.done() and not task.cancelled() and task.exception() is None
        assert all(c.is_closed() for c in connections)
        _cut(stream)  # its upstream connection is closed: the relayed stream ends


async def test_a_lifespan_cancelled_without_a_shutdown_still_closes_the_relays_quietly():
    """A second Ctrl-C forces uvicorn's exit: the lifespan is never told to shut down and
    the ending loop cancels it. The relays are closed then, and the lifespan ends without
    the ``CancelledError`` uvicorn would print as ``Exception in 'lifespan' protocol``."""
    with serve_app(_upstream) as upstream:
        relay, connections, stream = await _busy_relay(upstream)
        app = Playground(None, {}, {"/v1/users/": relay})
        task, _ = await _lifespan(app, shut_down=False)
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait([task, stream], timeout=30)
        assert task.done() and not task.cancelled() and task.exception() is None
        assert all(c.is_closed() for c in connections) and relay._client is None
        _cut(stream)


async def test_closing_a_relay_finishes_even_when_its_caller_is_cancelled():
    """``Proxy.aclose`` cancelled part-way (between one pooled connection and the next)
    still closes every connection, an in-flight stream's included; then the cancellation
    goes on to its caller."""
    with serve_app(_upstream) as upstream:
        relay, connections, stream = await _busy_relay(upstream)
        closing = asyncio.ensure_future(relay.aclose())
        await asyncio.sleep(0)  # the close has begun: some connections closed, not all
        await asyncio.sleep(0)
        closing.cancel()
        await asyncio.wait([closing, stream], timeout=30)
        assert closing.cancelled()
        assert all(c.is_closed() for c in connections)
        _cut(stream)


async def test_the_emulators_servers_send_without_waiting_for_a_delayed_ack():
    """Every response the emulator's servers send goes out at once (TCP_NODELAY). Without
    it uvicorn's two writes a response (head, then body) wait for the client's delayed ACK:
    ~40 ms a response on Linux (200 ms on macOS), paid twice by one relayed to the state
    function (the page's 3 ms session read took 200-400 ms through the query port). asyncio
    sets the option only on sockets made as TCP: the socket ``local_emulator.serve`` binds
    must say so. (benchmarks/relay_latency.py measures the time.)"""
    import socket

    from local_emulator.ports import bind

    listener = bind("127.0.0.1", free_port(), "QUERY_PORT")
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listener)
    try:
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await accepted != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
