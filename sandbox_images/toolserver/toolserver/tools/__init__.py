"""Tool sets, one module each; ``TOOLSERVER_TOOLSETS`` picks which ones a server offers.

A set module holds a ``ToolSet`` named ``tools`` (module-level functions registered by its
decorator), or a ``make_tools(workspace)`` factory (the older shape).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..registry import Tool
from ..workspace import Workspace

TOOLSETS = ("base", "filesystem", "browser", "gui")


def load(
    names: list[str], workspace: Workspace, starters: list[Callable[[], None]] | None = None
) -> dict[str, Tool]:
    """The tools of the sets ``names``; each set's start hooks are appended to ``starters``."""
    tools: dict[str, Tool] = {}
    for name in names:
        if name not in TOOLSETS:
            raise ValueError(f"unknown tool set {name!r}; known: {', '.join(TOOLSETS)}")
        module = importlib.import_module(f"{__name__}.{name}")
        toolset = getattr(module, "tools", None)
        offered = toolset.bind(workspace) if toolset else module.make_tools(workspace)
        for tool in offered:
            tools[tool.name] = tool
        if toolset and starters is not None:
            starters += [lambda fn=fn: fn(workspace) for fn in toolset.starters]
    return tools
