"""An app that connects to MCP servers itself gets the mcp extra in its query zip."""

from __future__ import annotations

from tests.fixtures.artifacts import load_packaging

frameworks = load_packaging("frameworks")


def test_mcp_servers_of_an_app_bring_the_mcp_extra(tmp_path):
    cases = {
        "from functions.runtime.mcp_tools import McpServer\n": ("mcp",),
        "import mcp\n": ("mcp",),
        "from mcp.client import Client\n": ("mcp",),
        # naming MCP calls (Friday's call_kind) needs no package
        "from functions.runtime.mcp_tools import call_kind\n": (),
        # agentscope 2.x brings mcp itself
        "from agentscope.agent import Agent\nimport mcp\n": ("agentscope",),
    }
    for n, (text, extras) in enumerate(cases.items()):
        app = tmp_path / f"app{n}.py"
        app.write_text(text)
        assert frameworks.framework_extras(app) == extras, text
