"""An MCP server in the sandbox runs user code: whatever it sends, the tool server stays up,
its reader goes on, and what it answers is well-formed MCP (breaker findings F2-F6)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import mcp.types
import pytest

from tests.fakes.mcp_server_stdlib import answer_json, handle
from tests.toolserver.conftest import RunningToolServer
from tests.toolserver.test_mcp_servers import add

SCRIPT = Path(__file__).with_name("misbehaving_mcp.py")
DEADLINE_S = 30.0
SURROGATE = re.compile("[\ud800-\udfff]")


def config(tools: str = "good") -> dict:
    return {"command": sys.executable, "args": [str(SCRIPT), tools]}


def strict(resp: httpx.Response) -> Any:
    """The answer's JSON as a strict parser reads it: no NaN or Infinity, no lone surrogate
    (Python decodes an escaped pair to one character, so any left is lone), 64 levels at
    most."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"the answer holds {constant}, which JSON cannot carry")

    value = json.loads(resp.content, parse_constant=refuse)

    def walk(item: Any, depth: int) -> None:
        assert depth <= 66, "the answer is nested too deep"
        if isinstance(item, str):
            assert not SURROGATE.search(item), f"a lone surrogate in {item!r}"
        elif isinstance(item, list):
            for inner in item:
                walk(inner, depth + 1)
        elif isinstance(item, dict):
            for key, inner in item.items():
                walk(key, depth + 1)
                walk(inner, depth + 1)

    walk(value, 0)
    return value


def call(toolserver: RunningToolServer, name: str, **args: object) -> dict:
    """A call answered 200 with a well-formed CallToolResult (checked with the official SDK's
    model, which the function's MCP doors answer with)."""
    with toolserver.client() as http:
        resp = http.post(f"/tools/{name}", json=args)
    assert resp.status_code == 200, resp.text
    result = strict(resp)
    mcp.types.CallToolResult.model_validate(result)
    assert set(result) <= {"content", "isError", "structuredContent", "_meta"}
    assert isinstance(result["isError"], bool)
    return result


def texts(result: dict) -> list[str]:
    return [part["text"] for part in result["content"] if part["type"] == "text"]


def summary(toolserver: RunningToolServer, name: str) -> dict:
    with toolserver.client() as http:
        servers = strict(http.get("/mcp-servers"))["servers"]
    return next(s for s in servers if s["name"] == name)


def until_status(toolserver: RunningToolServer, name: str, status: str) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while (found := summary(toolserver, name))["status"] != status:
        assert time.monotonic() < deadline, f"{name} stayed {found['status']}, never {status}"
        time.sleep(0.05)
    return found


# -- F5: malformed messages, and a reader that ends ----------------------------------------


def test_malformed_messages_are_ignored_and_the_reader_goes_on(toolserver):
    # an object or array id (unhashable: it killed the reader), a bool or float id, an id of
    # no request, requests with such ids, a method that is no string, messages that are no
    # object, a line nested deeper than json's recursion, lines that are no JSON
    assert add(toolserver, {"m": config()}).status_code == 200
    started = time.monotonic()
    result = call(toolserver, "m__bad", how="junk-ids")
    assert texts(result) == ["after the junk"] and result["isError"] is False
    assert time.monotonic() - started < 10  # answered, not timed out
    assert texts(call(toolserver, "m__echo", text="still")) == ["still"]
    assert summary(toolserver, "m")["status"] == "running"


