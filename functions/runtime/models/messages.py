"""Protocol messages (the seed's shape, live or from stored history) -> OpenAI chat messages.

Content parts map to OpenAI chat's parts (the shapes of ``POST /chat/completions``):

========== ================================================================================
protocol   chat
========== ================================================================================
text       ``{"type": "text", "text"}`` (a user message of only text: one string)
data       its JSON as text
refusal    its text (an assistant's refusal)
image      ``{"type": "image_url", "image_url": {"url"}}`` (user messages)
audio      ``{"type": "input_audio", "input_audio": {"data", "format"}}`` (user messages):
           ``data`` base64, or a ``data:audio/<format>;base64,`` URL; ``format`` given or
           read from that URL (``audio/mpeg`` is ``mp3``)
file       ``{"type": "file", "file": {"file_data", "filename"}}`` or ``{"file_id"}``
           (user messages); a file known only by ``file_url`` cannot be sent
video      none: chat has no video input
========== ================================================================================

A part with no chat form (a video, a file known only by URL, an image outside a user
message...) is :class:`UnsupportedContent`: :func:`check_chat_input` raises it for a
request's input (an app registers it with ``AgentApp.input_check``, so the caller gets a
422 naming the part before anything runs or is stored), while :func:`to_openai_messages`
turns such a part of the *history* into a short text note, so a stored session never makes
every later turn fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidRequest
from ..protocol import CALL_TYPES, OUTPUT_TYPES, unnamed_call_fields

_CHAT_ROLES = ("user", "assistant", "system")
# what a data URL's audio subtype is called in ``input_audio.format``
_AUDIO_FORMATS = {"mpeg": "mp3", "x-wav": "wav", "wave": "wav"}


class UnsupportedContent(InvalidRequest):
    """A content part the model's chat format cannot carry (HTTP 422); ``detail`` names it."""

    code = "unsupported_content"


def _as_dict(msg: Any) -> dict[str, Any]:
    if hasattr(msg, "model_dump"):
        return msg.model_dump(mode="json", exclude_none=True)
    return msg


def _audio(part: dict[str, Any]) -> dict[str, Any]:
    data, fmt = part.get("data") or "", part.get("format") or ""
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        mime, _, encoding = header[len("data:") :].partition(";")
        if encoding != "base64" or not mime.startswith("audio/"):
            raise UnsupportedContent("an audio part's data URL must be data:audio/<format>;base64")
        subtype = mime[len("audio/") :]
        fmt = fmt or _AUDIO_FORMATS.get(subtype, subtype)
    elif "://" in data:
        raise UnsupportedContent("an audio part reaches the model as base64 data, not a URL")
    if not data or not fmt:
        raise UnsupportedContent("an audio part needs base64 data and its format (wav, mp3)")
    return {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}


def _file(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("file_data"):
        file = {"file_data": part["file_data"]}
        if part.get("filename"):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if part.get("file_id"):
        return {"type": "file", "file": {"file_id": part["file_id"]}}
    raise UnsupportedContent(
        "a file part reaches the model as file_data or file_id; file_url cannot be sent"
    )


def _part(part: dict[str, Any], role: str) -> dict[str, Any]:
    """One content part as a chat part; ``UnsupportedContent`` when it has no chat form."""
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal") or ""}
    if kind == "data":
        return {"type": "text", "text": json.dumps(part.get("data"), ensure_ascii=False)}
    if kind not in ("image", "audio", "file", "video"):
        raise UnsupportedContent(f"a {kind!r} part has no chat form")
    if role != "user":
        raise UnsupportedContent(f"a {kind} part can only be sent in a user message")
    if kind == "image":
        if not part.get("image_url"):
            raise UnsupportedContent("an image part needs image_url")
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    if kind == "audio":
        return _audio(part)
    if kind == "file":
        return _file(part)
    raise UnsupportedContent("a video part cannot be sent: chat has no video input")


def _content(parts: list[dict[str, Any]], role: str) -> str | list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        try:
            out.append(_part(part, role))
        except UnsupportedContent as exc:  # stored history: say what was there, never fail
            out.append({"type": "text", "text": f"[{part.get('type')} part not shown: {exc}]"})
    if role != "user" or all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def check_chat_input(messages: Iterable[Any]) -> None:
    """Refuse input a chat model cannot be given: ``UnsupportedContent`` (422) naming the
    first such part as ``input[i].content[j]``. Register with ``AgentApp.input_check``."""
    for i, msg in enumerate(_as_dict(m) for m in messages):
        if msg.get("type", "message") != "message" or msg.get("role") not in _CHAT_ROLES:
            continue
        for j, part in enumerate(msg.get("content") or ()):
            try:
                _part(part, msg["role"])
            except UnsupportedContent as exc:
                raise UnsupportedContent(f"input[{i}].content[{j}]: {exc.detail}") from None


def _call(data: dict[str, Any]) -> dict[str, Any]:
    arguments = data.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": data["call_id"],
        "type": "function",
        "function": {"name": data["name"], "arguments": arguments},
    }


