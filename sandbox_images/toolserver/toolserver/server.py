"""HTTP routes of the tool server, on the standard library's threading HTTP server.

Every route checks the sandbox's token first (constant-time compare), so nothing, not even
``/healthz``, answers a caller without it. The token comes as ``Authorization: Bearer
<token>`` or in ``X-Agentscope-Sandbox-Token`` (``TOKEN_HEADER``): a platform whose gateway
checks its own signature in ``Authorization`` (an FC HTTP trigger with ``function`` auth)
leaves that header to the signature, so the launcher sends the token in the other one.
Errors are JSON ``{"detail", "code"}`` with a 4xx status, as in the functions.

The token is claimed, never configured: the server starts without one, and the launcher that
started it sends ``POST /claim`` with the token (either header) right after the start,
before the sandbox's id is known to anyone else. The first claim sets the token; a repeat of
the same claim answers 200 again (a launcher may retry one whose answer it lost); any other
is 409. Until claimed, every other route answers 401 ``unclaimed``. So no secret is ever in
the container's environment, where code inside the sandbox could read it (``/proc/1/environ``
holds what the container started with), and each sandbox's token is its own on every backend,
including those whose containers share one environment (a Function Compute function, an
AgentRun template). The server's process is non-dumpable (``__main__``), so user code running
with its uid cannot read the token from its memory either.

A desktop sandbox's live view (``liveview.py``) opens with the **view token**,
``view_token(tool token)``: derived from the claimed token, so the sandbox function computes
it from what its registry holds, while the view token alone does not open the tools. Until
the claim no view token exists and the live view refuses everyone. The live view has a port
of its own (``TOOLSERVER_VIEW_PORT``) and is also reachable here under ``/desktop/``, for
platforms that route one port to a container (FC, AgentRun): those requests are relayed to
it as they are, with no bearer token, since the live view checks its own token (and noVNC's
web client is public).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .caller import serving
from .mcp_servers import McpServers
from .registry import Tool, ToolError, check_arguments, content_of
from .tracing import tool_span
from .workspace import Workspace, write_atomic

MAX_BODY = 64 * 1024 * 1024
TOKEN_HEADER = "X-Agentscope-Sandbox-Token"  # the token beside a platform's signature
MIN_TOKEN_CHARS = 32  # a claim with less is a launcher's bug, not a secret
DRAIN_TIMEOUT_S = 30.0  # reading (and dropping) a refused body: a bound on a slow sender


# a file system's refusal, as the answer to the caller who asked for it
def _read_capped(target: Path, rel: str) -> bytes:
    """The file's bytes, or 413 ``file_too_large`` past ``MAX_BODY`` (the upload cap; the
    size the file system says may be sparse, never held in memory): split it in the
    sandbox first (``split``, ``gzip``)."""
    with target.open("rb") as f:
        data = f.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise HttpError(
            413,
            "file_too_large",
            f"{rel!r} is over {MAX_BODY} bytes, the most a download carries: split or "
            "compress it in the sandbox, then fetch the parts",
        )
    return data


_OS_ERRORS = {
    errno.ENAMETOOLONG: (400, "invalid_path", "a file name is too long"),
    errno.ELOOP: (400, "invalid_path", "too many symbolic links"),
    errno.ENOENT: (404, "not_found", "no such file or directory"),
    errno.ENOTDIR: (409, "not_a_directory", "a parent is not a directory"),
    errno.EISDIR: (409, "is_directory", "it is a directory"),
    errno.EEXIST: (409, "exists", "it already exists"),
    errno.ENOTEMPTY: (409, "not_empty", "the directory is not empty"),
    errno.EINVAL: (400, "invalid_argument", "the file system refused it"),
    errno.EXDEV: (409, "cross_device", "it lies on another file system"),
    errno.EFBIG: (413, "file_too_large", "the file would be too large"),
    errno.EACCES: (403, "permission_denied", "permission denied"),
    errno.EPERM: (403, "permission_denied", "operation not permitted"),
    errno.EROFS: (403, "permission_denied", "read-only file system"),
    errno.ENOSPC: (507, "no_space", "the workspace is full"),
    errno.EDQUOT: (507, "no_space", "the workspace is over its quota"),
}
READY_WAIT_MAX_S = 60.0  # the longest GET /ready?wait= holds a request
DESKTOP_PREFIX = "/desktop"
VIEW_LABEL = b"agentscope-faas desktop view"


def view_token(tool_token: str) -> str:
    """A sandbox's live-view token: hex HMAC-SHA256 of a fixed label under its tool token."""
    return hmac.new(tool_token.encode(), VIEW_LABEL, hashlib.sha256).hexdigest()


