"""Sandbox methods as tools of AgentScope's own Toolkit (agentscope 2.x, the `agentscope` extra).

``sandbox_tool_adapter`` gives a plain function with the method's name, signature and
docstring; AgentScope's ``FunctionTool`` builds its schema from exactly those and turns a
returned string into a text chunk, so the same adapter serves both toolkits.
"""

from __future__ import annotations

import pytest

from functions.runtime.sandbox import AsyncBaseSandbox, sandbox_tool_adapter
from functions.runtime.tools import ToolError


@pytest.fixture
def url(serve, settings) -> str:
    return str(serve(settings).base_url)


async def test_sandbox_methods_register_and_run_in_agentscope_toolkit(url, settings):
    from agentscope.tool import FunctionTool, Toolkit

    async with AsyncBaseSandbox(base_url=url, settings=settings) as box:
        toolkit = Toolkit()
        shell = FunctionTool(sandbox_tool_adapter(box.run_shell_command))
        python = FunctionTool(sandbox_tool_adapter(box.run_ipython_cell))
        await toolkit.add_tool([shell, python])

        schemas = {s["function"]["name"]: s["function"] for s in await toolkit.get_tool_schemas()}
        assert set(schemas) >= {"run_shell_command", "run_ipython_cell"}
        assert schemas["run_shell_command"]["parameters"]["required"] == ["command"]
        assert schemas["run_ipython_cell"]["parameters"]["required"] == ["code"]
        assert "shell" in schemas["run_shell_command"]["description"].lower()

        await python.call(code="answer = 6 * 7")
        chunk = await python.call(code="answer")
        assert [block.text for block in chunk.content] == ["42\n"]
        chunk = await shell.call(command="echo from agentscope")
        assert [block.text for block in chunk.content] == ["from agentscope\n"]
        # a failing command raises with its output, which AgentScope reports to the model
        with pytest.raises(ToolError, match="exit code 3"):
            await shell.call(command="echo oops; exit 3")
