"""A stdio MCP server that misbehaves on request, as user code in a sandbox may.

    python3 misbehaving_mcp.py [TOOLS]
    python3 misbehaving_mcp.py --http PORT   (Streamable HTTP, JSON answers: echo and slow)

``TOOLS`` picks what ``tools/list`` answers: ``good`` (default: ``echo``, ``bad``, ``slow``),
``odd`` (those plus tools whose names or schemas are malformed) or ``many`` (those plus 1500
more). Tools:

* ``echo(text)``: the text back.
* ``bad(how)``: answers as ``how`` says (``HOW`` below): a malformed result or error, a
  response under a malformed id before the real one, output without a newline, ...
* ``slow()``: writes ``slow-started`` in its working directory, then waits; a
  ``notifications/cancelled`` for its request is written to ``cancelled.log`` (one request
  id a line) and ends it without an answer.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {}}}},
    {"name": "bad", "description": "misbehaves", "inputSchema": {"type": "object"}},
    {"name": "slow", "inputSchema": {"type": "object"}},
]
ODD_TOOLS = [
    {"name": "emptyschema", "inputSchema": {}},
    {"name": "stringschema", "inputSchema": {"type": "string"}},
    {"name": "noschema"},
    {"name": "listschema", "inputSchema": [1, 2]},
    {"name": "badprops", "inputSchema": {"type": "object", "properties": [], "required": 5}},
    {"name": "nanschema", "inputSchema": {"type": "object", "default": float("nan")}},
    {"name": "descobj", "description": {"a": 1}, "inputSchema": {"type": "object"}},
    {"name": "surrogate", "description": "lone \ud800 here", "inputSchema": {"type": "object"}},
    {"name": 12345, "inputSchema": {"type": "object"}},
    {"name": "", "inputSchema": {"type": "object"}},
    {"name": "x" * 5000, "inputSchema": {"type": "object"}},
    {"name": None},
    "not a tool",
]

_write = threading.Lock()
cancelled: set[int] = set()
wake = threading.Condition()


def out(message: object) -> None:
    raw(json.dumps(message))


def raw(line: str) -> None:
    with _write:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def result(ident: int, value: dict) -> None:
    out({"jsonrpc": "2.0", "id": ident, "result": value})


def text(value: str) -> dict:
    return {"content": [{"type": "text", "text": value}]}


def bad(ident: int, how: str) -> None:
    if how == "nonewline":  # without end, and with no newline ever
        while True:
            sys.stdout.write("A" * 65536)
    if how == "junk-ids":  # malformed messages first, then the real answer
        out({"jsonrpc": "2.0", "id": {"a": 1}, "result": {}})
        out({"jsonrpc": "2.0", "id": [ident], "result": {}})
        out({"jsonrpc": "2.0", "id": True, "result": {}})
        out({"jsonrpc": "2.0", "id": 1.5, "result": {}})
        out({"jsonrpc": "2.0", "id": 999999, "result": {}})
        out({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"})
        out({"jsonrpc": "2.0", "id": [1], "method": "sampling/createMessage", "params": {}})
        out({"jsonrpc": "2.0", "id": 7, "method": {"not": "a string"}})
        out(5)
        out([1, "two", None, {"id": {}}])
        raw("[" * 100000 + "]" * 100000)  # deeper than json's recursion
        raw("not json at all {{{")
        raw(f'{{"jsonrpc":"2.0","id":{ident},"result":{{"content":[],"structuredContent":')
        result(ident, text("after the junk"))
        return
    if how == "close-stdout":  # the reader's end while the process runs on
        result(ident, text("closing"))
        os.close(1)
        threading.Event().wait()
    if how.startswith("error:"):
        out({"jsonrpc": "2.0", "id": ident, "error": json.loads(how[len("error:") :])})
        return
    if how.startswith("raw:"):  # a result given as JSON text (NaN and all)
        raw(f'{{"jsonrpc":"2.0","id":{ident},"result":{how[len("raw:") :]}}}')
        return
    if how.startswith("result:"):
        result(ident, json.loads(how[len("result:") :]))
        return
    result(ident, text(f"no such way to misbehave: {how}"))


def slow(ident: int) -> None:
    open("slow-started", "w").close()
    with wake:
        wake.wait_for(lambda: ident in cancelled, timeout=600)
    if ident not in cancelled:
        result(ident, text("finished"))


def note_cancelled(params: dict) -> None:
    with open("cancelled.log", "a") as log:
        log.write(f"{params.get('requestId')}\n")
    with wake:
        cancelled.add(params.get("requestId"))
        wake.notify_all()


class Http(BaseHTTPRequestHandler):
    """One JSON-RPC message a POST; ``slow`` holds its POST until cancelled (then 202)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method, ident = message.get("method"), message.get("id")
        params = message.get("params") or {}
        answer = None
        if method == "notifications/cancelled":
            note_cancelled(params)
        elif method == "initialize":
            info = {"name": "misbehaving", "version": "1"}
            answer = {"protocolVersion": params.get("protocolVersion"), "capabilities": {}}
            answer["serverInfo"] = info
        elif method == "tools/list":
            answer = {"tools": [t for t in GOOD_TOOLS if t["name"] in ("echo", "slow")]}
        elif method == "tools/call" and params.get("name") == "slow":
            open("slow-started", "w").close()
            with wake:
                wake.wait_for(lambda: ident in cancelled, timeout=600)
            answer = None if ident in cancelled else text("finished")
        elif method == "tools/call":
            answer = text(str((params.get("arguments") or {}).get("text")))
        body = (
            b""
            if answer is None
            else json.dumps({"jsonrpc": "2.0", "id": ident, "result": answer}).encode()
        )
        self.send_response(202 if answer is None else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    if sys.argv[1:2] == ["--http"]:
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Http).serve_forever()
        return
    tools = GOOD_TOOLS + (ODD_TOOLS if sys.argv[1:] == ["odd"] else [])
    if sys.argv[1:] == ["many"]:  # more than a server may offer
        tools = GOOD_TOOLS + [
            {"name": f"t{i}", "inputSchema": {"type": "object"}} for i in range(1500)
        ]
    for line in sys.stdin:
        message = json.loads(line)
        method, ident = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if method == "notifications/cancelled":
            note_cancelled(params)
            continue
        if ident is None:
            continue
        if method == "initialize":
            info = {"name": "misbehaving", "version": "1", "odd": "\ud800"}
            asked = params.get("protocolVersion")
            result(ident, {"protocolVersion": asked, "capabilities": {}, "serverInfo": info})
        elif method == "tools/list":
            result(ident, {"tools": tools})
        elif method == "tools/call":
            name, args = params.get("name"), params.get("arguments") or {}
            if name == "echo":
                result(ident, text(str(args.get("text"))))
            elif name == "bad":
                bad(ident, str(args.get("how")))
            elif name == "slow":
                threading.Thread(target=slow, args=(ident,), daemon=True).start()
            else:
                out({"jsonrpc": "2.0", "id": ident, "error": {"code": -32602, "message": "no"}})
        else:
            out({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": "no"}})


if __name__ == "__main__":
    main()