def test_a_server_whose_output_ends_is_failed_its_calls_fail_at_once_and_re_adding_restarts(
    start_toolserver,
):
    toolserver = start_toolserver(SANDBOX_MAX_CALL_TIMEOUT_S="300")
    assert add(toolserver, {"m": config()}).status_code == 200
    pending: list[dict] = []
    waiting = threading.Thread(target=lambda: pending.append(call(toolserver, "m__slow")))
    waiting.start()
    started = time.monotonic()
    # the server closes its stdout but runs on: the reader ends, so the connection is over
    assert texts(call(toolserver, "m__bad", how="close-stdout")) == ["closing"]
    waiting.join(DEADLINE_S)
    assert not waiting.is_alive(), "a call waited on a server whose reader had ended"
    assert time.monotonic() - started < DEADLINE_S
    (lost,) = pending
    assert lost["isError"] is True and "closed its stdout" in texts(lost)[0]
    failed = until_status(toolserver, "m", "failed")
    assert "closed its stdout" in failed["error"]
    later = call(toolserver, "m__echo", text="x")
    assert later["isError"] is True and "Add it again" in texts(later)[0]
    # the same configuration again restarts it
    assert add(toolserver, {"m": config()}).json()["servers"][0]["status"] == "running"
    assert texts(call(toolserver, "m__echo", text="back")) == ["back"]


# -- F6: output without a newline -------------------------------------------------------------


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def test_a_server_writing_without_newlines_is_stopped_and_the_tool_server_stays_up(
    start_toolserver,
):
    # TOOLSERVER_RESULT_LIMIT 50000: one message may take 1 MiB (four results, at least 1 MiB)
    toolserver = start_toolserver(TOOLSERVER_RESULT_LIMIT="50000", SANDBOX_MAX_CALL_TIMEOUT_S="120")
    assert add(toolserver, {"m": config()}).status_code == 200
    result = call(toolserver, "m__bad", how="nonewline")
    assert result["isError"] is True
    assert "more than 1048576 bytes without a newline" in texts(result)[0]
    assert rss_kib(toolserver.proc.pid) < 200_000  # nothing piled up
    failed = summary(toolserver, "m")
    assert failed["status"] == "failed" and "without a newline" in failed["error"]
    with toolserver.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
    assert toolserver.call("run_shell_command", command="echo up")["isError"] is False
    assert add(toolserver, {"m": config()}).json()["servers"][0]["status"] == "running"
    assert texts(call(toolserver, "m__echo", text="back")) == ["back"]


