"""MCP servers inside the sandbox: started on request, their tools offered beside the built-in
ones.

Configurations have the shape AgentScope Runtime's ``add_mcp_servers`` takes (and Claude
Desktop's ``mcpServers``)::

    {"mcpServers": {
        "<name>": {"command": "python3", "args": ["server.py"], "env": {"KEY": "v"}},  # stdio
        "<name>": {"url": "https://host/mcp", "headers": {"Authorization": "..."}},      # HTTP
    }}

A stdio server runs as a child of this server: as the sandbox's user, in the workspace,
inside the container's limits (memory, pids, CPU, network). A URL server is reached over
the Streamable HTTP transport (``type`` may say ``streamable_http``; the legacy SSE
transport is refused), which needs the sandbox's egress (``SANDBOX_INTERNET_ACCESS``) for
anything outside the container. ``env`` and ``headers`` are the caller's own secrets, placed
in the caller's own sandbox: never logged and never answered. ``headers`` stay in this
process; a stdio server's ``env`` is that process's environment, which code running in the
sandbox as the same user can read (``/proc/<pid>/environ``).

Each server's tools are offered as ``<server>__<tool>`` (the server's name, two
underscores, the tool's name with characters outside ``[A-Za-z0-9_-]`` replaced by ``x``,
as AgentScope names MCP tools), with ``"server": "<server>"`` in their description, and are
called like any other tool: the answer is the server's own ``CallToolResult``. A server that
cannot start (no such command, it exits, it does not answer ``initialize`` within
``TOOLSERVER_MCP_START_TIMEOUT_S``) is a 422 ``mcp_server_failed`` naming why; a call that
outlives ``SANDBOX_MAX_CALL_TIMEOUT_S``, or whose HTTP caller hangs up, is cancelled
(``notifications/cancelled``) and answers an error result.

Such a server runs user code, so nothing it sends is trusted: its tools and results are
made well-formed MCP before they are answered (``mcp_shapes``), one message is at most
``message_limit()`` bytes, and a server whose connection ends (it exits, it sends past the
limit, its output closes) is listed as ``exited`` or ``failed`` (with ``error``) and started
again by adding its configuration again.

A result is bounded as the built-in tools' output is: its text parts together keep the
first ``TOOLSERVER_OUTPUT_LIMIT`` bytes (UTF-8), cut with the usual marker, and a result
still over ``TOOLSERVER_RESULT_LIMIT`` bytes of JSON (images, embedded resources, structured
content; 4 MiB by default, under Lambda's 6 MB response) is an error result saying so.

Routes (``route``): ``GET /mcp-servers`` lists them, ``POST /mcp-servers`` (the shape above,
plus ``"overwrite": true`` to replace a server of the same name) starts them, all or none,
``DELETE /mcp-servers/<name>`` stops one.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

from .mcp_client import (
    CallerGone,
    Connection,
    HttpConnection,
    McpClientError,
    McpSession,
    RpcError,
    StdioConnection,
    Timeout,
    log,
)
from .mcp_shapes import (
    MAX_TOOLS,
    Malformed,
    call_result,
    clean_json,
    clean_text,
    input_schema,
    tool_name,
)
from .output import cut_marker, output_limit

SEPARATOR = "__"
# a name the model may see in a tool name (OpenAI's [A-Za-z0-9_-]), without the separator
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,47}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
HTTP_TYPES = ("streamable_http", "streamableHttp", "streamable-http", "http")
# what http.client sends as is: no whitespace or control character in a URL (RFC 3986),
# header names that are tokens and values of visible Latin-1, spaces and tabs (RFC 9110)
URL = re.compile(r"https?://[^/\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_CALL_TIMEOUT_S = 300.0
DEFAULT_RESULT_LIMIT = 4 * 1024 * 1024


def result_limit() -> int:
    """The most bytes of JSON one call's result may take (``TOOLSERVER_RESULT_LIMIT``)."""
    try:
        limit = int(os.environ.get("TOOLSERVER_RESULT_LIMIT", "") or DEFAULT_RESULT_LIMIT)
    except ValueError:
        return DEFAULT_RESULT_LIMIT
    return limit if limit > 0 else DEFAULT_RESULT_LIMIT


def message_limit() -> int:
    """The most bytes of one message an MCP server may send: four results' worth (16 MiB by
    default), since text past the output limit is cut and need not fit a result, and never
    under 1 MiB (a long tools/list). A server past it is stopped: holding more is how a
    server without newlines fills the container's memory."""
    return max(4 * result_limit(), 1 << 20)


