"""The sandbox function's wire models: create body, sandbox records as callers see them,
tool lists and results (MCP's ``CallToolResult`` shape), workspace answers."""

# annotations as objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile and evaluate every field's string at start

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from functions.runtime.sandbox.types import SANDBOX_TYPES
from functions.runtime.wire import WireModel

# an MCP server's name: it prefixes its tools' names (<server>__<tool>), so no "__" in it
McpServerName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=48, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?:[A-Za-z0-9-]|$))*$"
    ),
]
# what the tool server's HTTP client sends as is: a URL without whitespace or control
# characters (RFC 3986); header names that are tokens, values of visible Latin-1, spaces and
# tabs (RFC 9110)
McpServerUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[^/\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*$")
]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
HeaderValue = Annotated[str, StringConstraints(pattern=r"^[\t\x20-\x7e\x80-\xff]*$")]


# what a process is started with (execve): strings without NUL, environment names
# without "=" as well (POSIX)
ExecString = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
EnvName = Annotated[str, StringConstraints(min_length=1, pattern=r"^[^=\x00]+$")]


class StdioMcpServer(WireModel):
    """A server the sandbox runs as a child process (as its user, in its workspace)."""

    command: ExecString = Field(min_length=1, description="the program, e.g. python3 or npx")
    args: list[ExecString] = []
    env: dict[EnvName, ExecString] = Field(
        {}, description="added to its environment (never logged)"
    )
    cwd: ExecString | None = Field(None, description="inside the workspace (default: its root)")


class HttpMcpServer(WireModel):
    """A server the sandbox reaches over Streamable HTTP (needs SANDBOX_INTERNET_ACCESS for
    anything outside the container)."""

    url: McpServerUrl
    headers: dict[HeaderName, HeaderValue] = Field(
        {}, description="sent with every request (never logged)"
    )
    type: Literal["streamable_http", "streamableHttp", "streamable-http", "http"] = (
        "streamable_http"
    )


class McpServers(WireModel):
    """MCP servers to run in a sandbox, in AgentScope Runtime's (and Claude Desktop's)
    ``mcpServers`` shape; their tools join the sandbox's as ``<server>__<tool>``."""

    mcpServers: dict[McpServerName, StdioMcpServer | HttpMcpServer]


class AddMcpServers(McpServers):
    overwrite: bool = Field(False, description="replace a running server of the same name")


class McpServerInfo(WireModel):
    model_config = ConfigDict(extra="allow")

    name: str
    transport: str = Field(description="stdio | streamable_http")
    status: str = Field(description="running | exited")
    server_info: dict[str, Any] = Field(description="the server's own name and version")
    tools: list[str] = Field(description="its tools, as the sandbox offers them")


class McpServerList(WireModel):
    servers: list[McpServerInfo]


class McpServerDeleted(WireModel):
    deleted: str


class CreateSandbox(WireModel):
    type: str = Field("base", description=f"one of {', '.join(SANDBOX_TYPES)}")
    user_id: str | None = None
    session_id: str | None = None
    ttl_s: float | None = Field(
        None, ge=1, le=86400, strict=True, description="idle lifetime, seconds (1 to 86400)"
    )
    mcp_servers: McpServers | None = Field(
        None, description="MCP servers to start in it (all or none: a failure is 422)"
    )


class SandboxInfo(WireModel):
    """A sandbox as callers see it: never its token, endpoint or backend handle."""

    sandbox_id: str
    type: str
    user_id: str
    session_id: str | None = None
    status: str = Field(description="running | paused")
    created_at: float = Field(description="Unix time, seconds")
    expires_at: float = Field(description="Unix time, seconds; each use pushes it out")
    desktop_url: str | None = Field(None, description="live view (browser and gui types)")


class SandboxList(WireModel):
    items: list[SandboxInfo]


class Deleted(WireModel):
    sandbox_id: str
    deleted: bool = Field(description="false when there was nothing to delete")


class Reaped(WireModel):
    expired: int = Field(description="sandboxes past their TTL, ended")
    orphans: int = Field(description="containers no record knows, ended")
    gone: int = Field(description="recorded sandboxes no longer running (killed), forgotten")


class ToolInfo(WireModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(description="JSON schema of the arguments")
    server: str | None = Field(None, description="the MCP server in the sandbox it is of")


class ToolList(WireModel):
    tools: list[ToolInfo]


class ToolResult(WireModel):
    """MCP ``CallToolResult``: ``content`` items ``{type: text, text}`` (or image...)."""

    model_config = ConfigDict(extra="allow")

    content: list[dict[str, Any]]
    isError: bool


class WorkspaceEntry(WireModel):
    name: str
    type: str = Field(description="file | directory")
    size: int | None = None


class WorkspaceListing(WireModel):
    path: str
    entries: list[WorkspaceEntry]


class FileWritten(WireModel):
    path: str
    size: int = Field(description="bytes written")


class FileMoved(WireModel):
    path: str = Field(description="where the file or directory is now")


class FileDeleted(WireModel):
    deleted: str


class Health(WireModel):
    status: str
