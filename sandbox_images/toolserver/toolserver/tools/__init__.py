"""Tool sets, one module each; ``TOOLSERVER_TOOLSETS`` picks which ones a server offers."""

from __future__ import annotations

import importlib

from ..registry import Tool
from ..workspace import Workspace

TOOLSETS = ("base", "filesystem")


def load(names: list[str], workspace: Workspace) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    for name in names:
        if name not in TOOLSETS:
            raise ValueError(f"unknown tool set {name!r}; known: {', '.join(TOOLSETS)}")
        module = importlib.import_module(f"{__name__}.{name}")
        for tool in module.make_tools(workspace):
            tools[tool.name] = tool
    return tools
