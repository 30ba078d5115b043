"""Tools a sandbox offers: a name, a JSON-schema of arguments, and a function.

A tool returns text, or a list of MCP content parts (``{"type": "text", "text"}``,
``{"type": "image", "data": <base64>, "mimeType"}``: what ``image`` makes); raising
``ToolError`` (or any exception) makes the call's result an error (``isError: true``) instead
of failing the HTTP request, because the caller is a model that should read what went wrong
and try again.

A tool set is a module of module-level functions, each registered by its ``ToolSet``'s
``tool`` decorator; every function takes the workspace as its first argument (bound when the
server loads the set) and the tool's arguments by keyword::

    tools = ToolSet("filesystem")

    @tools.tool("Read a file.", schema(["path"], path=string("the file")))
    def read_file(ws: Workspace, path: str) -> str: ...
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ToolError

if TYPE_CHECKING:
    from .workspace import Workspace

Content = list[dict[str, Any]]
Result = str | Content
F = TypeVar("F", bound=Callable[..., Result])


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Result]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass
class ToolSet:
    """The tools of one tool-set module, in the order they are declared."""

    name: str
    declared: list[tuple[str, str, dict[str, Any], Callable[..., Result]]] = field(
        default_factory=list
    )
    starters: list[Callable[[Workspace], None]] = field(default_factory=list)

    def tool(self, description: str, parameters: dict[str, Any]) -> Callable[[F], F]:
        """Register the decorated function as the tool of its name."""

        def register(fn: F) -> F:
            self.declared.append((fn.__name__, description, parameters, fn))
            return fn

        return register

    def on_start(self, fn: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
        """Register ``fn(workspace)`` to run when the server starts, before it serves:
        desktops, browsers."""
        self.starters.append(fn)
        return fn

    def bind(self, workspace: Workspace) -> list[Tool]:
        return [
            Tool(name, description, parameters, functools.partial(fn, workspace))
            for name, description, parameters, fn in self.declared
        ]


def image(data: bytes, mime_type: str = "image/png") -> dict[str, Any]:
    """MCP image content: ``{"type": "image", "data": <base64>, "mimeType"}``."""
    return {"type": "image", "data": base64.b64encode(data).decode(), "mimeType": mime_type}


def text(value: str) -> dict[str, Any]:
    """MCP text content: ``{"type": "text", "text"}``."""
    return {"type": "text", "text": value}


def content_of(result: Result) -> Content:
    """A tool's return value as MCP content parts."""
    return [text(result)] if isinstance(result, str) else result


def schema(required: list[str] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON-schema object of ``properties``; extra arguments are refused."""
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def check_arguments(tool: Tool, args: Any) -> dict[str, Any]:
    """Enough of JSON-schema to give a model a clear message: object, required, types, extras."""
    if not isinstance(args, dict):
        raise ToolError(f"arguments must be a JSON object, got {type(args).__name__}")
    props: dict[str, Any] = tool.parameters.get("properties", {})
    missing = [name for name in tool.parameters.get("required", []) if name not in args]
    if missing:
        raise ToolError(f"{tool.name}: missing required argument(s): {', '.join(missing)}")
    unknown = sorted(set(args) - set(props))
    if unknown:
        raise ToolError(f"{tool.name}: unknown argument(s): {', '.join(unknown)}")
    for name, value in args.items():
        expected = props[name].get("type")
        if expected and not _is_type(value, expected):
            raise ToolError(f"{tool.name}: argument {name!r} must be {expected}")
    return args


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _is_type(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))