def _seconds(variable: str, default: float) -> float:
    try:
        value = float(os.environ.get(variable, "") or default)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


class Refused(Exception):
    """An answer of the ``/mcp-servers`` routes other than 200."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _strings(value: Any, what: str) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Refused(400, "invalid_mcp_config", f"{what} must be an object of strings")


def normalized(name: Any, config: Any) -> dict[str, Any]:
    """One server's configuration, checked and in one shape (``transport`` added)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise Refused(
            400,
            "invalid_mcp_config",
            f"MCP server name {name!r}: 1-48 of A-Z a-z 0-9 _ -, starting with a letter or "
            f"digit, without {SEPARATOR!r} (it separates a server's name from its tools')",
        )
    if not isinstance(config, dict):
        raise Refused(400, "invalid_mcp_config", f"MCP server {name!r}: config must be an object")
    if "command" in config:
        command, args = config.get("command"), config.get("args", [])
        if not isinstance(command, str) or not command:
            raise Refused(400, "invalid_mcp_config", f"{name}: command must be a non-empty string")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise Refused(400, "invalid_mcp_config", f"{name}: args must be a list of strings")
        env = config.get("env") or {}
        _strings(env, f"{name}: env")
        cwd = config.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise Refused(400, "invalid_mcp_config", f"{name}: cwd must be a string")
        return {"transport": "stdio", "command": command, "args": args, "env": env, "cwd": cwd}
    if "url" in config:
        url, kind = config.get("url"), config.get("type", "streamable_http")
        if kind in ("sse",):
            raise Refused(
                400,
                "invalid_mcp_config",
                f"{name}: the legacy SSE transport is not supported; use the server's "
                "Streamable HTTP endpoint",
            )
        if kind not in HTTP_TYPES:
            raise Refused(400, "invalid_mcp_config", f"{name}: unknown transport type {kind!r}")
        if not isinstance(url, str) or not URL.fullmatch(url):
            raise Refused(
                400,
                "invalid_mcp_config",
                f"{name}: url must be an http(s) URL without spaces or control characters",
            )
        headers = config.get("headers") or {}
        _strings(headers, f"{name}: headers")
        for key, value in headers.items():
            if not HEADER_NAME.fullmatch(key) or not HEADER_VALUE.fullmatch(value):
                raise Refused(
                    400,
                    "invalid_mcp_config",
                    f"{name}: header {key!r} is not a valid HTTP header name and value "
                    "(a token; a value of visible Latin-1 characters, spaces and tabs)",
                )
        return {"transport": "streamable_http", "url": url, "headers": headers}
    raise Refused(
        400,
        "invalid_mcp_config",
        f"MCP server {name!r}: give a command (stdio) or a url (Streamable HTTP)",
    )


class McpServer:
    """One started server: its session and its tools under their offered names."""

    def __init__(self, name: str, config: dict[str, Any], session: McpSession) -> None:
        self.name = name
        self.config = config
        self.session = session
        self.offered: dict[str, str] = {}  # offered name -> the server's own tool name
        self.described: list[dict[str, Any]] = []
        self._index(session.tools)

    def _index(self, tools: list[dict[str, Any]]) -> None:
        """Offer ``tools`` under their offered names, each made well-formed (``mcp_shapes``):
        one with no usable name is left out (and logged), never the list of the others."""
        offered: dict[str, str] = {}
        described = []
        if len(tools) > MAX_TOOLS:
            log(self.name, f"lists {len(tools)} tools: the first {MAX_TOOLS} are offered")
        for index, tool in enumerate(tools[:MAX_TOOLS]):
            try:
                own = tool_name(tool)
            except Malformed as exc:
                log(self.name, f"tool {index} of tools/list left out: {exc}")
                continue
            name = f"{self.name}{SEPARATOR}{_UNSAFE.sub('x', own)}"
            if name in offered:
                continue  # two names that differ only in unsafe characters: the first wins
            schema, changed = input_schema(tool.get("inputSchema"))
            if changed:
                log(
                    self.name,
                    f"tool {index} of tools/list offered with an object schema: {changed}",
                )
            description = tool.get("description")
            offered[name] = own
            described.append(
                {
                    "name": name,
                    "description": clean_text(description) if isinstance(description, str) else "",
                    "parameters": schema,
                    "server": self.name,
                }
            )
        self.offered, self.described = offered, described

    def refresh_if_changed(self, timeout: float) -> None:
        if self.session.connection.tools_changed and self.session.connection.alive():
            try:
                self._index(self.session.list_tools(timeout))
            except McpClientError:
                pass  # keep the last list; a call says what is wrong

    def summary(self) -> dict[str, Any]:
        """What callers may see of it: never its env, headers or command line's values."""
        connection = self.session.connection
        failure = getattr(connection, "failure", None)  # stdio: why this client stopped it
        try:
            info = clean_json(self.session.server_info)
        except Malformed:
            info = {}
        summary = {
            "name": self.name,
            "transport": self.config["transport"],
            "status": "running" if connection.alive() else "failed" if failure else "exited",
            "server_info": info,
            "tools": [t["name"] for t in self.described],
        }
        if failure:
            summary["error"] = failure
        return summary

    def close(self) -> None:
        self.session.connection.close()


