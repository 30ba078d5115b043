"""The sandbox function's wire models: create body, sandbox records as callers see them,
tool lists and results (MCP's ``CallToolResult`` shape), workspace answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.runtime.sandbox.types import SANDBOX_TYPES


class CreateSandbox(BaseModel):
    type: str = Field("base", description=f"one of {', '.join(SANDBOX_TYPES)}")
    user_id: str | None = None
    session_id: str | None = None
    ttl_s: float | None = Field(None, gt=0, le=86400, description="idle lifetime, seconds")


class SandboxInfo(BaseModel):
    """A sandbox as callers see it: never its token, endpoint or backend handle."""

    sandbox_id: str
    type: str
    user_id: str
    session_id: str | None = None
    status: str = Field(description="running | paused")
    created_at: float = Field(description="Unix time, seconds")
    expires_at: float = Field(description="Unix time, seconds; each use pushes it out")
    desktop_url: str | None = Field(None, description="live view (browser and gui types)")


class SandboxList(BaseModel):
    items: list[SandboxInfo]


class Deleted(BaseModel):
    sandbox_id: str
    deleted: bool = Field(description="false when there was nothing to delete")


class Reaped(BaseModel):
    expired: int
    orphans: int


class ToolInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(description="JSON schema of the arguments")


class ToolList(BaseModel):
    tools: list[ToolInfo]


class ToolResult(BaseModel):
    """MCP ``CallToolResult``: ``content`` items ``{type: text, text}`` (or image...)."""

    model_config = ConfigDict(extra="allow")

    content: list[dict[str, Any]]
    isError: bool


class WorkspaceEntry(BaseModel):
    name: str
    type: str = Field(description="file | directory")
    size: int | None = None


class WorkspaceListing(BaseModel):
    path: str
    entries: list[WorkspaceEntry]


class FileWritten(BaseModel):
    path: str
    size: int = Field(description="bytes written")


class FileMoved(BaseModel):
    path: str = Field(description="where the file or directory is now")


class FileDeleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str
