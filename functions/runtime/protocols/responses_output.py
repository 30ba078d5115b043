"""A turn's events (the seed's protocol) as OpenAI Responses API objects and stream events.

Event order and required fields are those the official ``openai`` client parses, its
``responses.stream()`` helper included (openai 3.x; see that helper's checks: the first
event is ``response.created``, every lifecycle event carries the same response id, content
events follow their item's ``output_item.added``, an item keeps its type and id when done,
and a successful stream ends with ``response.completed``)::

    response.created -> response.in_progress
    per assistant message: output_item.added(message) -> (content_part.added ->
        output_text.delta* -> output_text.done -> content_part.done)* -> output_item.done
    per client function call: output_item.added(function_call) ->
        function_call_arguments.delta -> function_call_arguments.done -> output_item.done
    per server-run tool call (plugin_call / mcp_call): output_item.added(mcp_call) ->
        mcp_call_arguments.done -> mcp_call.in_progress ... its output arrives ->
        mcp_call.completed -> output_item.done(mcp_call with output)
    response.completed | response.failed | response.incomplete

Server-run tools are ``mcp_call`` items: the client parses them and, unlike
``function_call``, never takes them for calls it must answer. A stopped turn ends with
``response.incomplete`` whose response has status ``cancelled`` (the Responses API's
spelling); a cut-off one (``incomplete``) the same with status ``incomplete``, its
``error`` ``{code, message}`` saying why and ``incomplete_details.reason`` the Responses
API's ``max_output_tokens`` for ``TURN_MAX_OUTPUT_TOKENS``, else that error's code
(``budget_exceeded``, ``deadline_exceeded``, ``user_confirmation_required``...).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic_core import to_json

from ..budgets import exceeded_budget
from ..protocol import OUTPUT_TYPES, Content, Error, Message, MessageType, Response, RunStatus
from ..sse import frame
from .translator import EventTranslator

_CLIENT_CALLS = (MessageType.FUNCTION_CALL,)
_SERVER_CALLS = (MessageType.PLUGIN_CALL, MessageType.MCP_TOOL_CALL)
_STATUS = {RunStatus.Canceled: "cancelled"}
_FRAME_HEADS: dict[str, bytes] = {}  # event type -> its frame up to its data
_FINAL_EVENT = {
    RunStatus.Completed: "response.completed",
    RunStatus.Failed: "response.failed",
    RunStatus.Canceled: "response.incomplete",
    RunStatus.Incomplete: "response.incomplete",
}


def usage_object(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Our ``{input_tokens, output_tokens}`` as the Responses API's usage object."""
    if not usage:
        return None
    inputs, outputs = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {
        "input_tokens": inputs,
        "input_tokens_details": {
            "cached_tokens": int(usage.get("cached_tokens", 0)),
            "cache_write_tokens": int(usage.get("cache_write_tokens", 0)),
        },
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": int(usage.get("reasoning_tokens", 0))},
        "total_tokens": int(usage.get("total_tokens", inputs + outputs)),
    }


