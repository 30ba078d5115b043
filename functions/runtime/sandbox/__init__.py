"""The sandbox SDK: ``BaseSandbox``, ``FilesystemSandbox``, ``BrowserSandbox``, ``GuiSandbox``
and their async twins.

Used as in AgentScope Runtime's examples::

    with BaseSandbox() as box:
        print(box.list_tools())
        print(box.run_ipython_cell(code="print('hi')"))
        print(box.run_shell_command(command="echo hello"))

    with BrowserSandbox() as box:
        print(box.desktop_url)  # watch it live in a browser
        box.browser_navigate("https://example.com")

With ``SANDBOX_URL`` set, a sandbox is made and called through the sandbox function; without
it (the seed's embedded mode) the SDK starts the container itself on the local Docker engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    BackendThrottled,
    McpServerFailed,
    SandboxError,
    SandboxGone,
    SandboxLimit,
    SandboxNotFound,
    SandboxPaused,
    UnknownTool,
)

if TYPE_CHECKING:
    from .client import (
        AsyncBaseSandbox,
        AsyncBrowserSandbox,
        AsyncFilesystemSandbox,
        AsyncGuiSandbox,
        BaseSandbox,
        BrowserSandbox,
        FilesystemSandbox,
        GuiSandbox,
        ToolText,
        result_images,
        result_text,
        sandbox_tool_adapter,
    )

__all__ = [
    "AsyncBaseSandbox",
    "AsyncBrowserSandbox",
    "AsyncFilesystemSandbox",
    "AsyncGuiSandbox",
    "BackendThrottled",
    "BaseSandbox",
    "BrowserSandbox",
    "FilesystemSandbox",
    "GuiSandbox",
    "McpServerFailed",
    "SandboxError",
    "SandboxGone",
    "SandboxLimit",
    "SandboxNotFound",
    "SandboxPaused",
    "ToolText",
    "UnknownTool",
    "result_images",
    "result_text",
    "sandbox_tool_adapter",
]

# The SDK's client loads when one of its names is first used: the sandbox function imports
# this package for its types, errors and launchers and never makes a client.
_CLIENT = frozenset(__all__) - frozenset(globals())


def __getattr__(name: str) -> object:
    if name in _CLIENT:
        return getattr(importlib.import_module(f"{__name__}.client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