def _output(data: dict[str, Any]) -> dict[str, Any]:
    output = data.get("output", "")
    if not isinstance(output, str):
        output = json.dumps(output, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": data["call_id"], "content": output}


class _Calls:
    """The open run of tool calls: the assistant message carrying them and their answers.

    Chat APIs want every call of an assistant message answered by a ``tool`` message right
    after it, and every ``tool`` message to answer a call of the assistant message before
    it. So an output joins the run only if it answers one of the run's calls (once), and
    when the run closes the calls left unanswered are taken off the message.
    """

    def __init__(self, message: dict[str, Any], out: list[dict[str, Any]]) -> None:
        self.message, self.out = message, out
        self.answered: set[str] = set()

    def ids(self) -> set[str]:
        return {c["id"] for c in self.message["tool_calls"]}

    def close(self) -> None:
        calls = [c for c in self.message["tool_calls"] if c["id"] in self.answered]
        if calls:
            self.message["tool_calls"] = calls
            return
        del self.message["tool_calls"]
        if not self.message.get("content"):  # only its calls made it: nothing is left
            for i in range(len(self.out) - 1, -1, -1):
                if self.out[i] is self.message:  # by identity: an equal message may precede
                    del self.out[i]
                    break


def to_openai_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Convert history + input to chat messages a chat-completions endpoint accepts.

    Tool calls become an assistant message's ``tool_calls`` (merged with the assistant text
    just before them) and their outputs ``tool`` messages. What a chat API would reject is
    left out: a call with no output (a turn cut off mid-call) is dropped, and so is an
    output whose call is not the assistant message right before it (its call was never
    recorded, or a user message came between them) - an orphan output is dropped, not
    converted, since any text made of it would read as something the model said.
    Content parts map as the module's table says; one with no chat form becomes a text
    note (check the request's input with :func:`check_chat_input` to refuse it instead).
    """
    out: list[dict[str, Any]] = []
    run: _Calls | None = None
    for msg in (_as_dict(m) for m in messages):
        kind = msg.get("type", "message")
        data = [
            part["data"]
            for part in msg.get("content") or ()
            # history stored before input was checked (protocol.check_request) may hold
            # calls no model could be sent: left out, as a call never answered is
            if isinstance(part.get("data"), dict) and not unnamed_call_fields(part["data"], kind)
        ]
        if kind in OUTPUT_TYPES:
            for item in data:
                call_id = item["call_id"]
                if run is not None and call_id in run.ids() - run.answered:
                    run.answered.add(call_id)
                    out.append(_output(item))
            continue
        if kind in CALL_TYPES:
            calls = [_call(item) for item in data]
            if not calls:
                continue
            last = out[-1] if out else None
            if run is not None and last is run.message:
                last.setdefault("tool_calls", []).extend(calls)  # parallel calls
                continue
            if run is not None:
                run.close()
            if last is not None and last["role"] == "assistant" and "tool_calls" not in last:
                last["tool_calls"] = calls
                run = _Calls(last, out)
            else:
                message = {"role": "assistant", "content": None, "tool_calls": calls}
                out.append(message)
                run = _Calls(message, out)
            continue
        if kind != "message" or msg.get("role") not in _CHAT_ROLES:
            continue
        content = _content(msg.get("content") or [], msg["role"])
        if msg["role"] == "assistant" and not content:
            continue
        if run is not None:
            run.close()
            run = None
        out.append({"role": msg["role"], "content": content})
    if run is not None:
        run.close()
    return out
