"""MCP servers inside the tool server (``/mcp-servers``): started from the seed's config shapes,
their tools offered as ``<server>__<tool>`` and called like the built-in ones."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.fakes.mcp_server_stdlib import tiny_png
from tests.fixtures.servers import ROOT, free_port, wait_http

STDLIB_SERVER = ROOT / "tests" / "fakes" / "mcp_server_stdlib.py"


def stdlib_server(workspace: Path, *flags: str, **env: str) -> dict:
    """A stdio config running the standard-library test server from the workspace."""
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy(STDLIB_SERVER, workspace / "server.py")
    return {"command": sys.executable, "args": ["server.py", *flags], "env": env}


def add(toolserver, servers: dict, **extra) -> object:
    with toolserver.client() as http:
        return http.post("/mcp-servers", json={"mcpServers": servers, **extra})


def tools_of(toolserver) -> dict[str, dict]:
    with toolserver.client() as http:
        return {t["name"]: t for t in http.get("/tools").json()["tools"]}


def test_a_stdio_server_s_tools_join_the_list_and_answer_calls(toolserver):
    config = stdlib_server(toolserver.workspace, API_KEY="sk-secret-value")
    added = add(toolserver, {"demo": config})
    assert added.status_code == 200, added.text
    (summary,) = added.json()["servers"]
    assert summary["name"] == "demo" and summary["status"] == "running"
    assert summary["transport"] == "stdio"
    assert summary["server_info"]["name"] == "stdlib-test-server"
    assert "sk-secret-value" not in added.text

    tools = tools_of(toolserver)
    assert {"run_ipython_cell", "run_shell_command", "demo__echo", "demo__tiny_png"} <= set(tools)
    assert tools["demo__add"]["server"] == "demo"
    assert tools["demo__add"]["parameters"]["required"] == ["a", "b"]
    assert "server" not in tools["run_ipython_cell"]

    assert toolserver.call("demo__echo", text="hi") == {
        "content": [{"type": "text", "text": "hi"}],
        "isError": False,
    }
    summed = toolserver.call("demo__add", a=2, b=40)
    assert summed["structuredContent"] == {"result": 42}
    image = toolserver.call("demo__tiny_png")["content"][0]
    assert image["type"] == "image" and image["mimeType"] == "image/png"
    assert base64.b64decode(image["data"]) == tiny_png()
    assert toolserver.call("demo__env", key="API_KEY")["content"][0]["text"] == "sk-secret-value"
    whoami = toolserver.call("demo__whoami")["content"][0]["text"]
    assert whoami.split(" ", 1)[1] == str(toolserver.workspace.resolve())
    failed = toolserver.call("demo__fail")
    assert failed["isError"] is True and "always fails" in failed["content"][0]["text"]
    with toolserver.client() as http:
        listed = http.get("/mcp-servers").json()["servers"]
        assert [s["name"] for s in listed] == ["demo"]
        assert "sk-secret-value" not in http.get("/mcp-servers").text
        unknown = http.post("/tools/demo__nope", json={})
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_tool"
        not_object = http.post("/tools/demo__echo", json=["x"]).json()
        assert not_object["isError"] is True and "JSON object" in not_object["content"][0]["text"]


def test_a_server_written_with_the_official_sdk_works_over_stdio(toolserver):
    config = {
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_server_sdk"],
        "env": {"PYTHONPATH": str(ROOT)},
    }
    added = add(toolserver, {"sdk": config})
    assert added.status_code == 200, added.text
    assert {"sdk__add", "sdk__shout", "sdk__png"} <= set(tools_of(toolserver))
    assert toolserver.call("sdk__add", a=1, b=2)["content"] == [{"type": "text", "text": "3"}]
    assert toolserver.call("sdk__shout", text="mcp")["content"][0]["text"] == "MCP"
    png = toolserver.call("sdk__png")["content"][0]
    assert png["type"] == "image" and base64.b64decode(png["data"]) == tiny_png()


def test_a_streamable_http_server_by_url(toolserver):
    port = free_port()
    import subprocess

    proc = subprocess.Popen([sys.executable, str(STDLIB_SERVER), "--http", str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp", proc)
        url = {"url": f"http://127.0.0.1:{port}/mcp", "headers": {"X-Api-Key": "k"}}
        added = add(toolserver, {"remote": url})
        assert added.status_code == 200, added.text
        assert added.json()["servers"][0]["transport"] == "streamable_http"
        assert toolserver.call("remote__echo", text="over http")["content"][0]["text"] == (
            "over http"
        )
    finally:
        proc.kill()
        proc.wait()


def test_the_sdk_s_streamable_http_server_with_sse_answers(toolserver):
    port = free_port()
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.mcp_server_sdk", "--http", str(port)], cwd=ROOT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp", proc)
        added = add(toolserver, {"web": {"url": f"http://127.0.0.1:{port}/mcp"}})
        assert added.status_code == 200, added.text
        assert toolserver.call("web__add", a=20, b=22)["content"][0]["text"] == "42"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"command": "no-such-mcp-server-command"}, "command not found"),
        ("crash", "boom: no API key configured"),
        ("mute", "did not answer initialize within 2 s"),
        ({"url": "http://127.0.0.1:9/mcp"}, "could not reach"),
        # what execve refuses (the sandbox function refuses these first; this is the
        # tool server's own answer)
        ({"command": "tr\u0000ue"}, "embedded null byte"),
        ({"command": "true", "env": {"A=B": "1"}}, "illegal environment variable name"),
    ],
)
def test_a_server_that_fails_to_start_is_a_clear_422(start_toolserver, config, why):
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="2")
    if config in ("crash", "mute"):
        config = stdlib_server(toolserver.workspace, f"--{config}")
    good = stdlib_server(toolserver.workspace)
    failed = add(toolserver, {"good": good, "bad": config})
    assert failed.status_code == 422, failed.text
    assert failed.json()["code"] == "mcp_server_failed"
    assert "'bad'" in failed.json()["detail"] and why in failed.json()["detail"]
    # all or none: the good one started in the same request was stopped again
    assert not [n for n in tools_of(toolserver) if n.startswith("good__")]
    with toolserver.client() as http:
        assert http.get("/mcp-servers").json() == {"servers": []}


@pytest.mark.parametrize(
    "body",
    [
        {"mcpServers": {"a__b": {"command": "x"}}},
        {"mcpServers": {"ok": {"command": ""}}},
        {"mcpServers": {"ok": {"command": "x", "args": "not a list"}}},
        {"mcpServers": {"ok": {"command": "x", "env": {"A": 1}}}},
        {"mcpServers": {"ok": {"url": "ftp://host/mcp"}}},
        {"mcpServers": {"ok": {"url": "http://host/sse", "type": "sse"}}},
        # what http.client would refuse to send (schemathesis found the first as a 500)
        {"mcpServers": {"ok": {"url": "http://\u00b4yO;\x7f"}}},
        {"mcpServers": {"ok": {"url": "http://host/a\x01b"}}},
        {"mcpServers": {"ok": {"url": "http://host/a b"}}},
        {"mcpServers": {"ok": {"url": "http://host/mcp", "headers": {"X-A": "v\r\nX-B: w"}}}},
        {"mcpServers": {"ok": {"url": "http://host/mcp", "headers": {"X A": "v"}}}},
        {"mcpServers": {"ok": {"url": "http://host/mcp", "headers": {"X-A": "\u20ac"}}}},
        {"mcpServers": {"ok": {"neither": True}}},
        {"servers": {}},
        {"mcpServers": {}, "overwrite": "yes"},
    ],
)
def test_bad_configs_are_400(toolserver, body):
    with toolserver.client() as http:
        resp = http.post("/mcp-servers", json=body)
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_mcp_config", resp.text


def test_same_config_is_kept_another_needs_overwrite_and_delete_stops_it(toolserver):
    config = stdlib_server(toolserver.workspace, MODE="one")
    assert add(toolserver, {"demo": config}).status_code == 200
    assert add(toolserver, {"demo": config}).status_code == 200  # idempotent
    changed = {**config, "env": {"MODE": "two"}}
    clash = add(toolserver, {"demo": changed})
    assert clash.status_code == 409 and clash.json()["code"] == "mcp_server_exists"
    assert "two" not in clash.text
    assert add(toolserver, {"demo": changed}, overwrite=True).status_code == 200
    assert toolserver.call("demo__env", key="MODE")["content"][0]["text"] == "two"
    with toolserver.client() as http:
        assert http.delete("/mcp-servers/demo").json() == {"deleted": "demo"}
        assert http.delete("/mcp-servers/demo").status_code == 404
    assert not [n for n in tools_of(toolserver) if n.startswith("demo__")]


def test_a_call_past_the_cap_is_cancelled_and_a_dead_server_is_an_error_result(
    start_toolserver,
):
    toolserver = start_toolserver(SANDBOX_MAX_CALL_TIMEOUT_S="1")
    assert add(toolserver, {"demo": stdlib_server(toolserver.workspace)}).status_code == 200
    slow = toolserver.call("demo__sleep", seconds=30)
    assert (
        slow["isError"] is True and "did not answer sleep within 1 s" in slow["content"][0]["text"]
    )
    toolserver.call(
        "run_shell_command", command="pkill -f 'server.py$' || kill $(pgrep -f server.py)"
    )
    dead = toolserver.call("demo__echo", text="x")
    assert dead["isError"] is True and "exited" in dead["content"][0]["text"]
    with toolserver.client() as http:
        assert http.get("/mcp-servers").json()["servers"][0]["status"] == "exited"
    # the same configuration again restarts a server that has exited
    assert add(toolserver, {"demo": stdlib_server(toolserver.workspace)}).status_code == 200
    assert toolserver.call("demo__echo", text="back")["content"][0]["text"] == "back"


def test_a_traced_call_answers_its_span(toolserver):
    assert add(toolserver, {"demo": stdlib_server(toolserver.workspace)}).status_code == 200
    sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with toolserver.client() as http:
        resp = http.post("/tools/demo__fail", json={}, headers={"traceparent": sampled})
    span = json.loads(resp.headers["X-Toolserver-Span"])
    assert span["name"] == "execute_tool demo__fail" and span["error"] == "tool_error"


def test_a_large_result_is_bounded_as_the_built_in_tools_output_is(start_toolserver):
    # text parts share the output limit (cut with the usual marker); a result still over the
    # result limit (a big image) is an error result, never a response past Lambda's cap
    toolserver = start_toolserver(TOOLSERVER_OUTPUT_LIMIT="2000", TOOLSERVER_RESULT_LIMIT="50000")
    assert add(toolserver, {"demo": stdlib_server(toolserver.workspace)}).status_code == 200
    small = toolserver.call("demo__texts", sizes=[1000, 999])
    assert [len(p["text"]) for p in small["content"]] == [1000, 999]
    big = toolserver.call("demo__texts", sizes=[1500, 1000, 700])
    first, second = big["content"]
    assert first["text"] == "0" * 1500 and not big["isError"]
    kept, marker = second["text"][:500], second["text"][500:]
    assert kept == "1" * 500 and "truncated: 1200 more bytes" in marker
    image = toolserver.call("demo__blob", size=30000)
    assert image["content"][0]["type"] == "image" and not image["isError"]
    too_big = toolserver.call("demo__blob", size=60000)
    assert too_big["isError"] is True
    assert "TOOLSERVER_RESULT_LIMIT" in too_big["content"][0]["text"]
    assert toolserver.call("demo__echo", text="still here")["content"][0]["text"] == "still here"
