"""Tools an agent offers its model: plain Python functions described by JSON schema.

The schema comes from the function's signature and docstring, so registering a tool is one
line; calls take the model's JSON argument string and always return text, with failures
reported to the model as text instead of ending the query. A tool whose text carries images
(a sandbox screenshot: ``ToolText.images``) has them handed on by ``Toolkit.run``: Chat
Completions' tool messages take text only, so ``ToolOutput.image_message`` puts them in a
user message that follows, for a model that accepts images.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .calls import tool_call
from .redact import loggable_text

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_for(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _schema_for(args[0]) if len(args) == 1 else {}
    if origin in (list, tuple, set):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        return {"type": "array", "items": _schema_for(item)}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if annotation is list:
        return {"type": "array"}
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    return {}


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ToolError(Exception):
    code = "tool_error"


@dataclass
class ToolOutput:
    """What a tool call gives the model: text (images noted in it), whether it failed, and
    the images themselves as MCP image parts (``{type: "image", data, mimeType}``)."""

    text: str
    is_error: bool = False
    images: list[dict[str, Any]] = field(default_factory=list)

    def image_message(self) -> dict[str, Any] | None:
        """The images as an OpenAI Chat Completions ``user`` message of ``image_url`` data
        URLs, to follow the tool message; None without images."""
        if not self.images:
            return None
        parts: list[dict[str, Any]] = [{"type": "text", "text": "The images of that tool result:"}]
        parts += [
            {
                "type": "image_url",
                "image_url": {"url": f"data:{image['mimeType']};base64,{image['data']}"},
            }
            for image in self.images
        ]
        return {"role": "user", "content": parts}


class Toolkit:
    def __init__(self) -> None:
        self.tools: dict[str, ToolSpec] = {}

    def register(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Callable[..., Any]:
        """Offer ``fn`` to the model; usable as a decorator."""
        if parameters is None:
            hints = typing.get_type_hints(fn)
            props: dict[str, Any] = {}
            required = []
            for pname, param in inspect.signature(fn).parameters.items():
                if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                    continue
                props[pname] = _schema_for(hints.get(pname, Any))
                if param.default is param.empty:
                    required.append(pname)
            parameters = {"type": "object", "properties": props, "required": required}
        doc = inspect.getdoc(fn) or ""
        spec = ToolSpec(
            name=name or fn.__name__,
            description=description or doc.split("\n\n")[0].strip(),
            parameters=parameters,
            fn=fn,
        )
        self.tools[spec.name] = spec
        return fn

    async def add_mcp_server(self, server: Any) -> list[str]:
        """Offer the tools of an MCP server (a ``mcp_tools.McpServer``, connected here if it
        is not yet) to the model, as ``mcp__<server>__<tool>``; returns their names."""
        await server.connect()
        specs: list[ToolSpec] = server.specs()
        self.tools.update((spec.name, spec) for spec in specs)
        return [spec.name for spec in specs]

    def merged(self, other: Toolkit) -> Toolkit:
        """A toolkit with this one's tools and ``other``'s (``other`` wins a name clash)."""
        both = Toolkit()
        both.tools = {**self.tools, **other.tools}
        return both

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.openai() for spec in self.tools.values()]

    async def call(self, name: str, arguments: str, call_id: str | None = None) -> tuple[str, bool]:
        """Run tool ``name``; returns ``(output text, is_error)``, never raises for bad calls.

        ``call_id`` is the model's id for the call; both are reported to the turn's
        watchers (``calls.tool_call``: tracing, budgets).
        """
        output = await self.run(name, arguments, call_id)
        return output.text, output.is_error

    async def run(self, name: str, arguments: str, call_id: str | None = None) -> ToolOutput:
        """Run tool ``name`` for the model: its text, failure flag and images; never raises
        for bad calls (reported as :meth:`call` reports them)."""
        spec = self.tools.get(name)
        with tool_call(
            name, arguments, call_id=call_id, description=spec.description if spec else None
        ) as run:
            output = await self._call(spec, name, arguments)
            if run is not None:
                run.result, run.is_error = output.text, output.is_error
        return output

    async def _call(self, spec: ToolSpec | None, name: str, arguments: str) -> ToolOutput:
        if spec is None:
            known = ", ".join(self.tools) or "none"
            return ToolOutput(f"unknown tool {name!r}; available: {known}", True)
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return ToolOutput(f"invalid arguments for {name}: {exc}", True)
        try:
            if inspect.iscoroutinefunction(spec.fn):
                result = await spec.fn(**args)
            else:  # a blocking tool would stall every other request this instance serves
                result = await asyncio.to_thread(spec.fn, **args)
            if inspect.isawaitable(result):  # a sync callable that hands back a coroutine
                result = await result
        except Exception as exc:
            text = loggable_text(str(exc))  # the model and the caller read it
            return ToolOutput(f"{name} failed: {type(exc).__name__}: {text}", True)
        if isinstance(result, str):
            return ToolOutput(str(result), False, list(getattr(result, "images", None) or []))
        return ToolOutput(json.dumps(result, ensure_ascii=False, default=str))