class HttpError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Starts:
    """What the tool sets start behind the listening server (a desktop, a browser):
    ``done`` once every start hook has run, ``failures`` the message of each that raised."""

    done: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)


class ToolServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        tools: dict[str, Tool],
        workspace: Workspace,
        *,
        view_port: int | None = None,
        starts: Starts | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.token: bytes | None = None
        self._claim_lock = threading.Lock()
        self.tools = tools
        self.workspace = workspace
        self.mcp = McpServers(workspace.root)  # MCP servers started in the sandbox
        self.view_port = view_port  # the live view's own port, relayed under /desktop/
        # the tool sets' start hooks (desktop, browser); None: nothing to start
        self.starts = starts

    def claim(self, token: str) -> bool:
        """Take ``token`` as the server's if it has none; True if it is (now) the token."""
        given = token.encode()
        with self._claim_lock:
            if self.token is None:
                self.token = given
                return True
        return hmac.compare_digest(given, self.token)

    def view_allowed(self, given: str) -> bool:
        """Whether ``given`` is this sandbox's live-view token (never before the claim)."""
        token = self.token
        if token is None:
            return False
        return hmac.compare_digest(given.encode(), view_token(token.decode()).encode())


class Handler(BaseHTTPRequestHandler):
    server: ToolServer
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, a keep-alive client waits ~40 ms
    # for the delayed ACK before the body arrives
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the sandbox function logs calls; arguments may hold secrets

    # -- plumbing --------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict | None = None
    ) -> None:
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(413, "payload_too_large", f"body over {MAX_BODY} bytes")
        self.body_read = True
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Any:
        raw = self._body()
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise HttpError(400, "invalid_json", f"body is not JSON: {exc}") from None

    def _given_token(self) -> str | None:
        """The token the caller sent: ``TOKEN_HEADER`` first (its ``Authorization`` may hold
        a platform's signature), else ``Authorization: Bearer``."""
        given = self.headers.get(TOKEN_HEADER, "").strip()
        if given:
            return given
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        return given if scheme.lower() == "bearer" and given else None

    def _authorized(self) -> bool:
        given, expected = self._given_token(), self.server.token
        if expected is None:
            self.close_connection = True
            raise HttpError(401, "unclaimed", "this tool server has no token yet: POST /claim")
        return given is not None and hmac.compare_digest(given.encode(), expected)

    def _claim(self) -> None:
        token = self._given_token()
        if token is None or len(token) < MIN_TOKEN_CHARS:
            raise HttpError(
                400,
                "invalid_token",
                f"claim with Authorization: Bearer <{MIN_TOKEN_CHARS}+ chars> or {TOKEN_HEADER}",
            )
        if not self.server.claim(token):
            self.close_connection = True
            raise HttpError(409, "already_claimed", "this tool server belongs to another token")
        if int(self.headers.get("Content-Length") or 0):
            self.close_connection = True  # a claim has no body: never read one as a request
        self._json(200, {"status": "claimed"})

    def _dispatch(self, method: str) -> None:
        self.body_read = False
        head = urlsplit(self.path).path
        if (
            self.server.view_port
            and method == "GET"
            and (head == DESKTOP_PREFIX or head.startswith(DESKTOP_PREFIX + "/"))
        ):
            return self._relay_desktop()
        try:
            if head == "/claim" and method == "POST":
                return self._claim()
            if not self._authorized():
                # read nothing from an unauthenticated caller; close after answering
                self.close_connection = True
                raise HttpError(401, "unauthorized", "missing or wrong sandbox token")
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = parse_qs(url.query)
            if path == "/healthz" and method == "GET":
                return self._json(200, {"status": "ok"})
            if path == "/ready" and method == "GET":
                return self._ready(query)
            if path == "/tools" and method == "GET":
                tools = [t.describe() for t in self.server.tools.values()]
                return self._json(200, {"tools": tools + self.server.mcp.describe()})
            if path.startswith("/tools/") and method == "POST":
                return self._call_tool(path[len("/tools/") :])
            if path == "/mcp-servers" or path.startswith("/mcp-servers/"):
                body = self._json_body() if method == "POST" else None
                return self._json(*self.server.mcp.route(method, path[13:].lstrip("/"), body))
            if path == "/workspace" or path.startswith("/workspace/"):
                return self._workspace(method, path[len("/workspace") :].lstrip("/"), query)
            raise HttpError(404, "not_found", f"no route {method} {path}")
        except HttpError as exc:
            self._refuse(exc)
        except ConnectionError:  # the caller went away: no one to answer
            self.close_connection = True
        except OSError as exc:
            status, code, why = _OS_ERRORS.get(exc.errno or 0, (500, "internal_error", "failed"))
            self._refuse(HttpError(status, code, f"{why}: {exc.strerror or exc}"))
        except Exception as exc:  # a bug: still an answer, never a dropped connection
            self._refuse(HttpError(500, "internal_error", f"{type(exc).__name__}: {exc}"))

    def _ready(self, query: dict[str, list[str]]) -> None:
        """``{"ready": bool}``: whether what the tool sets start with the server (a desktop, a
        browser with its page open) is up; ``?wait=<s>`` holds the answer until it is or
        ``s`` seconds (at most ``READY_WAIT_MAX_S``) have passed. A warm pool waits here, so
        the sandbox it hands out pays no start on its first call. A start that failed is
        not ready: ``"failed"`` lists why. It stays so: this answers for the start, while
        the tools that need what failed start it again on use."""
        try:
            wait = float(query.get("wait", ["0"])[0])
        except ValueError:
            raise HttpError(400, "invalid_wait", "wait must be a number of seconds") from None
        if not 0 <= wait < float("inf"):
            raise HttpError(400, "invalid_wait", "wait must be a number of seconds >= 0")
        starts = self.server.starts
        if starts is None:
            self._json(200, {"ready": True})
            return
        done = starts.done.wait(min(wait, READY_WAIT_MAX_S))
        failed = list(starts.failures)
        self._json(200, {"ready": done and not failed, **({"failed": failed} if failed else {})})

    def _refuse(self, exc: HttpError) -> None:
        """Answer ``exc``; then drop an unread body, so the caller (still sending it) reads
        the answer rather than a reset connection. An unauthenticated caller's body is
        never read: its connection just closes."""
        length = int(self.headers.get("Content-Length") or 0)
        drain = not self.body_read and length > 0 and exc.status != 401
        if not self.body_read and length and not drain:
            # an unread body would be taken for the next request on this connection
            self.close_connection = True
        self._json(exc.status, {"detail": exc.detail, "code": exc.code})
        if drain:
            self.close_connection = not self._discard(length)

    def _discard(self, length: int) -> bool:
        """Read and drop ``length`` body bytes; False if the sender stopped or stalled."""
        self.connection.settimeout(DRAIN_TIMEOUT_S)
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return False
                length -= len(chunk)
        except OSError:  # a reset, or the timeout (socket.timeout is one)
            return False
        finally:
            self.connection.settimeout(None)
        self.body_read = True
        return True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _relay_desktop(self) -> None:
        """Hand this connection to the live view: the request's head with the ``/desktop``
        prefix taken off, then bytes both ways (a WebSocket included) until either side ends."""
        self.close_connection = True
        try:
            view = socket.create_connection(("127.0.0.1", self.server.view_port), timeout=5)
        except OSError:
            return self._json(503, {"detail": "the live view is not running", "code": "no_view"})
        view.settimeout(None)
        path = self.path[len(DESKTOP_PREFIX) :] or "/"
        lines = [f"{self.command} {path} {self.request_version}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        view.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

        def back() -> None:
            try:
                while data := view.recv(65536):
                    self.wfile.write(data)
            except OSError:
                pass
            finally:
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        pump = threading.Thread(target=back, daemon=True)
        pump.start()
        try:
            while data := self.rfile.read1(65536):  # read1: bytes already buffered come first
                view.sendall(data)
        except OSError:
            pass
        finally:
            try:
                view.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            pump.join(5)
            view.close()

    # -- tools -----------------------------------------------------------------------------

    def _call_tool(self, name: str) -> None:
        tool = self.server.tools.get(name)
        found = self.server.mcp.find(name) if tool is None else None
        if found is not None:  # a tool of an MCP server in the sandbox: its own result
            args, started = self._json_body(), time.time_ns()
            with serving(self.connection):  # a caller that hangs up cancels the call
                result = self.server.mcp.call(*found, args)
            error = "tool_error" if result["isError"] else None
            return self._json(
                200, result, tool_span(self.headers.get("traceparent"), name, started, error)
            )
        if tool is None:
            known = ", ".join(self.server.tools)
            raise HttpError(404, "unknown_tool", f"no tool {name!r}; this sandbox has: {known}")
        args = self._json_body()
        started = time.time_ns()
        try:
            with serving(self.connection):  # its wait loops notice a caller that hangs up
                content = content_of(tool.fn(**check_arguments(tool, args)))
            is_error = False
        except ToolError as exc:
            content, is_error = content_of(str(exc)), True
        except Exception as exc:  # a tool bug is still an answer the model can read
            content, is_error = content_of(f"{type(exc).__name__}: {exc}"), True
        span = tool_span(
            self.headers.get("traceparent"), name, started, "tool_error" if is_error else None
        )
        self._json(200, {"content": content, "isError": is_error}, span)

    # -- workspace files -------------------------------------------------------------------

    @staticmethod
    def _located(locate: Callable[[str], Path], path: str) -> Path:
        """``locate(path)`` (``Workspace.resolve`` or ``.entry``); 400 ``invalid_path`` for
        a path it refuses."""
        try:
            return locate(path)
        except ToolError as exc:
            raise HttpError(400, "invalid_path", str(exc)) from None

    def _workspace(self, method: str, rel: str, query: dict[str, list[str]]) -> None:
        ws = self.server.workspace
        # DELETE and POST (move) take a symlink as the link, as rm and mv do
        locate = ws.entry if method in ("DELETE", "POST") else ws.resolve
        target = self._located(locate, rel or ".")
        if method == "GET":
            if target.is_dir():
                entries = [
                    {
                        "name": p.name,
                        "type": "directory" if p.is_dir() else "file",
                        "size": p.stat().st_size if p.is_file() else None,
                    }
                    for p in sorted(target.iterdir())
                ]
                return self._json(200, {"path": ws.relative(target), "entries": entries})
            if not target.is_file():
                raise HttpError(404, "not_found", f"no such file: {rel!r}")
            return self._send(200, _read_capped(target, rel), "application/octet-stream")
        if method == "PUT":
            if target.is_dir():
                raise HttpError(409, "is_directory", f"{rel!r} is a directory")
            data = self._body()
            write_atomic(target, data)
            return self._json(200, {"path": ws.relative(target), "size": len(data)})
        if method == "DELETE":
            if target == ws.root:
                raise HttpError(400, "invalid_path", "the workspace itself cannot be deleted")
            if target.is_dir() and not target.is_symlink():
                if query.get("recursive", ["false"])[0].lower() not in ("1", "true"):
                    if any(target.iterdir()):
                        raise HttpError(409, "not_empty", f"{rel!r} is not empty; ?recursive=true")
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            else:
                raise HttpError(404, "not_found", f"no such file or directory: {rel!r}")
            return self._json(200, {"deleted": rel})
        if method == "POST":
            body = self._json_body()
            op = body.get("op") if isinstance(body, dict) else None
            if op == "mkdir":
                target.mkdir(parents=True, exist_ok=True)
                return self._json(200, {"path": ws.relative(target)})
            if op == "move":
                to = body.get("to")
                if not isinstance(to, str) or not to.strip("/."):
                    raise HttpError(400, "invalid_op", '"to" names where to move it')
                dest = self._located(ws.resolve, to)
                if not target.exists() and not target.is_symlink():
                    raise HttpError(404, "not_found", f"no such file or directory: {rel!r}")
                if target == ws.root or target in dest.parents:
                    raise HttpError(
                        400, "invalid_path", f"{rel!r} cannot be moved into itself or below"
                    )
                if dest.exists():
                    raise HttpError(409, "exists", f"{body.get('to')!r} already exists")
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(target, dest)
                return self._json(200, {"path": ws.relative(dest)})
            raise HttpError(
                400, "invalid_op", 'body must be {"op": "mkdir"} or {"op": "move", "to"}'
            )
        raise HttpError(405, "method_not_allowed", f"{method} is not allowed on /workspace")
