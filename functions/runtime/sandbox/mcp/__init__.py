"""Sandboxes as MCP servers.

``bridge.py`` makes an MCP server (the ``mcp`` package's low-level ``Server``) of any
source of tools in the sandbox shape (``GET /tools``, ``POST /tools/{name}``), and serves it
statelessly over HTTP, one request at a time; the sandbox function mounts it at
``/v1/sandboxes/{id}/mcp`` and ``/v1/mcp``. ``python -m functions.runtime.sandbox.mcp``
serves one sandbox over stdio (``__main__.py``), as AgentScope Runtime's
``runtime-sandbox-mcp`` does. Nothing here is imported until MCP is used: ``mcp`` costs a
cold start that tool calls over REST should not pay.
"""
