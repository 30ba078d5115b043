"""Sandboxes as MCP servers over HTTP, and MCP servers inside sandboxes, on every backend.

The official ``mcp`` client (``mcp.client.Client``, Streamable HTTP) talks to the sandbox
function on 127.0.0.1; the MCP servers inside the sandboxes are ``tests/fakes/
mcp_server_stdlib.py`` (the images have python3 but not the ``mcp`` package).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from functions.runtime.settings import Settings
from local_emulator.tokens import mint_token
from tests.fakes.mcp_server_stdlib import tiny_png
from tests.sandbox.support import containers_made_since, containers_of

SERVER_SOURCE = (Path(__file__).parents[1] / "fakes" / "mcp_server_stdlib.py").read_text()
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}
SECRET = "mcp-test-dev-secret-0123456789abcdef"


def client(url: str, token: str | None = None) -> Client:
    """The official client over Streamable HTTP, with a bearer token when given."""
    if token is None:
        return Client(url)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    return Client(streamable_http_client(url, http_client=http))


def text(result) -> str:
    return "".join(part.text for part in result.content if part.type == "text")


def inline_server(**env: str) -> dict:
    """A stdio config whose program comes in its arguments (the workspace starts empty)."""
    return {"command": "python3", "args": ["-c", SERVER_SOURCE], "env": env}


def test_the_official_client_lists_and_calls_a_sandbox_s_tools(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    url = f"{http.base_url}/v1/sandboxes/{sid}/mcp"

    async def session() -> None:
        async with client(url) as mcp:
            tools = {t.name: t for t in (await mcp.list_tools()).tools}
            assert set(tools) == {"run_ipython_cell", "run_shell_command"}
            schema = tools["run_ipython_cell"].input_schema
            assert schema["required"] == ["code"] and schema["properties"]["code"]["type"]
            assert (await mcp.call_tool("run_ipython_cell", {"code": "n = 41"})).is_error is False
            kept = await mcp.call_tool("run_ipython_cell", {"code": "n + 1"})
            assert text(kept) == "42\n" and kept.is_error is False
            failed = await mcp.call_tool("run_ipython_cell", {"code": "1 / 0"})
            assert failed.is_error is True and "ZeroDivisionError" in text(failed)
            with pytest.raises(MCPError, match="unknown_tool"):
                await mcp.call_tool("no_such_tool", {})

    asyncio.run(session())
    # every request was its own: a fresh client on the same URL finds the same interpreter
    asyncio.run(_expect_value(url, "n", "41\n"))


async def _expect_value(url: str, expression: str, expected: str, token: str | None = None):
    async with client(url, token) as mcp:
        assert text(await mcp.call_tool("run_ipython_cell", {"code": expression})) == expected


def test_another_user_is_refused_before_mcp_starts(serve, settings):
    http = serve(settings.model_copy(update={"auth_mode": "jwt", "auth_jwt_secret": SECRET}))
    alice, bob = mint_token(SECRET, "alice"), mint_token(SECRET, "bob")
    made = http.post(
        "/v1/sandboxes", json={"type": "base"}, headers={"Authorization": f"Bearer {alice}"}
    )
    sid = made.json()["sandbox_id"]
    url = f"{http.base_url}/v1/sandboxes/{sid}/mcp"
    for token, status, code in ((bob, 403, "forbidden"), (None, 401, "unauthorized")):
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        refused = httpx.post(url, json=INITIALIZE, headers={**ACCEPT, **auth})
        assert refused.status_code == status and refused.json()["code"] == code, refused.text
    session = httpx.post(
        f"{http.base_url}/v1/mcp?type=base&session_id=s1&user_id=alice",
        json=INITIALIZE,
        headers={**ACCEPT, "Authorization": f"Bearer {bob}"},
    )
    assert session.status_code == 403 and session.json()["code"] == "forbidden"

    async def as_bob() -> None:
        async with client(url, bob) as mcp:
            await mcp.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the client's own error for an HTTP 403
        asyncio.run(as_bob())
    asyncio.run(_expect_value(url, "'alice'", "'alice'\n", alice))


ODD_IDS = (b'{"a": 1}', b"[1]", b"null", b"true", b"1.5")


def test_a_request_mcp_cannot_read_is_refused_in_json(serve, settings):
    """Every refusal is JSON: ours for a body that is not application/json (the mcp package
    would answer in plain text), MCP's JSON-RPC error for a body that is not JSON-RPC. With
    AUTH_MODE=jwt, where the local defenses (which refuse such bodies too) are off."""
    http = serve(settings.model_copy(update={"auth_mode": "jwt", "auth_jwt_secret": SECRET}))
    auth = {**ACCEPT, "Authorization": f"Bearer {mint_token(SECRET, 'alice')}"}
    sid = http.post("/v1/sandboxes", json={"type": "base"}, headers=auth).json()["sandbox_id"]
    for path in (f"/v1/sandboxes/{sid}/mcp", "/v1/mcp?type=base&session_id=s-ct"):
        for headers in ({}, {"Content-Type": "text/plain"}):
            refused = http.post(path, content=b"{}", headers={**auth, **headers})
            assert refused.status_code == 415, refused.text
            assert refused.json()["code"] == "unsupported_media_type"
        call = b'"method": "tools/call", "params": {"name": "run_shell_command"}'
        for body, code in (
            (b"[1, 2]", -32600),  # MCP has no batches
            (b'{"not": "json-rpc"}', -32600),
            (b'"text"', -32600),
            (b"{not json", -32700),
            # a request whose id is no id: not a notification (202, nothing run)
            *((b'{"jsonrpc": "2.0", "id": %b, %b}' % (i, call), -32600) for i in ODD_IDS),
        ):
            headers = {**auth, "Content-Type": "application/json"}
            garbled = http.post(path, content=body, headers=headers)
            assert garbled.status_code == 400, garbled.text
            error = garbled.json()["error"]
            assert error["code"] == code and garbled.json()["id"] is None
            assert "\n" not in error["message"] and "pydantic" not in garbled.text
            assert error["message"].startswith("Invalid Request: " if code == -32600 else "Parse")
        bad_id = http.post(path, json={"jsonrpc": "2.0", "id": 7, "params": {}}, headers=auth)
        assert bad_id.json()["id"] == 7 and bad_id.json()["error"]["code"] == -32600


def test_a_refusal_while_mcp_runs_names_our_code_and_detail(serve, settings):
    """The session endpoint makes its sandbox on first use: over USER_MAX_SANDBOXES that is
    a 429 of ours, which the MCP client gets as a JSON-RPC error naming it, with our body."""
    http = serve(settings.model_copy(update={"user_max_sandboxes": 1}))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    session_url = f"{http.base_url}/v1/mcp?type=base&session_id=over-quota"

    async def refused() -> MCPError:
        async with client(session_url) as mcp:
            with pytest.raises(MCPError) as listing:
                await mcp.list_tools()
            with pytest.raises(MCPError) as calling:
                await mcp.call_tool("run_ipython_cell", {"code": "1"})
            assert calling.value.data == listing.value.data
            return listing.value

    error = asyncio.run(refused())
    assert error.code == -32000  # a server error of ours, not -32603 "Internal error"
    assert error.message.startswith("quota_exceeded: USER_MAX_SANDBOXES: ")
    assert error.data["code"] == "quota_exceeded" and error.data["status"] == 429
    assert error.data["detail"] == error.message.removeprefix("quota_exceeded: ")
    assert isinstance(error.data["retryAfter"], int) and error.data["retryAfter"] >= 1
    # the sandbox the user has still answers, and its end frees the quota for the session
    asyncio.run(_expect_value(f"{http.base_url}/v1/sandboxes/{sid}/mcp", "6 * 7", "42\n"))
    assert http.delete(f"/v1/sandboxes/{sid}").status_code in (200, 204)
    asyncio.run(_expect_value(session_url, "'made'", "'made'\n"))


def test_the_session_endpoint_makes_one_sandbox_on_first_use_and_reuses_it(
    serve, settings, docker_client
):
    first, second = serve(settings), serve(settings)  # two instances, one store
    path = "/v1/mcp?type=base&session_id=chat%201"

    async def initialize_only() -> None:
        async with client(f"{first.base_url}{path}"):
            pass

    asyncio.run(initialize_only())
    assert containers_of(docker_client, settings) == []  # nothing made before a tool is used

    async def use(base: str, code: str) -> str:
        async with client(f"{base}{path}") as mcp:
            assert "run_ipython_cell" in {t.name for t in (await mcp.list_tools()).tools}
            return text(await mcp.call_tool("run_ipython_cell", {"code": code}))

    assert asyncio.run(use(str(first.base_url), "memo = 'kept'")) == ""
    assert asyncio.run(use(str(second.base_url), "memo")) == "'kept'\n"
    (box,) = first.get("/v1/sandboxes").json()["items"]
    assert box["session_id"] == "chat 1" and box["type"] == "base"
    assert len(containers_of(docker_client, settings)) == 1
    bad = httpx.post(f"{first.base_url}/v1/mcp?type=nope&session_id=x", json=INITIALIZE)
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_type"
    missing = httpx.post(f"{first.base_url}/v1/mcp?type=base", json=INITIALIZE)
    assert missing.status_code == 422


def test_concurrent_first_uses_of_a_session_share_one_sandbox_at_the_quota(
    serve, settings, docker_client
):
    """Several clients' first tool calls on one session at once, on two instances, for a
    user with room for one more sandbox: all are served by one sandbox, made by one launch;
    none is refused the quota its session's sandbox already holds."""
    quota = settings.model_copy(
        update={"auth_mode": "jwt", "auth_jwt_secret": SECRET, "user_max_sandboxes": 2}
    )
    first, second = serve(quota), serve(quota)
    token = mint_token(SECRET, "alice")
    held = first.post(
        "/v1/sandboxes", json={"type": "base"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert held.status_code == 201, held.text
    before = {c.id for c in containers_of(docker_client, quota)}
    since = time.time()
    path = "/v1/mcp?type=base&session_id=raced"
    clients = 6
    ready: list[None] = []
    go = asyncio.Event()

    async def use(base: str) -> str:
        async with client(f"{base}{path}", token) as mcp:
            ready.append(None)  # every client's session is open before any first call
            if len(ready) == clients:
                go.set()
            await go.wait()
            result = await mcp.call_tool("run_shell_command", {"command": "hostname"})
            assert not result.is_error, text(result)
            return text(result)

    async def race() -> list:
        bases = [str(first.base_url), str(second.base_url)] * (clients // 2)
        return await asyncio.gather(*(use(b) for b in bases), return_exceptions=True)

    answers = asyncio.run(race())
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert not failed, failed
    assert len(set(answers)) == 1, answers  # one sandbox's hostname
    made = [c for c in containers_made_since(docker_client, quota, since) if c not in before]
    assert len(made) == 1, f"{len(made)} launches for one session"
    listed = first.get("/v1/sandboxes", headers={"Authorization": f"Bearer {token}"}).json()
    assert {box["session_id"] for box in listed["items"]} == {None, "raced"}
    assert len(containers_of(docker_client, quota)) == 2


def test_mcp_servers_at_create_and_later_join_the_tools(serve, settings, caplog):
    caplog.set_level(logging.DEBUG)
    http = serve(settings)
    created = http.post(
        "/v1/sandboxes",
        json={"type": "base", "mcp_servers": {"mcpServers": {"early": inline_server(K="sk-1")}}},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sandbox_id"]
    base = f"/v1/sandboxes/{sid}"
    # later: a server that is a file in the workspace
    assert http.put(f"{base}/files/srv/server.py", content=SERVER_SOURCE).status_code == 200
    later = {"late": {"command": "python3", "args": ["srv/server.py"], "env": {"K": "sk-2"}}}
    added = http.post(f"{base}/mcp-servers", json={"mcpServers": later})
    assert added.status_code == 200, added.text
    assert [s["name"] for s in added.json()["servers"]] == ["late"]

    tools = {t["name"]: t for t in http.get(f"{base}/tools").json()["tools"]}
    assert {"run_ipython_cell", "early__echo", "early__tiny_png", "late__echo"} <= set(tools)
    assert tools["late__add"]["server"] == "late" and "server" not in tools["run_ipython_cell"]
    echo = http.post(f"{base}/tools/late__echo", json={"text": "hello"}).json()
    assert echo == {"content": [{"type": "text", "text": "hello"}], "isError": False}
    env = http.post(f"{base}/tools/early__env", json={"key": "K"}).json()
    assert env["content"][0]["text"] == "sk-1"
    whoami = http.post(f"{base}/tools/late__whoami", json={}).json()["content"][0]["text"]
    assert whoami == "1000 /workspace"  # the sandbox's user, in its workspace
    listed = http.get(f"{base}/mcp-servers").json()["servers"]
    assert {s["name"]: s["status"] for s in listed} == {"early": "running", "late": "running"}

    async def over_mcp() -> None:  # the sandbox as an MCP server offers them too
        async with client(f"{http.base_url}{base}/mcp") as mcp:
            offered = {t.name: t for t in (await mcp.list_tools()).tools}
            assert offered["late__echo"].meta == {"agentscope-faas/server": "late"}
            image = await mcp.call_tool("early__tiny_png", {})
            (part,) = image.content
            assert part.type == "image" and part.mime_type == "image/png"
            assert base64.b64decode(part.data) == tiny_png()
            summed = await mcp.call_tool("late__add", {"a": 2, "b": 40})
            assert text(summed) == "42" and summed.structured_content == {"result": 42}

    asyncio.run(over_mcp())
    assert http.delete(f"{base}/mcp-servers/late").json() == {"deleted": "late"}
    names = {t["name"] for t in http.get(f"{base}/tools").json()["tools"]}
    assert "late__echo" not in names and "early__echo" in names
    for secret in ("sk-1", "sk-2"):
        assert secret not in caplog.text
        assert secret not in http.get(f"{base}/mcp-servers").text


def test_a_server_that_fails_to_start_is_a_clear_error(serve, settings, docker_client):
    http = serve(settings)
    crashing = {"command": "python3", "args": ["-c", SERVER_SOURCE, "--crash"]}
    refused = http.post(
        "/v1/sandboxes", json={"type": "base", "mcp_servers": {"mcpServers": {"c": crashing}}}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "mcp_server_failed"
    detail = refused.json()["detail"]
    assert "'c'" in detail and "exited (code 3)" in detail and "boom: no API key" in detail
    assert containers_of(docker_client, settings) == []  # the new sandbox went again
    assert http.get("/v1/sandboxes").json()["items"] == []

    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    missing = {"mcpServers": {"gone": {"command": "no-such-mcp-server"}}}
    later = http.post(f"/v1/sandboxes/{sid}/mcp-servers", json=missing)
    assert later.status_code == 422 and later.json()["code"] == "mcp_server_failed"
    assert "command not found: 'no-such-mcp-server'" in later.json()["detail"]
    invalid = http.post(f"/v1/sandboxes/{sid}/mcp-servers", json={"mcpServers": {"a__b": {}}})
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request"
    # a URL or header the tool server's HTTP client would refuse to send (schemathesis found
    # the first as a 500 from the tool server): refused here, before the sandbox is reached
    # so is a process execve would not start (a NUL anywhere, "=" in an env name): the
    # breaker's were a 500 from the tool server
    for bad in (
        {"url": "http://\u00b4yO;\x7f"},
        {"url": "http://host/mcp", "headers": {"X-A": "v\r\nX-B: w"}},
        {"command": "tr\u0000ue"},
        {"command": "true", "args": ["a\u0000"]},
        {"command": "true", "cwd": "w\u0000"},
        {"command": "true", "env": {"A\u0000": "1"}},
        {"command": "true", "env": {"A": "\u00001"}},
        {"command": "true", "env": {"A=B": "1"}},
        {"command": "true", "env": {"": "1"}},
    ):
        unsendable = http.post(f"/v1/sandboxes/{sid}/mcp-servers", json={"mcpServers": {"u": bad}})
        assert unsendable.status_code == 422, unsendable.text
        assert unsendable.json()["code"] == "invalid_request"
    nul = {"mcpServers": {"n": {"command": "true", "env": {"A": "\u0000"}}}}
    made = http.post("/v1/sandboxes", json={"type": "base", "mcp_servers": nul})
    assert made.status_code == 422 and made.json()["code"] == "invalid_request"
    ran = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": "echo ok"})
    assert ran.json()["content"][0]["text"] == "ok\n"  # the sandbox itself is unharmed


def test_a_streamable_http_server_inside_the_sandbox(serve, settings):
    """A URL server (here one the sandbox runs itself on its loopback: the sandboxes have no
    route to the host's) over the Streamable HTTP transport."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    base = f"/v1/sandboxes/{sid}"
    http.put(f"{base}/files/web.py", content=SERVER_SOURCE)
    start = (
        "import subprocess, time, urllib.request\n"
        "p = subprocess.Popen(['python3', 'web.py', '--http', '8765'], start_new_session=True)\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        urllib.request.urlopen('http://127.0.0.1:8765/mcp', timeout=1)\n"
        "    except urllib.error.HTTPError:\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.05)\n"
    )
    assert not http.post(f"{base}/tools/run_ipython_cell", json={"code": start}).json()["isError"]
    web = {"url": "http://127.0.0.1:8765/mcp", "headers": {"Authorization": "Bearer sk-3"}}
    added = http.post(f"{base}/mcp-servers", json={"mcpServers": {"web": web}})
    assert added.status_code == 200, added.text
    assert added.json()["servers"][0]["transport"] == "streamable_http"
    echo = http.post(f"{base}/tools/web__echo", json={"text": "via http"}).json()
    assert echo["content"][0]["text"] == "via http"


def test_the_sdk_starts_mcp_servers_at_create_and_later(serve, settings):
    from functions.runtime.sandbox import BaseSandbox, McpServerFailed

    url = str(serve(settings).base_url)
    servers = {"mcpServers": {"first": inline_server()}}
    with BaseSandbox(base_url=url, settings=settings, mcp_servers=servers) as box:
        assert "first__echo" in {t["name"] for t in box.list_tools()}
        box.call_tool("run_shell_command", {"command": f"cat > s.py <<'EOF'\n{SERVER_SOURCE}\nEOF"})
        added = box.add_mcp_servers(
            {"mcpServers": {"second": {"command": "python3", "args": ["s.py"]}}}
        )
        assert added["servers"][0]["tools"][0].startswith("second__")
        assert box.call_tool("second__echo", {"text": "sdk"})["content"][0]["text"] == "sdk"
        with pytest.raises(McpServerFailed, match="command not found"):
            box.add_mcp_servers({"mcpServers": {"x": {"command": "nope-nope"}}})


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_an_agentscope_agent_uses_a_session_s_sandbox_as_its_mcp_server(serve, settings):
    """AgentScope's own MCP client on the session endpoint: its calls stream as mcp_call."""
    from agentscope.mcp import HttpMCPConfig, MCPClient

    from functions.runtime.server import build_app
    from tests.agentscope.apps import agentscope_app
    from tests.agentscope.stream import data_of, events_of, messages
    from tests.fakes.openai_server import FakeOpenAIServer, text_reply, tool_calls_reply
    from tests.fixtures.servers import serve_app

    http = serve(settings)
    url = f"{http.base_url}/v1/mcp?type=base&session_id=agent-1"

    def mcps() -> list:
        config = HttpMCPConfig(url=url)
        return [MCPClient(name="sandbox", is_stateful=False, mcp_config=config)]

    with FakeOpenAIServer() as model:
        model.push(
            tool_calls_reply(
                [("call_s", "mcp__sandbox__run_ipython_cell", '{"code": "print(6 * 7)"}')]
            ),
            text_reply("42."),
        )
        app = agentscope_app(model.base_url, tools=lambda: [], mcps=mcps, bypass=True)
        with serve_app(build_app(app, Settings(store_url="memory://"))) as agent:
            body = {
                "session_id": "agent-1",
                "input": [{"role": "user", "content": [{"type": "text", "text": "6 * 7?"}]}],
            }
            events = events_of(httpx.post(f"{agent}/process", json=body, timeout=120).text)
    (call,) = messages(events, "mcp_call")
    (output,) = messages(events, "mcp_call_output")
    assert data_of(call)["call_id"] == data_of(output)["call_id"] == "call_s"
    assert data_of(call)["server_label"] == "sandbox"
    assert data_of(call)["tool"] == "run_ipython_cell"
    assert data_of(output)["output"] == "42\n"
    (box,) = http.get("/v1/sandboxes").json()["items"]
    assert box["session_id"] == "agent-1"


def test_without_the_mcp_package_the_mcp_routes_say_so(serve, settings, monkeypatch):
    """The seed's 1.x environment (mcp<2, no mcp_types) can serve the sandbox function; its
    MCP routes then answer 501 saying what is missing, not a 500."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    monkeypatch.setitem(sys.modules, "functions.runtime.sandbox.mcp.bridge", None)
    for path in (f"/v1/sandboxes/{sid}/mcp", "/v1/mcp?type=base&session_id=s-none"):
        refused = http.post(path, json=INITIALIZE, headers=ACCEPT)
        assert refused.status_code == 501, refused.text
        assert refused.json()["code"] == "not_supported"
        assert "mcp package 2.x" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("a" * 70_000, "70000 characters"),
        ("..", "no path"),
        (".", "no path"),
        ("a/../b", "no path"),
    ],
    ids=["long", "dotdot", "dot", "slash"],
)
def test_a_name_no_tool_can_have_is_an_unknown_tool_on_both_doors(serve, settings, name, said):
    """Past what a URL to the tool server holds, or a path, a name is no tool's: -32602."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]

    async def refused(url: str) -> MCPError:
        async with client(url) as mcp:
            with pytest.raises(MCPError) as err:
                await mcp.call_tool(name, {})
            return err.value

    for url in (
        f"{http.base_url}/v1/sandboxes/{sid}/mcp",
        f"{http.base_url}/v1/mcp?type=base&session_id=long",
    ):
        error = asyncio.run(refused(url))
        assert error.code == -32602 and error.data["code"] == "unknown_tool"
        assert said in error.data["detail"]