class McpServers:
    def __init__(self, workspace_root: Path) -> None:
        self.root = workspace_root
        self.servers: dict[str, McpServer] = {}
        self._changing = threading.Lock()  # adds and removals, one at a time

    # -- what the tool routes use -----------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for server in list(self.servers.values()):
            server.refresh_if_changed(self.start_timeout())
            out += server.described
        return out

    def find(self, offered: str) -> tuple[McpServer, str] | None:
        head, sep, _ = offered.partition(SEPARATOR)
        server = self.servers.get(head) if sep else None
        if server is None:
            return None
        server.refresh_if_changed(self.start_timeout())
        own = server.offered.get(offered)
        return (server, own) if own is not None else None

    def call(self, server: McpServer, tool: str, arguments: Any) -> dict[str, Any]:
        """The server's ``CallToolResult`` (``content``, ``isError``, ``structuredContent``);
        a failure of the server (an error answer, a timeout, an exit) is an error result."""
        if not isinstance(arguments, dict):
            return _error_result(f"arguments must be a JSON object, got {type(arguments).__name__}")
        timeout = _seconds("SANDBOX_MAX_CALL_TIMEOUT_S", DEFAULT_CALL_TIMEOUT_S)
        try:
            result = server.session.call(tool, arguments, timeout)
        except Timeout:
            return _error_result(
                f"the MCP server {server.name!r} did not answer {tool} within {timeout:g} s "
                "(SANDBOX_MAX_CALL_TIMEOUT_S); the call was cancelled"
            )
        except CallerGone:  # no one reads this answer; said for the record all the same
            return _error_result(
                f"the caller hung up: {tool} of the MCP server {server.name!r} was cancelled"
            )
        except RpcError as exc:
            return _error_result(f"{server.name}: {exc}")
        except McpClientError as exc:
            return _error_result(
                f"the MCP server {server.name!r} failed: {exc}. Add it again to restart it."
            )
        except Exception as exc:  # a fault of this client: still an answer, never a 500
            return _error_result(
                f"the call to the MCP server {server.name!r} failed: {type(exc).__name__}"
            )
        answer = call_result(result, server.name)
        answer["content"] = _capped_text(answer["content"])
        limit = result_limit()
        size = len(json.dumps(answer, separators=(",", ":")).encode())
        if size > limit:
            return _error_result(
                f"the MCP server {server.name!r} answered {tool} with {size} bytes, more than "
                f"the {limit} a call may return (TOOLSERVER_RESULT_LIMIT)"
            )
        return answer

    @staticmethod
    def start_timeout() -> float:
        return _seconds("TOOLSERVER_MCP_START_TIMEOUT_S", DEFAULT_START_TIMEOUT_S)

    # -- the /mcp-servers routes -----------------------------------------------------------

    def route(self, method: str, rest: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``(status, JSON answer)`` of ``method /mcp-servers[/rest]``; errors are
        ``{"detail", "code"}`` as every route of this server answers them."""
        try:
            if not rest and method == "GET":
                return 200, {"servers": [s.summary() for s in list(self.servers.values())]}
            if not rest and method == "POST":
                return 200, {"servers": self.add(body)}
            if rest and method == "DELETE":
                return 200, {"deleted": self.remove(rest)}
            raise Refused(405, "method_not_allowed", f"{method} is not allowed here")
        except Refused as exc:
            return exc.status, {"detail": exc.detail, "code": exc.code}

    def add(self, body: Any) -> list[dict[str, Any]]:
        """Start the servers of ``body`` (all, or none of them: a failure stops those this
        call started); one of a running name is kept when its configuration is the same,
        refused (409) otherwise unless ``overwrite``."""
        if not isinstance(body, dict) or not isinstance(body.get("mcpServers"), dict):
            raise Refused(400, "invalid_mcp_config", 'body must be {"mcpServers": {name: config}}')
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise Refused(400, "invalid_mcp_config", "overwrite must be true or false")
        wanted = {name: normalized(name, config) for name, config in body["mcpServers"].items()}
        with self._changing:
            for name, config in wanted.items():
                running = self.servers.get(name)
                if running is not None and running.config != config and not overwrite:
                    raise Refused(
                        409,
                        "mcp_server_exists",
                        f"an MCP server named {name!r} runs with another configuration; "
                        'send "overwrite": true to replace it',
                    )
            started: dict[str, McpServer] = {}
            try:
                for name, config in wanted.items():
                    running = self.servers.get(name)
                    if (
                        running is not None
                        and running.config == config
                        and running.session.connection.alive()
                    ):
                        continue
                    started[name] = self._start(name, config)
            except Refused:
                for server in started.values():
                    server.close()
                raise
            for name, server in started.items():
                old = self.servers.get(name)
                self.servers[name] = server
                if old is not None:
                    old.close()
            return [self.servers[name].summary() for name in wanted]

    def _start(self, name: str, config: dict[str, Any]) -> McpServer:
        timeout = self.start_timeout()
        connection: Connection | None = None
        try:
            limit = message_limit()
            if config["transport"] == "stdio":
                connection = StdioConnection(
                    name,
                    config["command"],
                    config["args"],
                    config["env"],
                    self._cwd(config),
                    message_limit=limit,
                )
            else:
                connection = HttpConnection(
                    name, config["url"], config["headers"], message_limit=limit
                )
            return McpServer(name, config, McpSession(connection, timeout))
        except McpClientError as exc:
            why = str(exc)
            if connection is not None:
                connection.close()
            if isinstance(connection, StdioConnection):
                if isinstance(exc, Timeout):
                    why = f"it did not answer initialize within {timeout:g} s"
                    tail = connection.stderr_tail()
                    why += f"; its stderr ends: {tail}" if tail else ""
                elif connection.failure is None and connection.exit_code is not None:
                    why = connection.exit_note()  # now with all it wrote to stderr
            raise Refused(
                422, "mcp_server_failed", f"the MCP server {name!r} did not start: {why}"
            ) from None

    def _cwd(self, config: dict[str, Any]) -> str:
        if not config.get("cwd"):
            return str(self.root)
        cwd = (self.root / config["cwd"]).resolve()
        if cwd != self.root and self.root not in cwd.parents:
            raise Refused(400, "invalid_mcp_config", "cwd must be inside the workspace")
        return str(cwd)

    def remove(self, name: str) -> str:
        with self._changing:
            server = self.servers.pop(name, None)
        if server is None:
            raise Refused(404, "not_found", f"no MCP server named {name!r}")
        server.close()
        return name

    def close(self) -> None:
        for name in list(self.servers):
            self.servers.pop(name).close()


def _capped_text(content: list[Any]) -> list[Any]:
    """``content`` with its text parts cut to the output limit together (UTF-8 bytes): the
    part where it runs out ends with the cut marker counting every byte left out, and the
    text parts after it are left out; other parts are kept as they are."""
    room = output_limit()
    kept: list[Any] = []
    cut: dict[str, Any] | None = None
    omitted = 0
    for part in content:
        text = part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None
        if not isinstance(text, str):
            kept.append(part)
            continue
        data = text.encode("utf-8", "surrogatepass")
        if cut is None and len(data) <= room:
            room -= len(data)
            kept.append(part)
        elif cut is None:
            cut = {**part, "text": data[:room].decode("utf-8", "ignore")}
            omitted, room = len(data) - room, 0
            kept.append(cut)
        else:
            omitted += len(data)
    if cut is not None:
        cut["text"] += cut_marker(omitted)
    return kept


def _error_result(text: str) -> dict[str, Any]:
    """An error result of ``text`` (which may quote the server), cut to the output limit."""
    return {"content": _capped_text([{"type": "text", "text": clean_text(text)}]), "isError": True}
