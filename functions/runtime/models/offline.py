"""The model used when none is configured, so ``make local`` and the tests work offline.

It says plainly what it is (nobody should mistake it for a real model) and is fully
deterministic, so an end-to-end test can assert the exact stream. It can also drive the
agent's tool loop: ``/tool <name> <json>`` as the last user message asks for a tool call, a
fenced code block asks for it to be run with ``execute_python_code`` (or the sandbox's
``run_ipython_cell``, when the agent offers one of them), and a tool result as the last
message gets a reply quoting it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from ..calls import model_call
from .base import ChatModel, StreamItem, TextDelta, ToolCall, Usage

PREFIX = "[offline demo model]"
HINT = "Set MODEL_BASE_URL, MODEL_API_KEY and MODEL_NAME to talk to a real model."
_WORDS_PER_DELTA = 3
_TOOL_COMMAND = re.compile(r"^/tool\s+(?P<name>\S+)(?:\s+(?P<args>.*))?$", re.DOTALL)
# a fenced code block: asking for it to be run is what the demo model answers with the
# Python tool, so the tool loop and a sandbox can be seen working without a model key
_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(?P<code>.*?)```", re.DOTALL)
PYTHON_TOOL = "execute_python_code"
# the names a code tool goes by: the seed's agentscope tool, and the sandbox's own method
PYTHON_TOOLS = (PYTHON_TOOL, "run_ipython_cell")


def _text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string, or a list of parts of which only the
    text ones can be echoed."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _word_count(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """A few words per delta, so consumers see a real multi-delta stream (``stream`` lets
    the loop turn between them, or the runtime would join them: coalesce.py)."""
    words = re.findall(r"\S+\s*", text)
    return [
        "".join(words[i : i + _WORDS_PER_DELTA]) for i in range(0, len(words), _WORDS_PER_DELTA)
    ]


def _tool_names(tools: list[dict[str, Any]] | None) -> list[str]:
    names = []
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def _tool_name_for(messages: list[dict[str, Any]], tool_call_id: str | None) -> str:
    """The function a tool result answers, found in the assistant turn that called it."""
    for message in reversed(messages):
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and call.get("id") == tool_call_id:
                return str((call.get("function") or {}).get("name") or "unknown")
    return "unknown"


def _next_call_id(messages: list[dict[str, Any]]) -> str:
    """Deterministic call ids, unique in a conversation: the call's position in it. (A
    count of the calls before it would hand a stopped call's id out again: such a call
    never reaches a later prompt, its id still does in a client's echoes.)"""
    return f"call_offline_{len(messages)}"


class OfflineDemoModel(ChatModel):
    """A deterministic stand-in model: same messages and tools, same stream, always."""

    def __init__(self, name: str = "offline-demo") -> None:
        self.name = name

    def reply(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> str | ToolCall:
        """The whole turn at once: the text it will stream, or the tool call it will make."""
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            name = last.get("name") or _tool_name_for(messages, last.get("tool_call_id"))
            return f"{PREFIX} Tool {name} returned: {_text(last.get('content'))}"

        said = next(
            (
                _text(m.get("content")).strip()
                for m in reversed(messages)
                if m.get("role") == "user"
            ),
            "",
        )
        command = _TOOL_COMMAND.match(said) if tools else None
        if command:
            name, raw_args = command["name"], (command["args"] or "{}").strip()
            names = _tool_names(tools)
            if name not in names:
                return f"{PREFIX} There is no tool named {name}; available: {', '.join(names)}."
            try:
                arguments = json.loads(raw_args)
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                return f"{PREFIX} The arguments for {name} must be a JSON object, got: {raw_args}"
            return ToolCall(
                id=_next_call_id(messages),
                name=name,
                arguments=json.dumps(arguments, ensure_ascii=False),
            )

        block = _CODE_BLOCK.search(said) if tools else None
        python = next((n for n in PYTHON_TOOLS if n in _tool_names(tools)), None)
        if block and python:
            return ToolCall(
                id=_next_call_id(messages),
                name=python,
                arguments=json.dumps({"code": block["code"]}, ensure_ascii=False),
            )

        if not said:
            return f"{PREFIX} You said nothing. {HINT}"
        return f'{PREFIX} You said: "{said}" {HINT}'

    async def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamItem]:
        """Stream ``reply()``; generation params are accepted and ignored.

        Reported to the turn's watchers like any model call (a trace shows it, a budget
        counts it), as provider ``offline``.
        """
        with model_call(self.name, provider="offline", messages=messages) as call:
            answer = self.reply(messages, tools)
            if call is not None:
                call.chunk()
                call.finish_reasons.append("tool_calls" if isinstance(answer, ToolCall) else "stop")
            if isinstance(answer, ToolCall):
                yield answer
                output_words = _word_count(answer.name) + _word_count(answer.arguments)
            else:
                for i, piece in enumerate(_pieces(answer)):
                    if i:  # arriving as a model's stream does: ready pieces would be joined
                        await asyncio.sleep(0)
                    yield TextDelta(piece)
                output_words = _word_count(answer)
            input_words = sum(_word_count(_text(m.get("content"))) for m in messages)
            if call is not None:
                call.input_tokens, call.output_tokens = input_words, output_words
                if call.capture:
                    call.output_text = answer if isinstance(answer, str) else ""
                    if isinstance(answer, ToolCall):
                        call.output_tool_calls.append(answer.to_openai())
            yield Usage(input_tokens=input_words, output_tokens=output_words)
