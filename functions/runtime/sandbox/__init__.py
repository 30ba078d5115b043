"""The sandbox SDK: ``BaseSandbox``, ``FilesystemSandbox`` and their async twins.

Used as in AgentScope Runtime's examples::

    with BaseSandbox() as box:
        print(box.list_tools())
        print(box.run_ipython_cell(code="print('hi')"))
        print(box.run_shell_command(command="echo hello"))

With ``SANDBOX_URL`` set, a sandbox is made and called through the sandbox function; without
it (the seed's embedded mode) the SDK starts the container itself on the local Docker engine.
"""

from .client import (
    AsyncBaseSandbox,
    AsyncFilesystemSandbox,
    BaseSandbox,
    FilesystemSandbox,
    result_text,
    sandbox_tool_adapter,
)
from .errors import (
    BackendThrottled,
    SandboxError,
    SandboxGone,
    SandboxLimit,
    SandboxNotFound,
    SandboxPaused,
)

__all__ = [
    "AsyncBaseSandbox",
    "AsyncFilesystemSandbox",
    "BackendThrottled",
    "BaseSandbox",
    "FilesystemSandbox",
    "SandboxError",
    "SandboxGone",
    "SandboxLimit",
    "SandboxNotFound",
    "SandboxPaused",
    "result_text",
    "sandbox_tool_adapter",
]
