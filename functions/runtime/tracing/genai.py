"""Spans of a turn, named and attributed by the OpenTelemetry GenAI semantic conventions.

``invoke_agent {app}`` per turn (a :class:`~..turn.TurnObserver`), and under it, through the
turn's call hooks (``calls.py``), ``chat {model}`` per model call and ``execute_tool {tool}``
per tool run. Attribute names are the conventions' (``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.tool.call.id``, ...);
messages, tool arguments and results only when content capture is on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from ..calls import ModelCall, ToolExecution
    from ..protocol import Response
    from ..turn import Turn

_PROPAGATOR = TraceContextTextMapPropagator()
# generation parameters (OpenAI names) -> gen_ai.request.*
_REQUEST_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


def _error_type(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else type(exc).__qualname__


def _fail(span: Any, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR))


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
    return parts


def chat_messages(messages: list[dict[str, Any]]) -> str:
    """OpenAI chat messages as ``gen_ai.input.messages``: ``[{role, parts}]`` JSON."""
    converted = []
    for message in messages:
        parts = _text_parts(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
        if message.get("role") == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        converted.append({"role": message.get("role"), "parts": parts})
    return json.dumps(converted, ensure_ascii=False, default=str)


def protocol_messages(messages: Any) -> str:
    """Protocol messages (a request's input, a response's output) as ``[{role, parts}]``."""
    converted = []
    for message in messages or ():
        data = message.model_dump(mode="json", exclude_none=True)
        converted.append({"role": data.get("role"), "parts": _text_parts(data.get("content"))})
    return json.dumps(converted, ensure_ascii=False)


class TurnTracing:
    """The turn observer of a function's tracing: one ``invoke_agent`` span per turn."""

    def __init__(self, tracer: Any, capture: bool) -> None:
        self.tracer = tracer
        self.capture = capture

    def started(self, turn: Turn) -> None:
        name = turn.agent.app_name
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.conversation.id": turn.session_id,
        }
        if turn.agent.app_description:
            attributes["gen_ai.agent.description"] = turn.agent.app_description
        if self.capture:
            attributes["gen_ai.input.messages"] = protocol_messages(turn.request.input)
        span = self.tracer.start_span(
            f"invoke_agent {name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        turn.calls.watchers.append(_TurnWatcher(self, span))

    def event(self, turn: Turn, event: Any) -> None:
        pass

    def finished(self, turn: Turn, final: Response | None) -> None:
        watcher = next((w for w in turn.calls.watchers if isinstance(w, _TurnWatcher)), None)
        if watcher is None:
            return
        span, calls = watcher.span, turn.calls
        span.set_attribute("gen_ai.usage.input_tokens", calls.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", calls.output_tokens)
        if final is None:
            _fail(span, "incomplete")
        else:
            span.set_attribute("gen_ai.response.id", final.id)
            span.set_attribute("agentscope.response.status", str(final.status))
            if final.error is not None:
                _fail(span, final.error.code or "agent_error")
            if self.capture:
                span.set_attribute("gen_ai.output.messages", protocol_messages(final.output))
        span.end()


class _TurnWatcher:
    """The turn's span, and the spans of its calls under it (a ``calls.CallWatcher``)."""

    def __init__(self, owner: TurnTracing, span: Any) -> None:
        self.tracer = owner.tracer
        self.capture = owner.capture
        self.span = span

    def bound(self) -> None:
        # the agent's task: what it starts - and the agent's own spans - are the turn's.
        # Never detached: the task ends with the turn.
        otel_context.attach(trace.set_span_in_context(self.span))

    @contextlib.contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": call.provider,
            "gen_ai.request.model": call.model,
        }
        if call.server:
            url = urlsplit(call.server)
            if url.hostname:
                attributes["server.address"] = url.hostname
                attributes["server.port"] = url.port or (443 if url.scheme == "https" else 80)
        for key, value in call.params.items():
            if key in _REQUEST_ATTRIBUTES:
                attributes[_REQUEST_ATTRIBUTES[key]] = value
            elif key == "stop":
                attributes["gen_ai.request.stop_sequences"] = (
                    [value] if isinstance(value, str) else [str(v) for v in value]
                )
        if self.capture and call.messages is not None:
            attributes["gen_ai.input.messages"] = chat_messages(call.messages)
        span = self.tracer.start_span(
            f"chat {call.model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        _PROPAGATOR.inject(call.headers, context=trace.set_span_in_context(span))
        call.capture = call.capture or self.capture
        try:
            yield
        except Exception as exc:
            _fail(span, _error_type(exc))
            raise
        finally:
            self._end_chat(span, call)

    def _end_chat(self, span: Any, call: ModelCall) -> None:
        if call.response_id:
            span.set_attribute("gen_ai.response.id", call.response_id)
        if call.response_model:
            span.set_attribute("gen_ai.response.model", call.response_model)
        if call.finish_reasons:
            span.set_attribute("gen_ai.response.finish_reasons", call.finish_reasons)
        span.set_attribute("gen_ai.usage.input_tokens", call.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", call.output_tokens)
        first = call.time_to_first_chunk_s
        if first is not None:
            span.set_attribute("gen_ai.response.time_to_first_chunk", first)
        if self.capture:
            parts: list[dict[str, Any]] = []
            if call.output_text:
                parts.append({"type": "text", "content": call.output_text})
            for tool_call in call.output_tool_calls:
                function = tool_call.get("function") or {}
                parts.append(
                    {
                        "type": "tool_call",
                        "id": tool_call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                    }
                )
            output = {"role": "assistant", "parts": parts}
            if call.finish_reasons:
                output["finish_reason"] = call.finish_reasons[-1]
            span.set_attribute("gen_ai.output.messages", json.dumps([output], ensure_ascii=False))
        span.end()

    @contextlib.contextmanager
    def tool_call(self, run: ToolExecution) -> Iterator[None]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": run.name,
            "gen_ai.tool.type": "function",
        }
        if run.call_id:
            attributes["gen_ai.tool.call.id"] = run.call_id
        if run.description:
            attributes["gen_ai.tool.description"] = run.description
        if self.capture:
            attributes["gen_ai.tool.call.arguments"] = run.arguments
        span = self.tracer.start_span(
            f"execute_tool {run.name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        # current while the tool runs: its calls (the sandbox SDK's) carry this span
        token = otel_context.attach(trace.set_span_in_context(span)) if run.in_task else None
        try:
            yield
        except Exception as exc:
            _fail(span, _error_type(exc))
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            if run.is_error:
                _fail(span, "tool_error")
            if self.capture and run.result is not None:
                span.set_attribute("gen_ai.tool.call.result", run.result)
            span.end()
