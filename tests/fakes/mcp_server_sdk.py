"""An MCP server written with the official ``mcp`` package (``MCPServer``), for tests.

    python -m tests.fakes.mcp_server_sdk                  stdio
    python -m tests.fakes.mcp_server_sdk --http PORT      Streamable HTTP on 127.0.0.1:PORT/mcp

``app()`` is the same server for in-process use (``streamable_http_app`` under uvicorn).
Tools: ``add(a, b)``, ``shout(text)``, ``tiny_png()`` (an image).
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Image, MCPServer

from tests.fakes.mcp_server_stdlib import tiny_png


def server() -> MCPServer:
    mcp = MCPServer("sdk-test-server")

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    @mcp.tool()
    def png() -> Image:
        """A 2x2 PNG image."""
        return Image(data=tiny_png(), format="png")

    return mcp


def main() -> None:
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        server().run("streamable-http", host="127.0.0.1", port=port)
    else:
        server().run()


if __name__ == "__main__":
    main()
