"""agentscope 2.x: what ``Agent.reply_stream(..., yield_final_msg=True)`` yields -> protocol events.

The agent streams ``AgentEvent``s (``agentscope/event/_event.py``) and ends each reply with
its final ``Msg``:

=========================================  ===============================================
agentscope 2.x                             protocol
=========================================  ===============================================
``TEXT_BLOCK_START/DELTA/END``             content deltas of one assistant ``message``
                                           (each text block a part of it)
``THINKING_BLOCK_START/DELTA/END``         a ``reasoning`` message, streamed
``DATA_BLOCK_START/DELTA/END``             an image / audio / video / file part of the
                                           assistant message
``TOOL_CALL_START/DELTA/END``              a ``plugin_call`` message, data ``{call_id,
                                           name, arguments}`` (``arguments`` the JSON the
                                           deltas add up to); ``mcp_call`` (with
                                           ``server_label``) for an MCP tool
                                           (``mcp__<server>__<tool>``)
``TOOL_RESULT_START/*_DELTA/END``          a ``plugin_call_output`` (``mcp_call_output``)
                                           message, role ``tool``, data ``{call_id, name,
                                           output}``; a state other than success is kept
                                           in ``metadata.tool_result_state``
``MODEL_CALL_END`` tokens                  ``usage`` of the message that model call wrote,
                                           and summed into the response's ``usage``
``REQUIRE_USER_CONFIRM``                   an assistant message asking to allow the calls
                                           (text, and a data part naming them)
``REQUIRE_EXTERNAL_EXECUTION``             an assistant message with AskUser's questions
                                           (or naming the external calls it waits for)
``REPLY_END`` error                        the response ``failed`` (``AgentScopeError``)
final ``Msg``                              its text, when no event streamed it
=========================================  ===============================================

A reply that parks (a tool awaiting permission, AskUser, another external tool) ends with a
final ``Msg`` but no ``REPLY_END``; the response then ends ``incomplete`` with the question
as its last message and as ``error.message``. Tool calls are emitted once their model call
ends (``MODEL_CALL_END``, which agentscope sends right after the calls' ``END`` events), so
the text message they follow carries that call's usage.

Usage shape (OpenAI Responses' names): ``{input_tokens, output_tokens, total_tokens}``, plus
``cache_input_tokens`` / ``cache_creation_input_tokens`` when the provider reported any.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...calls import ReportedCalls
from ...mcp_tools import call_kind
from ...protocol import (
    AudioContent,
    Content,
    DataContent,
    Error,
    Event,
    FileContent,
    ImageContent,
    MessageBuilder,
    MessageType,
    ResponseBuilder,
    Role,
    RunStatus,
    TextContent,
    VideoContent,
)


class AgentScopeError(Exception):
    """A reply agentscope itself ended with an error (``ReplyEndEvent.error``)."""

    # agentscope's ErrorType -> the codes our own model client uses for the same faults
    CODES = {
        "authentication": "model_auth_error",
        "permission": "model_auth_error",
        "rate_limit": "model_rate_limited",
        "invalid_request": "model_bad_request",
        "upstream": "model_unavailable",
        "connection": "model_unavailable",
    }

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.code = self.CODES.get(error_type, "agent_error")


def usage_dict(input_tokens: int, output_tokens: int, cache: int = 0, created: int = 0) -> dict:
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cache:
        usage["cache_input_tokens"] = cache
    if created:
        usage["cache_creation_input_tokens"] = created
    return usage


def media_part(media_type: str, url: str | None, data: str | None, name: str | None) -> Content:
    """A binary block (``DataBlock``, a tool's data output) as the protocol's content part."""
    main = media_type.split("/")[0]
    link = url if url is not None else f"data:{media_type};base64,{data or ''}"
    if main == "image":
        return ImageContent(image_url=link)
    if main == "audio" and data is not None:
        return AudioContent(data=data, format=media_type.split("/")[-1])
    if main == "video":
        return VideoContent(video_url=link)
    if url is not None:
        return FileContent(file_url=url, filename=name)
    return FileContent(file_data=data, filename=name)


def ask_text(name: str, arguments: str) -> str:
    """What a parked external call asks the user: AskUser's questions and options."""
    try:
        params = json.loads(arguments or "{}")
    except ValueError:
        params = {}
    questions = params.get("questions") if isinstance(params, dict) else None
    if not isinstance(questions, list) or not questions:
        return f"Waiting for the result of {name} ({arguments or '{}'})."
    lines = []
    for q in questions:
        if not isinstance(q, dict):
            continue
        lines.append(str(q.get("question", "")))
        if q.get("context"):
            lines.append(str(q["context"]))
        for n, option in enumerate(q.get("options") or (), 1):
            if isinstance(option, dict):
                desc = f": {option['description']}" if option.get("description") else ""
                lines.append(f"  {n}. {option.get('label', '')}{desc}")
    return "\n".join(lines)


@dataclass
class _Call:
    name: str
    arguments: str = ""


@dataclass
class _Result:
    name: str
    text: str = ""
    media: list[Content] = field(default_factory=list)


@dataclass
class _Data:
    media_type: str
    name: str | None
    data: str = ""
    url: str | None = None


class ReplyStream:
    """Feeds on one handler's items (events and final ``Msg``s) and yields protocol events."""

    def __init__(self, builder: ResponseBuilder) -> None:
        self.builder = builder
        self.text_msg: MessageBuilder | None = None  # the assistant message text goes to
        self.text_parts: dict[str, int] = {}  # text block id -> part index in text_msg
        self.reasoning: MessageBuilder | None = None
        self.datas: dict[str, _Data] = {}
        self.calls: dict[str, _Call] = {}  # this model call's tool calls, in order
        self.results: dict[str, _Result] = {}
        self.streamed: list[str] = []  # full text of each text block streamed this reply
        self.totals = [0, 0, 0, 0]
        self.saw_usage = False
        self.ended: Any = None  # the REPLY_END of the current reply
        self.parked: list[tuple[str, str]] = []  # (error code, question) of a parked reply
        self.finals = 0

    # -- the items -------------------------------------------------------------------------
    def feed(self, item: Any) -> list[Event]:
        kind = getattr(item, "type", None)
        if isinstance(kind, str) and kind.isupper():  # an AgentEvent
            handler = getattr(self, f"_on_{kind.lower()}", None)
            return handler(item) if handler is not None else []
        if hasattr(item, "role") and hasattr(item, "content"):  # the reply's final Msg
            return self._final(item)
        raise TypeError(
            'a framework="agentscope" handler on agentscope 2.x must yield what '
            f"agent.reply_stream(..., yield_final_msg=True) yields, got {type(item).__name__}"
        )

    def _on_reply_start(self, _ev: Any) -> list[Event]:
        self.ended, self.parked, self.streamed = None, [], []
        return []

    def _on_reply_end(self, ev: Any) -> list[Event]:
        self.ended = ev
        return self._close_text()

    def _on_text_block_start(self, ev: Any) -> list[Event]:
        events = self._close_reasoning()
        if self.text_msg is None:
            self.text_msg, opened = self.builder.open_message()
            events += opened
        self.text_parts[ev.block_id] = -1
        return events

    def _on_text_block_delta(self, ev: Any) -> list[Event]:
        events: list[Event] = []
        if self.text_msg is None or ev.block_id not in self.text_parts:
            events += self._on_text_block_start(ev)
        if not ev.delta:
            return events
        assert self.text_msg is not None
        index = self.text_parts[ev.block_id]
        delta = self.text_msg.text_delta(ev.delta, None if index < 0 else index, new=index < 0)
        self.text_parts[ev.block_id] = delta.index  # type: ignore[assignment]
        return [*events, delta]

    def _on_text_block_end(self, ev: Any) -> list[Event]:
        index = self.text_parts.get(ev.block_id, -1)
        if self.text_msg is not None and index >= 0:
            part = self.text_msg.message.content[index]  # type: ignore[index]
            self.streamed.append(part.text or "")  # type: ignore[union-attr]
        return []

    def _on_thinking_block_start(self, _ev: Any) -> list[Event]:
        if self.reasoning is not None:
            return []
        self.reasoning, events = self.builder.open_message(type=MessageType.REASONING)
        self.text_msg = None  # opening a message completed it
        return events

    def _on_thinking_block_delta(self, ev: Any) -> list[Event]:
        events = self._on_thinking_block_start(ev)
        assert self.reasoning is not None
        return [*events, self.reasoning.text_delta(ev.delta)] if ev.delta else events

    def _on_thinking_block_end(self, _ev: Any) -> list[Event]:
        return self._close_reasoning()

    def _on_data_block_start(self, ev: Any) -> list[Event]:
        self.datas[ev.block_id] = _Data(ev.media_type, ev.name)
        return []

    def _on_data_block_delta(self, ev: Any) -> list[Event]:
        data = self.datas.setdefault(ev.block_id, _Data(ev.media_type, None))
        if ev.url is not None:
            data.url = ev.url
        else:
            data.data += ev.data or ""
        return []

    def _on_data_block_end(self, ev: Any) -> list[Event]:
        data = self.datas.pop(ev.block_id, None)
        if data is None:
            return []
        events = self._close_reasoning()
        if self.text_msg is None:
            self.text_msg, opened = self.builder.open_message()
            events += opened
        part = media_part(data.media_type, data.url, data.data or None, data.name)
        return [*events, *self.text_msg.add_content(part)]

    def _on_tool_call_start(self, ev: Any) -> list[Event]:
        self.calls[ev.tool_call_id] = _Call(ev.tool_call_name)
        return []

    def _on_tool_call_delta(self, ev: Any) -> list[Event]:
        call = self.calls.setdefault(ev.tool_call_id, _Call(""))
        call.arguments += ev.delta or ""
        return []

    def _on_model_call_end(self, ev: Any) -> list[Event]:
        usage = usage_dict(
            ev.input_tokens, ev.output_tokens, ev.cache_input_tokens, ev.cache_creation_input_tokens
        )
        for i, value in enumerate(
            (
                ev.input_tokens,
                ev.output_tokens,
                ev.cache_input_tokens,
                ev.cache_creation_input_tokens,
            )
        ):
            self.totals[i] += value
        self.saw_usage = True
        events = self._close_reasoning()
        if self.text_msg is not None:
            self.text_msg.message.usage = usage
            usage = None  # type: ignore[assignment]
            events += self._close_text()
        calls, self.calls = self.calls, {}
        for call_id, call in calls.items():
            kind, _, extra = call_kind(call.name)
            data = {"call_id": call_id, "name": call.name, "arguments": call.arguments, **extra}
            events += self._whole(kind, Role.ASSISTANT, [DataContent(data=data)], usage=usage)
            usage = None  # type: ignore[assignment]
        return events

    def _on_tool_result_start(self, ev: Any) -> list[Event]:
        self.results[ev.tool_call_id] = _Result(ev.tool_call_name)
        return []

    def _on_tool_result_text_delta(self, ev: Any) -> list[Event]:
        self.results.setdefault(ev.tool_call_id, _Result("")).text += ev.delta or ""
        return []

    def _on_tool_result_data_delta(self, ev: Any) -> list[Event]:
        result = self.results.setdefault(ev.tool_call_id, _Result(""))
        result.media.append(media_part(ev.media_type, ev.url, ev.data, None))
        return []

    def _on_tool_result_end(self, ev: Any) -> list[Event]:
        result = self.results.pop(ev.tool_call_id, _Result(""))
        _, kind, extra = call_kind(result.name)
        data = {"call_id": ev.tool_call_id, "name": result.name, "output": result.text, **extra}
        metadata = None if ev.state == "success" else {"tool_result_state": str(ev.state)}
        parts: list[Content] = [DataContent(data=data), *result.media]
        return [*self._close_text(), *self._whole(kind, Role.TOOL, parts, metadata=metadata)]

    def _on_require_user_confirm(self, ev: Any) -> list[Event]:
        calls = [{"call_id": c.id, "name": c.name, "arguments": c.input} for c in ev.tool_calls]
        lines = [f"Allow {c['name']} to run with {c['arguments'] or '{}'}?" for c in calls]
        question = "\n".join(lines) + "\nAnswer yes to allow, no to deny."
        return self._ask("user_confirmation_required", question, "REQUIRE_USER_CONFIRM", calls)

    def _on_require_external_execution(self, ev: Any) -> list[Event]:
        calls = [{"call_id": c.id, "name": c.name, "arguments": c.input} for c in ev.tool_calls]
        question = "\n".join(ask_text(c["name"], c["arguments"]) for c in calls)
        return self._ask("user_input_required", question, "REQUIRE_EXTERNAL_EXECUTION", calls)

    def _final(self, msg: Any) -> list[Event]:
        """The final ``Msg`` of a reply: its text goes out if no event streamed it."""
        self.finals += 1
        events = [*self._close_reasoning(), *self._close_text()]
        if self.parked:  # its text only says it is waiting: the question said it better
            return events
        texts = [b.text for b in getattr(msg, "content", ()) if getattr(b, "type", "") == "text"]
        unsent = [t for t in texts if t and t not in self.streamed]
        if unsent:
            usage = getattr(msg, "usage", None)
            if usage is not None and not self.saw_usage:
                self.totals = [usage.input_tokens, usage.output_tokens, 0, 0]
                self.saw_usage = True
            events += self._whole(
                MessageType.MESSAGE, Role.ASSISTANT, [TextContent(text=t) for t in unsent]
            )
        if self.ended is None and getattr(msg, "finished_reason", None) is None:
            # parked with no question we recognised: still say that it is waiting
            text = "\n".join(texts) or "The agent is waiting for input."
            self.parked.append(("user_input_required", text))
        return events

    # -- the end ---------------------------------------------------------------------------
    def finish(self) -> list[Event]:
        """Close what is open; end ``incomplete`` when parked, raise when agentscope failed."""
        events = [*self._close_reasoning(), *self._close_text()]
        if self.saw_usage:
            self.builder.response.usage = usage_dict(*self.totals)
        ended = self.ended
        if ended is not None and str(ended.finished_reason) == "error":
            info = ended.error
            raise AgentScopeError(
                str(getattr(info, "type", "unknown")),
                getattr(info, "message", None) or "the agent's reply ended with an error",
            )
        if self.parked:
            code = self.parked[0][0]
            message = "\n".join(question for _, question in self.parked)
            events += self.builder.finish(RunStatus.Incomplete, Error(code=code, message=message))
        elif ended is not None and str(ended.finished_reason) == "interrupted":
            error = Error(code="interrupted", message="the agent's reply was interrupted")
            events += self.builder.finish(RunStatus.Incomplete, error)
        return events

    # -- helpers ---------------------------------------------------------------------------
    def _ask(self, code: str, question: str, event: str, calls: list[dict]) -> list[Event]:
        self.parked.append((code, question))
        data = {"event": event, "tool_calls": calls}
        parts: list[Content] = [TextContent(text=question), DataContent(data=data)]
        return [*self._close_text(), *self._whole(MessageType.MESSAGE, Role.ASSISTANT, parts)]

    def _whole(
        self,
        kind: str,
        role: str,
        parts: list[Content],
        *,
        usage: dict | None = None,
        metadata: dict | None = None,
    ) -> list[Event]:
        events = [*self._close_reasoning(), *self._close_text()]
        fields: dict[str, Any] = {}
        if metadata:
            fields["metadata"] = metadata
        mb, opened = self.builder.open_message(role=role, type=kind, **fields)
        events += opened
        for part in parts:
            events += mb.add_content(part)
        mb.message.usage = usage
        return [*events, *mb.complete()]

    def _close_text(self) -> list[Event]:
        mb, self.text_msg = self.text_msg, None
        self.text_parts = {}
        if mb is None or self.builder.current is not mb:
            return []
        return mb.complete()

    def _close_reasoning(self) -> list[Event]:
        mb, self.reasoning = self.reasoning, None
        if mb is None or self.builder.current is not mb:
            return []
        return mb.complete()


@contextlib.contextmanager
def report_calls() -> Iterator[Callable[[Any], None]]:
    """``report(item)`` for each item of a reply: agentscope's own model calls and tool runs,
    told to the turn's call hooks (``calls.ReportedCalls``: counted, budgeted, traced).

    ``MODEL_CALL_START`` .. ``MODEL_CALL_END`` (its tokens) is one model call and
    ``TOOL_RESULT_START`` .. ``TOOL_RESULT_END`` one tool run. agentscope yields both
    starts before it makes the call, so a budget that refuses one (raising from
    ``report``) stops the reply before the request is sent or the tool runs.
    """
    reported = ReportedCalls()
    arguments: dict[str, str] = {}  # tool call id -> its arguments, from the call's deltas
    results: dict[str, str] = {}  # tool call id -> its result text so far

    def report(item: Any) -> None:
        kind = getattr(item, "type", None)
        if kind == "MODEL_CALL_START":
            reported.model_started(str(item.model_name or "unknown"), provider="agentscope")
        elif kind == "MODEL_CALL_END":
            reported.model_ended(int(item.input_tokens or 0), int(item.output_tokens or 0))
        elif kind == "TOOL_CALL_DELTA":
            arguments[item.tool_call_id] = arguments.get(item.tool_call_id, "") + (item.delta or "")
        elif kind == "TOOL_RESULT_START":
            call_id = item.tool_call_id
            reported.tool_started(call_id, item.tool_call_name, arguments.pop(call_id, ""))
        elif kind == "TOOL_RESULT_TEXT_DELTA":
            results[item.tool_call_id] = results.get(item.tool_call_id, "") + (item.delta or "")
        elif kind == "TOOL_RESULT_END":
            failed = str(item.state) != "success"
            reported.tool_ended(item.tool_call_id, results.pop(item.tool_call_id, ""), failed)

    try:
        yield report
    finally:
        reported.close()
