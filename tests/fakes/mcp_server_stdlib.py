"""A small MCP server on the standard library, for tests that run it inside a sandbox.

The sandbox images have python3 but not the ``mcp`` package, so this speaks the protocol
itself (JSON-RPC 2.0; the lifecycle, ``tools/list`` and ``tools/call`` of MCP 2025-11-25):

    python3 mcp_server_stdlib.py                 stdio (one JSON message per line)
    python3 mcp_server_stdlib.py --http PORT     Streamable HTTP on 127.0.0.1:PORT, path /mcp
    python3 mcp_server_stdlib.py --crash         writes to stderr and exits 3 at once
    python3 mcp_server_stdlib.py --mute          reads its input and never answers

Tools: ``echo(text)``, ``add(a, b)``, ``env(key)`` (a variable of its environment),
``whoami()`` (uid and working directory), ``tiny_png()`` (image content: a 2x2 PNG),
``fail()`` (an error result), ``sleep(seconds)``, ``texts(sizes)`` (one text part of
that many characters per size), ``blob(size)`` (image content of ``size`` bytes).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")


def tiny_png() -> bytes:
    """A 2x2 RGB PNG: red, green / blue, white."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"\x00\xff\x00\x00\x00\xff\x00" + b"\x00\x00\x00\xff\xff\xff\xff"
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _obj(required: list[str], **props: str) -> dict:
    return {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in props.items()},
        "required": required,
    }


TOOLS = [
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": _obj(["text"], text="string"),
    },
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": _obj(["a", "b"], a="number", b="number"),
    },
    {
        "name": "env",
        "description": "A variable of the server's environment.",
        "inputSchema": _obj(["key"], key="string"),
    },
    {"name": "whoami", "description": "uid and working directory.", "inputSchema": _obj([])},
    {"name": "tiny_png", "description": "A 2x2 PNG image.", "inputSchema": _obj([])},
    {"name": "fail", "description": "Always an error result.", "inputSchema": _obj([])},
    {
        "name": "sleep",
        "description": "Sleep some seconds.",
        "inputSchema": _obj(["seconds"], seconds="number"),
    },
    {
        "name": "texts",
        "description": "Text parts of the sizes given.",
        "inputSchema": _obj(["sizes"], sizes="array"),
    },
    {
        "name": "blob",
        "description": "An image of random bytes.",
        "inputSchema": _obj(["size"], size="integer"),
    },
]


def _text(value: str) -> dict:
    return {"content": [{"type": "text", "text": value}], "isError": False}


def call(name: str, args: dict) -> dict:
    if name == "echo":
        return _text(str(args.get("text", "")))
    if name == "add":
        total = args["a"] + args["b"]
        return {**_text(str(total)), "structuredContent": {"result": total}}
    if name == "env":
        return _text(os.environ.get(str(args.get("key")), ""))
    if name == "whoami":
        return _text(f"{os.getuid()} {os.getcwd()}")
    if name == "tiny_png":
        data = base64.b64encode(tiny_png()).decode()
        return {
            "content": [{"type": "image", "data": data, "mimeType": "image/png"}],
            "isError": False,
        }
    if name == "fail":
        return {"content": [{"type": "text", "text": "this tool always fails"}], "isError": True}
    if name == "texts":
        parts = [{"type": "text", "text": str(i % 10) * n} for i, n in enumerate(args["sizes"])]
        return {"content": parts, "isError": False}
    if name == "blob":
        data = base64.b64encode(os.urandom(int(args["size"]))).decode()
        return {
            "content": [{"type": "image", "data": data, "mimeType": "image/png"}],
            "isError": False,
        }
    if name == "sleep":
        time.sleep(float(args.get("seconds", 0)))
        return _text("slept")
    raise KeyError(name)


def handle(message: dict) -> dict | None:
    """The answer to one message (None for a notification)."""
    method, ident = message.get("method"), message.get("id")
    if ident is None:
        return None
    params = message.get("params") or {}
    if method == "initialize":
        asked = params.get("protocolVersion")
        result = {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "stdlib-test-server", "version": "1.0"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        try:
            result = call(params.get("name"), params.get("arguments") or {})
        except KeyError:
            error = {"code": -32602, "message": f"unknown tool {params.get('name')!r}"}
            return {"jsonrpc": "2.0", "id": ident, "error": error}
    else:
        error = {"code": -32601, "message": f"no method {method!r}"}
        return {"jsonrpc": "2.0", "id": ident, "error": error}
    return {"jsonrpc": "2.0", "id": ident, "result": result}


def serve_stdio() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(json.loads(line))
        if answer is not None:
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


def answer_json(handler: BaseHTTPRequestHandler, answer: dict | None) -> None:
    """Write ``answer`` (``handle``'s) as Streamable HTTP does: 200 with its JSON, or 202
    with no body for a notification's ``None``."""
    data = json.dumps(answer).encode() if answer is not None else b""
    handler.send_response(200 if answer is not None else 202)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Http(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    session = uuid.uuid4().hex

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if (
            message.get("method") != "initialize"
            and self.headers.get("Mcp-Session-Id") != self.session
        ):
            return self._answer(400, b'{"error": "missing or unknown session"}')
        answer = handle(message)
        if answer is None:
            return self._answer(202)
        body = json.dumps(answer).encode()
        self._answer(
            200, body, {"Content-Type": "application/json", "Mcp-Session-Id": self.session}
        )

    def do_DELETE(self) -> None:
        self._answer(200)


def main() -> None:
    if "--crash" in sys.argv:
        sys.stderr.write("boom: no API key configured\n")
        sys.exit(3)
    if "--mute" in sys.argv:
        for _ in sys.stdin:
            pass
        return
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        ThreadingHTTPServer(("127.0.0.1", port), _Http).serve_forever()
        return
    serve_stdio()


if __name__ == "__main__":
    main()