class ResponsesStream(EventTranslator[dict[str, Any]]):
    """Feeds on a turn's events; yields Responses stream events and builds the Response.

    ``fields`` are the request's echoed fields (``model``, ``instructions``, ``tools``,
    ``metadata``, ``previous_response_id``, ``store``, ...); ``server_label`` names the
    agent on ``mcp_call`` items.
    """

    def __init__(self, response_id: str, fields: dict[str, Any], server_label: str) -> None:
        self.id = response_id
        self.fields = fields
        self.server_label = server_label
        self.created_at = int(time.time())
        self.status = "in_progress"
        self.error: dict[str, Any] | None = None
        self.incomplete: dict[str, Any] | None = None  # incomplete_details
        self.usage: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.items: list[dict[str, Any]] = []  # output, by output_index
        self._open: dict[str, int] = {}  # protocol message id -> index (message, reasoning)
        self._parts: dict[tuple[str, int], int] = {}  # (message id, part index) -> content index
        self._pending: dict[str, int] = {}  # call id -> index of an mcp_call awaiting output
        self._done: set[int] = set()
        self._seq = 0
        self.final: dict[str, Any] | None = None
        self._final_events: list[dict[str, Any]] = []
        # the Response object last encoded and its JSON: the same object goes out in
        # created and in_progress, the final one in its event and in the response store
        self._encoded: tuple[dict[str, Any], bytes] | None = None

    # -- objects ---------------------------------------------------------------------------

    def response(self) -> dict[str, Any]:
        """The Response object as it stands."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "output": [dict(item) for item in self.items],
            "usage": self.usage,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "background": False,
            **self.fields,
        }
        if self.session_id is not None:
            body["session_id"] = self.session_id  # ours: continue it on /process too
        return body

    def encode_response(self, response: dict[str, Any]) -> bytes:
        """A Response object this stream built as compact UTF-8 JSON, encoded once however
        often it is sent or stored (a Response object is not changed once built, but by
        ``_settle``, which forgets its JSON)."""
        cached = self._encoded
        if cached is not None and (cached[0] is response or cached[0] == response):
            return cached[1]
        data = to_json(response)
        self._encoded = (response, data)
        return data

    def encode(self, event: dict[str, Any]) -> bytes:
        """A stream event as compact UTF-8 JSON (pydantic-core's encoder, several times
        quicker than ``json``'s here), the Response object a lifecycle event carries (its
        last field) encoded once."""
        response = event.get("response")
        if response is None or next(reversed(event)) != "response":
            return to_json(event)
        head = to_json({k: v for k, v in event.items() if k != "response"})
        return head[:-1] + b',"response":' + self.encode_response(response) + b"}"

    def frames(self, events: list[dict[str, Any]]) -> bytes:
        """Stream events as SSE frames, each named by its type (``event: <type>``, then
        ``data: <json>``; compact JSON is one line: it escapes every line break)."""
        out: list[bytes] = []
        for event in events:
            kind = event["type"]
            head = _FRAME_HEADS.get(kind)
            if head is None:
                head = _FRAME_HEADS[kind] = frame(b"", event=kind)[:-2]  # up to the data
            out += (head, self.encode(event), b"\n\n")
        return b"".join(out)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    # -- translation -----------------------------------------------------------------------

    def _response(self, event: Response) -> list[dict[str, Any]]:
        self.session_id = event.session_id
        if event.status == RunStatus.Created:
            return [self._event("response.created", response=self.response())]
        if event.status == RunStatus.InProgress:
            return [self._event("response.in_progress", response=self.response())]
        if event.status not in RunStatus.FINAL:
            return []
        status = event.status or RunStatus.Completed
        if self.final is not None:  # built already (the recorder saw it before persisting)
            return self._settle(status, event)
        events = self._close_pending()
        self.status = _STATUS.get(status, status)
        self.usage = usage_object(event.usage)
        if event.error is not None:
            self.error = {"code": event.error.code, "message": event.error.message}
        if status == RunStatus.Incomplete:
            self.incomplete = incomplete_details(event.error)
        self.final = self.response()
        kind = _FINAL_EVENT.get(status, "response.completed")
        events.append(self._event(kind, response=self.final))
        self._final_events = events
        return events

    def _settle(self, status: str, event: Response) -> list[dict[str, Any]]:
        """The final events again; turned into ``response.failed`` if the turn could not be
        saved after they were built."""
        assert self.final is not None
        if _STATUS.get(status, status) != self.final["status"]:
            self._encoded = None  # the final object changes in place
            self.status = self.final["status"] = _STATUS.get(status, status)
            if event.error is not None:
                self.error = {"code": event.error.code, "message": event.error.message}
                self.final["error"] = self.error
            if status != RunStatus.Incomplete:
                self.incomplete = self.final["incomplete_details"] = None
            self._final_events[-1]["type"] = _FINAL_EVENT.get(status, "response.completed")
        return self._final_events

    def _add(self, item: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.items.append(item)
        index = len(self.items) - 1
        return index, self._event("response.output_item.added", output_index=index, item=item)

    def _item_done(self, index: int, status: str) -> dict[str, Any]:
        item = self.items[index]
        item["status"] = status
        self._done.add(index)
        return self._event("response.output_item.done", output_index=index, item=dict(item))

    def _message(self, msg: Message) -> list[dict[str, Any]]:
        opening = msg.status == RunStatus.InProgress
        if msg.type == MessageType.MESSAGE and msg.role == "assistant":
            if opening:
                item = {
                    "id": msg.id,
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                }
                index, added = self._add(item)
                self._open[msg.id] = index
                return [added]
            return self._close(msg)
        if msg.type == MessageType.REASONING:
            if opening:
                item = {
                    "id": msg.id,
                    "type": "reasoning",
                    "summary": [],
                    "content": [],
                    "status": "in_progress",
                }
                index, added = self._add(item)
                self._open[msg.id] = index
                return [added]
            return self._close(msg)
        if opening:
            return []  # calls and outputs are read whole from their completed message
        events: list[dict[str, Any]] = []
        for i, part in enumerate(msg.content or ()):
            data = getattr(part, "data", None)
            if not isinstance(data, dict):
                continue
            item_id = msg.id if i == 0 else f"{msg.id}_{i}"
            if msg.type in _CLIENT_CALLS:
                events += self._function_call(item_id, data)
            elif msg.type in _SERVER_CALLS:
                events += self._server_call(item_id, data)
            elif msg.type in OUTPUT_TYPES:
                events += self._server_output(item_id, data)
        return events

    def _close(self, msg: Message) -> list[dict[str, Any]]:
        index = self._open.pop(msg.id, None)
        if index is None:
            return []
        status = "completed" if msg.status == RunStatus.Completed else "incomplete"
        return [self._item_done(index, status)]

    def _function_call(self, item_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        arguments = _arguments(data.get("arguments"))
        item = {
            "id": item_id,
            "type": "function_call",
            "call_id": str(data.get("call_id") or item_id),
            "name": str(data.get("name") or ""),
            "arguments": "",
            "status": "in_progress",
        }
        index, added = self._add(item)
        item["arguments"] = arguments
        where = {"item_id": item_id, "output_index": index}
        return [
            added,
            self._event("response.function_call_arguments.delta", **where, delta=arguments),
            self._event(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=arguments,
            ),
            self._item_done(index, "completed"),
        ]

    def _server_call(self, item_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        arguments = _arguments(data.get("arguments"))
        item = {
            "id": item_id,
            "type": "mcp_call",
            "server_label": str(data.get("server_label") or self.server_label),
            "name": str(data.get("name") or ""),
            "arguments": arguments,
            "output": None,
            "error": None,
            "status": "in_progress",
        }
        index, added = self._add(item)
        self._pending[str(data.get("call_id") or item_id)] = index
        where = {"item_id": item_id, "output_index": index}
        return [
            added,
            self._event("response.mcp_call_arguments.done", **where, arguments=arguments),
            self._event("response.mcp_call.in_progress", **where),
        ]

    def _server_output(self, item_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        index = self._pending.pop(str(data.get("call_id") or ""), None)
        if index is None:  # an output whose call is not in this response: show it whole
            events = self._server_call(item_id, {**data, "arguments": ""})
            index = self._pending.pop(str(data.get("call_id") or item_id))
        else:
            events = []
        item = self.items[index]
        item["output"] = _text(data.get("output"))
        failed = bool(data.get("is_error"))
        if failed:
            item["error"] = item["output"]
        where = {"item_id": item["id"], "output_index": index}
        kind = "response.mcp_call.failed" if failed else "response.mcp_call.completed"
        events.append(self._event(kind, **where))
        events.append(self._item_done(index, "failed" if failed else "completed"))
        return events

    def _content(self, part: Content) -> list[dict[str, Any]]:
        msg_id = part.msg_id or ""
        index = self._open.get(msg_id)
        if index is None or part.index is None:
            return []
        item = self.items[index]
        reasoning = item["type"] == "reasoning"
        if part.type == "text":
            text = getattr(part, "text", None) or ""
            kind, key = ("reasoning_text", "text") if reasoning else ("output_text", "text")
        elif part.type == "refusal" and not reasoning:
            text = getattr(part, "refusal", None) or ""
            kind, key = "refusal", "refusal"
        else:
            return []  # data, images, files: no Responses output part for them here
        delta_event = f"response.{kind}.delta"
        done_event = f"response.{kind}.done"
        slot = (msg_id, part.index)
        events: list[dict[str, Any]] = []
        content_index = self._parts.get(slot)
        if content_index is None:
            empty: dict[str, Any] = {"type": kind, key: ""}
            if kind == "output_text":
                empty["annotations"] = []
            item["content"].append(empty)
            content_index = self._parts[slot] = len(item["content"]) - 1
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=content_index,
                    part=dict(empty),
                )
            )
        current = item["content"][content_index]
        where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        if part.delta:
            current[key] += text
            events.append(self._event(delta_event, **where, delta=text, **extra))
            return events
        if part.status != RunStatus.Completed:
            return events
        if text.startswith(current[key]) and len(text) > len(current[key]):
            # a whole part, or the rest of one: what was not streamed goes as one delta
            events.append(
                self._event(delta_event, **where, delta=text[len(current[key]) :], **extra)
            )
        current[key] = text
        events.append(self._event(done_event, **where, **{key: text}, **extra))
        events.append(self._event("response.content_part.done", **where, part=dict(current)))
        return events

    def _close_pending(self) -> list[dict[str, Any]]:
        """Items still open when the response ends (a call whose output never came)."""
        events = []
        for index in range(len(self.items)):
            if index not in self._done:
                events.append(self._item_done(index, "incomplete"))
        self._pending.clear()
        self._open.clear()
        return events


def incomplete_details(error: Error | None) -> dict[str, Any] | None:
    """Why an ``incomplete`` response stopped, as the Responses API's ``incomplete_details``."""
    if error is None:
        return None
    if exceeded_budget(error) == "TURN_MAX_OUTPUT_TOKENS":
        return {"reason": "max_output_tokens"}
    return {"reason": error.code}


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
