"""Tools a sandbox offers: a name, a JSON-schema of arguments, and a function.

A tool returns text; raising ``ToolError`` (or any exception) makes the call's result an
error (``isError: true``) instead of failing the HTTP request, because the caller is a model
that should read what went wrong and try again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """A failure to report to the model as the tool's result."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., str]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


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
