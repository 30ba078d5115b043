"""Sandbox tools for AgentScope toolkits, at the seed's path (its imports changed only).

* ``sandbox_tool_adapter(box.run_ipython_cell)`` (any sandbox method, sync or async) gives a
  function with the method's name, signature and docstring, which both majors build their
  tool schema from: register it with 1.x's ``Toolkit.register_tool_function`` or wrap it in
  2.x's ``FunctionTool``. It returns what each major wants from a tool: a 1.x
  ``ToolResponse``; in 2.x a ``str`` (a ``ToolResponse`` would reach the model as its repr),
  or a ``ToolChunk`` when the result holds images. A result the sandbox marks as an error
  raises ``ToolError`` with its output, which both majors report to the model.
* ``execute_python_code`` is the seed's tool of that name (same signature), run in the
  sandbox of the conversation being served (``current_request()``: kept for the session by
  the sandbox function, so variables survive calls and turns) instead of a local process.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ...current import current_request
from ...sandbox import AsyncBaseSandbox, result_text
from ...tools import ToolError
from .version import major


def _images(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``(base64 data, media type)`` of each image in an MCP ``CallToolResult`` dict."""
    return [
        (p.get("data", ""), p.get("mimeType") or "image/png")
        for p in result.get("content", [])
        if p.get("type") == "image" and p.get("data")
    ]


def _text(result: dict[str, Any]) -> str:
    if result.get("isError"):
        result_text(result)  # raises ToolError with the sandbox's output
    return "".join(p.get("text", "") for p in result.get("content", []) if p.get("type") == "text")


def as_tool_result(result: dict[str, Any]) -> Any:
    """A sandbox tool's result in the form the installed agentscope's tools return."""
    text, images = _text(result), _images(result)
    if major() == 1:
        from agentscope.message import TextBlock
        from agentscope.tool import ToolResponse

        blocks: list[Any] = [TextBlock(type="text", text=text)] if text or not images else []
        blocks += [
            {"type": "image", "source": {"type": "base64", "media_type": kind, "data": data}}
            for data, kind in images
        ]
        return ToolResponse(content=blocks)
    if not images:
        return text
    from agentscope.message import Base64Source, DataBlock, TextBlock, ToolResultState
    from agentscope.tool import ToolChunk

    content: list[Any] = [TextBlock(text=text)] if text else []
    content += [DataBlock(source=Base64Source(data=data, media_type=kind)) for data, kind in images]
    return ToolChunk(content=content, state=ToolResultState.SUCCESS, is_last=True)


def _returns() -> str:
    return "ToolResponse" if major() == 1 else "str"


def sandbox_tool_adapter(method: Callable[..., Any]) -> Callable[..., Any]:
    """A sandbox method as an agentscope tool (see the module docstring)."""
    owner = getattr(method, "__self__", None)
    if inspect.iscoroutinefunction(getattr(owner, "call_tool", None)):

        @functools.wraps(method)
        async def tool(**kwargs: Any) -> Any:
            return as_tool_result(await method(**kwargs))
    else:

        @functools.wraps(method)
        def tool(**kwargs: Any) -> Any:
            return as_tool_result(method(**kwargs))

    tool.__annotations__ = {**method.__annotations__, "return": _returns()}
    return tool


async def _run_python(code: str, timeout: float) -> dict[str, Any]:
    request = current_request()
    box = AsyncBaseSandbox(
        session_id=request.session_id if request is not None else None,
        user_id=request.user_id if request is not None else None,
    )
    async with box:  # a session's sandbox outlives this call; any other is removed
        return await box.run_ipython_cell(code=code, timeout=timeout)


async def execute_python_code(code: str, timeout: float = 300) -> Any:
    """Execute the given Python code in the conversation's sandbox and return what it
    printed (and the value of a last expression). Variables persist across calls.

    Args:
        code (`str`):
            The Python code to be executed.
        timeout (`float`, defaults to `300`):
            The maximum time (in seconds) allowed for the code to run.
    """
    return as_tool_result(await _run_python(code, timeout))


execute_python_code.__annotations__["return"] = _returns()

__all__ = ["ToolError", "as_tool_result", "execute_python_code", "sandbox_tool_adapter"]
