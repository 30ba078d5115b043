"""MCP servers as an agent's tools: ``McpServer`` connects to one, ``Toolkit.add_mcp_server``
offers its tools to the model.

The model sees each tool as ``mcp__<server>__<tool>`` (AgentScope 2.x's name for an MCP
tool: the server's name, then the tool's with characters outside ``[A-Za-z0-9_-]`` made
``x``), with the server's JSON schema. A call of one streams as an ``mcp_call`` message and
its result as ``mcp_call_output`` (``call_kind``), both with data ``{call_id, name,
arguments | output, server_label, tool}``: what the AgentScope adapter emits for
AgentScope's MCP tools, and what the Responses API turns into ``mcp_call`` items::

    weather = McpServer("weather", url="http://127.0.0.1:9000/mcp")   # Streamable HTTP
    files = McpServer("files", command="python3", args=["server.py"])  # stdio
    await toolkit.add_mcp_server(weather)       # connects, lists the tools, registers them
    ...
    await weather.close()                       # in the same task as the connect (anyio)

A connection lives from ``connect()`` to ``close()`` (an app's init and shutdown hooks): a
stdio server is a child process for that long. The ``mcp`` package is imported on
``connect()``.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from .protocol import MessageType
from .tools import ToolError, ToolSpec

MCP_PREFIX = "mcp__"  # AgentScope 2.x names an MCP server's tool mcp__<server>__<tool>
NAME = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def call_kind(name: str) -> tuple[str, str, dict[str, Any]]:
    """``(call type, output type, extra data)`` of the messages for a call of tool ``name``:
    ``mcp_call`` / ``mcp_call_output`` with ``{server_label, tool}`` for ``mcp__<server>__
    <tool>``, else ``plugin_call`` / ``plugin_call_output``."""
    if name.startswith(MCP_PREFIX) and name.count("__") >= 2:
        server, _, tool = name[len(MCP_PREFIX) :].partition("__")
        return (
            MessageType.MCP_TOOL_CALL,
            MessageType.MCP_TOOL_CALL_OUTPUT,
            {"server_label": server, "tool": tool},
        )
    return MessageType.PLUGIN_CALL, MessageType.PLUGIN_CALL_OUTPUT, {}


def result_text(result: dict[str, Any]) -> str:
    """An MCP ``CallToolResult`` (as JSON) as text for a model: its text parts, and a short
    note for each other part (``[image: image/png, 153 bytes]``)."""
    parts = []
    for part in result.get("content") or ():
        kind = part.get("type")
        if kind == "text":
            parts.append(part.get("text", ""))
        elif kind in ("image", "audio"):
            data = part.get("data", "")
            size = len(data) * 3 // 4 - data[-2:].count("=")
            parts.append(f"[{kind}: {part.get('mimeType', kind)}, {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource: {part.get('uri', '')}]")
        elif kind == "resource":
            resource = part.get("resource") or {}
            parts.append(resource.get("text") or f"[resource: {resource.get('uri', '')}]")
    return "\n".join(p for p in parts if p)


class McpServer:
    """One MCP server: at a ``url`` (Streamable HTTP, with ``headers``), or a ``command``
    run with ``args``, ``env`` (over the MCP SDK's default environment) and ``cwd`` (stdio).

    ``name`` must be ``[A-Za-z0-9_-]+`` (it is part of the tools' names). ``timeout``: the
    longest a call may take, seconds.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        command: str | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 300.0,
    ) -> None:
        if not NAME.fullmatch(name):
            raise ValueError(f"MCP server name {name!r}: only A-Z a-z 0-9 _ - are allowed")
        if (url is None) == (command is None):
            raise ValueError("give an MCP server a url (Streamable HTTP) or a command (stdio)")
        self.name = name
        self.url, self.headers = url, headers
        self.command, self.args, self.env, self.cwd = command, args or [], env, cwd
        self.timeout = timeout
        self.tools: list[Any] = []  # the server's mcp_types.Tool list
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    def _transport(self) -> Any:
        if self.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=self.command, args=self.args, env=self.env, cwd=self.cwd
            )
            return stdio_client(params)
        from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

        assert self.url is not None
        http = create_mcp_http_client(headers=self.headers)
        return streamable_http_client(self.url, http_client=http)

    async def connect(self) -> McpServer:
        """Start or reach the server and list its tools (every page)."""
        if self._client is not None:
            return self
        from mcp.client import Client

        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                Client(self._transport(), read_timeout_seconds=self.timeout)
            )
            tools, cursor = [], None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    break
        except BaseException:
            await stack.aclose()
            raise
        self._client, self._stack, self.tools = client, stack, tools
        return self

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> McpServer:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The server's ``CallToolResult`` as JSON (``content``, ``isError``...)."""
        if self._client is None:
            raise ToolError(f"the MCP server {self.name!r} is not connected")
        result = await self._client.call_tool(tool, arguments)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    def specs(self) -> list[ToolSpec]:
        """Its tools as a ``Toolkit``'s: each returns the result's text, and raises
        ``ToolError`` with it for an error result (the model reads either)."""
        return [
            ToolSpec(
                name=f"{MCP_PREFIX}{self.name}__{_UNSAFE.sub('x', tool.name)}",
                description=tool.description or "",
                parameters={"type": "object", "properties": {}, **(tool.input_schema or {})},
                fn=self._runner(tool.name),
            )
            for tool in self.tools
        ]

    def _runner(self, tool: str) -> Any:
        async def run(**arguments: Any) -> str:
            result = await self.call(tool, arguments)
            text = result_text(result)
            if result.get("isError"):
                raise ToolError(text)
            return text

        return run
