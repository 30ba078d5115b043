"""The sandbox errors: raised by launchers and the sandbox function, re-raised by the SDK.

One class per ``code``; the sandbox function answers each with its ``status`` and
``{"code", "detail"}``, and the SDK turns such an answer back into the same class through
:func:`error_for` - so ``except SandboxGone`` works the same in the function and in a client.
"""

from __future__ import annotations

import math

from ..errors import ApiError, error_classes


class SandboxError(ApiError):
    """The sandbox could not be made, found or called (not a tool's own error result)."""

    status = 502
    code = "sandbox_error"


class SandboxNotFound(SandboxError):
    """No such sandbox: never made, deleted or expired."""

    status = 404
    code = "sandbox_not_found"


class SandboxGone(SandboxError):
    """The sandbox stopped running (its container or session ended); make a new one."""

    status = 410
    code = "sandbox_gone"


class SandboxPaused(SandboxError):
    """Calls wait for ``POST .../resume``."""

    status = 409
    code = "sandbox_paused"


class SandboxBusy(SandboxError):
    """The backend refused a call while the sandbox was busy or changing state."""

    status = 409
    code = "sandbox_busy"


class SandboxRace(SandboxError):
    """Another instance changed the sandbox (or the session's binding) meanwhile; retry."""

    status = 409
    code = "sandbox_race"


class SandboxLimit(SandboxError):
    """``MAX_SANDBOX_INSTANCES`` sandboxes run already."""

    status = 429
    code = "sandbox_limit"


class InvalidPath(SandboxError):
    """A file path or tool name no tool server may be asked for (a control character, a
    ``..`` segment); the tool server answers its own refusals with the same code."""

    status = 400
    code = "invalid_path"


class UnknownTool(SandboxError):
    """No tool of the sandbox has this name (the tool server's answer, or a name longer than
    any tool's: ``tool_name``)."""

    status = 404
    code = "unknown_tool"


# a longer name is no tool's (MCP's tool names have 1-128 characters); it would make a
# URL past what HTTP clients send (httpx: 64 KiB), and the tool server takes names in URLs
MAX_TOOL_NAME = 1024


def tool_name(name: str) -> str:
    """``name``, if a tool may have it; ``UnknownTool`` if it is longer than
    ``MAX_TOOL_NAME``, holds a ``/`` or is ``.`` or ``..`` (which no tool server's route
    could name: such a name would be a path)."""
    if len(name) > MAX_TOOL_NAME:
        raise UnknownTool(f"no tool has a name of {len(name)} characters (at most {MAX_TOOL_NAME})")
    if "/" in name or name in (".", ".."):
        raise UnknownTool(f"no tool is named {name[:80]!r}: a tool's name is no path")
    return name


class McpServerFailed(SandboxError):
    """An MCP server given for the sandbox did not start (no such command, it exited, it did
    not answer ``initialize`` in time); ``detail`` names it and says why."""

    status = 422
    code = "mcp_server_failed"


class McpServerExists(SandboxError):
    """An MCP server of that name runs in the sandbox with another configuration; add it
    with ``overwrite`` to replace it."""

    status = 409
    code = "mcp_server_exists"


class UnknownSandboxType(SandboxError):
    status = 422
    code = "unknown_type"


class SandboxTypeNotDeployed(SandboxError):
    """The backend has no function or template for the sandbox type."""

    status = 404
    code = "sandbox_type_not_deployed"


class NotSupported(SandboxError):
    """The backend cannot do this (pausing on Docker, say)."""

    status = 501
    code = "not_supported"


class SandboxUnreachable(SandboxError):
    """The sandbox did not answer; it may answer a retry."""

    status = 502
    code = "sandbox_unreachable"


class SandboxRefused(SandboxError):
    """The backend's gateway refused this deployment's call."""

    status = 502
    code = "sandbox_refused"


class SandboxBackendError(SandboxError):
    """The backend refused an operation for a reason of its own."""

    status = 502
    code = "sandbox_backend_error"


class LaunchError(SandboxError):
    """The backend could not start a sandbox (no image, no capacity, never became ready)."""

    status = 503
    code = "launch_failed"


class BackendThrottled(LaunchError):
    """The cloud API throttled us: retry after ``retry_after_s`` (HTTP 429 + Retry-After)."""

    status = 429
    code = "backend_throttled"

    def __init__(self, retry_after_s: float, message: str) -> None:
        super().__init__(
            f"{message}; retry later",
            headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        )
        self.retry_after_s = retry_after_s


class BackendUnavailable(LaunchError):
    """The cloud API is out of quota or keeps failing: nothing to do but retry later."""

    status = 503
    code = "backend_unavailable"


class SigningError(SandboxError):
    """A call to SANDBOX_URL could not be signed (no credentials, no region): a set-up error."""

    status = 500
    code = "signing_error"


def error_for(
    status: int, code: str | None, detail: str, retry_after_s: float | None = None
) -> SandboxError:
    """The named error for a sandbox function's answer; ``SandboxError`` for unknown codes."""
    cls = _BY_CODE.get(code or "", SandboxError)
    if cls is BackendThrottled:
        throttled = BackendThrottled(retry_after_s or 1.0, detail)
        throttled.detail = detail
        return throttled
    return cls(detail, status=status, code=code)


_BY_CODE = error_classes(SandboxError)