@contextlib.contextmanager
def mcp_over_http(tools_call: Any) -> Iterator[str]:
    """An MCP server over Streamable HTTP on 127.0.0.1 (the stdlib test server's answers)
    whose ``tools/call`` is answered by ``tools_call(handler)``; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if message.get("method") == "tools/call":
                return tools_call(self)
            answer_json(self, handle(message))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/mcp"
    finally:
        server.shutdown()
        server.server_close()


def endless(kind: str) -> Any:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.end_headers()
        try:
            if kind == "text/event-stream":
                handler.wfile.write(b"data: ")
            while True:  # until the client hangs up
                handler.wfile.write(b"A" * 65536)
        except OSError:
            pass

    return answer


@pytest.mark.parametrize("kind", ["application/json", "text/event-stream"])
def test_an_endless_answer_over_http_is_an_error_result(start_toolserver, kind):
    toolserver = start_toolserver(TOOLSERVER_RESULT_LIMIT="50000", SANDBOX_MAX_CALL_TIMEOUT_S="120")
    with mcp_over_http(endless(kind)) as url:
        assert add(toolserver, {"h": {"url": url}}).status_code == 200
        result = call(toolserver, "h__echo", text="x")
    assert result["isError"] is True and "more than 1048576 bytes" in texts(result)[0]
    assert rss_kib(toolserver.proc.pid) < 200_000


@pytest.mark.parametrize("how", ["short", "reset"])
def test_an_answer_over_http_that_breaks_off_is_an_error_result(toolserver, how):
    # a body shorter than its Content-Length, or a reset in the middle of it: an error
    # result, never a 500 (IncompleteRead) or an unanswered call (a reset read as the
    # caller's hang-up)
    def broken(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"jsonrpc":')
        handler.wfile.flush()
        if how == "reset":
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        handler.close_connection = True

    with mcp_over_http(broken) as url:
        assert add(toolserver, {"h": {"url": url}}).status_code == 200
        result = call(toolserver, "h__echo", text="x")
    assert result["isError"] is True
    assert re.search(r"tools/call: the answer (is not JSON|from .* broke off)", texts(result)[0])


# -- F4: any shape of a JSON-RPC error ----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ({"code": "abc", "message": "boom"}, 'boom (its code "abc" is no integer)'),
        ("boom", 'a malformed error (not an object): "boom"'),
        ([1, 2], "a malformed error (not an object): [1, 2]"),
        ({"code": 1.5, "message": "m"}, "m (its code 1.5 is no integer)"),
        ({"code": True, "message": None, "data": {"x": 1}}, "(no message) (its code true"),
        ({"code": -32000, "message": 5}, "(a message that is no string: 5)"),
        ({}, "(no message) (its code null is no integer)"),
        ({"code": -32000, "message": "lone \ud800"}, "lone \ufffd"),
        ({"code": -32000, "message": "e" * 10000}, "output truncated"),
    ],
)
def test_any_error_answer_is_a_well_formed_error_result(toolserver, error, said):
    assert add(toolserver, {"m": config()}).status_code == 200
    result = call(toolserver, "m__bad", how="error:" + json.dumps(error))
    assert result["isError"] is True
    assert texts(result)[0].startswith("m: ") and said in texts(result)[0]


# -- F2: malformed results ----------------------------------------------------------------------


def note(result: dict, index: int = -1) -> str:
    return result["content"][index]["text"]


DEEP = "[" * 900 + "]" * 900
PNG = "iVBORw0KGgo="


@pytest.mark.parametrize(
    ("how", "check"),
    [
        (
            'result:{"content":[{"type":"bogus","foo":1}]}',
            lambda r: 'unknown content type "bogus"' in note(r),
        ),
        (
            'result:{"content":[{"type":"text","text":5}]}',
            lambda r: "a text block needs a string 'text', got a number" in note(r),
        ),
        (
            'result:{"content":[5,"x",null,{"type":"image"},'
            '{"type":"image","data":"not base64!","mimeType":"image/png"},'
            '{"type":"resource","resource":{"uri":"u"}}]}',
            lambda r: (
                len(r["content"]) == 6
                and "must be an object, got a number" in note(r, 0)
                and "got a string" in note(r, 1)
                and "got null" in note(r, 2)
                and "needs a string 'data'" in note(r, 3)
                and "is not base64" in note(r, 4)
                and "'text' or a base64 'blob'" in note(r, 5)
            ),
        ),
        (
            'result:{"content":"text"}',
            lambda r: r["isError"] is False and "content that is a string, no list" in note(r),
        ),
        (
            'result:{"content":[{"type":"text","text":"m","_meta":5,"extra":1,'
            '"annotations":{"priority":"high","audience":["user"]}}],"_meta":"x"}',
            lambda r: (
                r["content"]
                == [{"type": "text", "text": "m", "annotations": {"audience": ["user"]}}]
                and "_meta" not in r
            ),
        ),
        (
            'result:{"content":[],"structuredContent":[1,2]}',
            lambda r: (
                "structuredContent" not in r
                and "structuredContent of 'm' left out: it is an array, no object" in note(r)
            ),
        ),
        (
            'raw:{"content":[{"type":"text","text":"\\ud800 lone"}],'
            '"structuredContent":{"k\\udc00":"v\\ud800"}}',
            lambda r: (
                texts(r) == ["\ufffd lone"] and r["structuredContent"] == {"k\ufffd": "v\ufffd"}
            ),
        ),
        (
            f'raw:{{"content":[],"structuredContent":{{"v":{DEEP}}}}}',
            lambda r: "structuredContent" not in r and "nested deeper than 64 levels" in note(r),
        ),
        (
            'raw:{"content":[{"type":"text","text":"n"}],"structuredContent":{"v":NaN}}',
            lambda r: "structuredContent" not in r and "nan, a number JSON cannot carry" in note(r),
        ),
        (
            'raw:{"content":[],"structuredContent":{"v":[-Infinity]},"_meta":{"x":Infinity}}',
            lambda r: "structuredContent" not in r and "_meta" not in r,
        ),
        (
            'result:{"content":[{"type":"text","text":"t"}],"isError":"no"}',
            lambda r: r["isError"] is True and 'isError was "no", no boolean' in note(r),
        ),
    ],
)
def test_a_malformed_result_becomes_a_well_formed_one_saying_what_was_wrong(toolserver, how, check):
    assert add(toolserver, {"m": config()}).status_code == 200
    result = call(toolserver, "m__bad", how=how)
    assert check(result), result


def test_well_formed_content_of_every_kind_passes_as_it_is(toolserver):
    content = [
        {"type": "text", "text": "t \U0001f600", "annotations": {"priority": 0.5}},
        {"type": "image", "data": PNG, "mimeType": "image/png"},
        {"type": "audio", "data": "AAAA", "mimeType": "audio/wav", "_meta": {"k": [1]}},
        {"type": "resource_link", "uri": "file:///y", "name": "y", "size": 3},
        {"type": "resource", "resource": {"uri": "file:///x", "text": "x"}},
        {"type": "resource", "resource": {"uri": "file:///b", "blob": "AAAA", "mimeType": "a/b"}},
    ]
    sent = {"content": content, "structuredContent": {"a": [1, 2.5, None]}, "_meta": {"m": 1}}
    assert add(toolserver, {"m": config()}).status_code == 200
    result = call(toolserver, "m__bad", how="result:" + json.dumps(sent))
    assert result == {**sent, "isError": False}


# -- F3: tools whose names or schemas are malformed ---------------------------------------------


def test_tools_with_malformed_schemas_are_listed_with_object_schemas_and_unusable_ones_left_out(
    toolserver,
):
    added = add(toolserver, {"odd": config("odd")})
    assert added.status_code == 200, added.text
    with toolserver.client() as http:
        resp = http.get("/tools")
    assert resp.status_code == 200
    tools = {t["name"]: t for t in strict(resp)["tools"]}
    offered = {name for name in tools if name.startswith("odd__")}
    assert offered == {
        "odd__echo",
        "odd__bad",
        "odd__slow",
        "odd__emptyschema",
        "odd__stringschema",
        "odd__noschema",
        "odd__listschema",
        "odd__badprops",
        "odd__nanschema",
        "odd__descobj",
        "odd__surrogate",
    }
    assert "run_shell_command" in tools  # the built-in tools are listed beside them
    for name in offered:
        assert tools[name]["parameters"]["type"] == "object", tools[name]
    assert tools["odd__echo"]["parameters"] == {"type": "object", "properties": {"text": {}}}
    for name in ("emptyschema", "stringschema", "noschema", "listschema", "badprops", "nanschema"):
        assert tools[f"odd__{name}"]["parameters"] == {"type": "object"}
    assert tools["odd__descobj"]["description"] == ""
    assert tools["odd__surrogate"]["description"] == "lone \ufffd here"
    # the official SDK takes the list as an MCP door answers it
    listed = [
        {"name": t["name"], "description": t["description"], "inputSchema": t["parameters"]}
        for t in tools.values()
    ]
    mcp.types.ListToolsResult.model_validate({"tools": listed})
    odd = summary(toolserver, "odd")
    assert sorted(odd["tools"]) == sorted(offered)
    assert odd["server_info"]["odd"] == "\ufffd"
    assert texts(call(toolserver, "odd__echo", text="listed")) == ["listed"]


def test_a_server_offers_at_most_1000_tools_and_a_result_1000_blocks(toolserver):
    """The function checks what a sandbox answers on an event loop all its callers share:
    an MCP server in the sandbox cannot make that check as long as it likes."""
    assert add(toolserver, {"many": config("many")}).status_code == 200
    with toolserver.client() as http:
        tools = strict(http.get("/tools"))["tools"]
    assert len([t for t in tools if t["name"].startswith("many__")]) == 1000
    blocks = {"content": [{"type": "text", "text": ""} for _ in range(1500)]}
    result = call(toolserver, "many__bad", how="result:" + json.dumps(blocks))
    assert texts(result)[:1000] == [""] * 1000 and len(result["content"]) == 1001
    assert "500 content blocks of 'many' past the first 1000 left out" in note(result)
