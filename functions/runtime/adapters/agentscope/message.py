"""Protocol messages <-> agentscope ``Msg`` objects, for the installed agentscope major.

Inbound (a request's ``input``, or stored history, to ``Msg``):

==========================================  ==============================================
protocol                                    agentscope
==========================================  ==============================================
``message`` text / refusal / data parts     text blocks (a data part as its JSON)
``image`` / ``audio`` / ``video`` parts     2.x ``DataBlock``; 1.x ``ImageBlock`` /
                                            ``AudioBlock`` / ``VideoBlock``
``file`` part                               2.x ``DataBlock`` (named); 1.x a text block
                                            naming the file (1.x has no file block)
``reasoning`` message                       ``ThinkingBlock``
``function_call`` / ``plugin_call`` /       a tool-use block: 2.x ``ToolCallBlock``
``mcp_call`` ``{call_id, name, arguments}``   (``input`` the JSON string); 1.x
                                            ``ToolUseBlock`` (``input`` the parsed object)
``*_output`` ``{call_id, name, output}``    a ``ToolResultBlock``; its ``Msg`` has role
                                            ``assistant`` in 2.x, ``system`` in 1.x (where
                                            each major's own agents put tool results)
==========================================  ==============================================

A URL that is a ``data:`` URI becomes a base64 source, any other a URL source. Roles other
than user/assistant/system become the role each major gives tool results.

Outbound (1.x ``Msg`` to protocol messages, for ``AgentScopeSessionHistoryMemory``): one
protocol message per kind of block, each carrying the ``Msg``'s identity in
``metadata["agentscope"]`` (``msg_id``, ``name``, ``role``, ``marks``, ``timestamp``), so
inbound conversion regroups consecutive messages of one ``Msg`` into it again.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any, cast

from ...protocol import (
    CALL_TYPES,
    OUTPUT_TYPES,
    AgentContent,
    AgentRole,
    AudioContent,
    Content,
    DataContent,
    FileContent,
    ImageContent,
    Message,
    MessageType,
    RunStatus,
    TextContent,
    VideoContent,
)
from .version import major

META_KEY = "agentscope"  # where a stored message keeps the identity of its Msg


def _source(url: str | None, data: str | None, media_type: str) -> tuple[str, str, str] | None:
    """``(kind, payload, media_type)``: ``("base64", data, type)`` or ``("url", url, type)``."""
    if url and url.startswith("data:") and "," in url:
        header, payload = url[5:].split(",", 1)
        declared = header.split(";")[0]
        return "base64", payload, declared or media_type
    if url:
        return "url", url, mimetypes.guess_type(url)[0] or media_type
    if data:
        return "base64", data, media_type
    return None


def _media(part: Content) -> tuple[str, tuple[str, str, str] | None, str | None]:
    """A media part as ``(kind, source, name)``; kind is image, audio, video or file."""
    if isinstance(part, ImageContent):
        return "image", _source(part.image_url, None, "image/png"), None
    if isinstance(part, AudioContent):
        fmt = (part.format or "wav").lower()
        return "audio", _source(None, part.data, f"audio/{fmt}"), None
    if isinstance(part, VideoContent):
        return "video", _source(part.video_url, None, "video/mp4"), None
    assert isinstance(part, FileContent)
    guessed = mimetypes.guess_type(part.filename or "")[0] or "application/octet-stream"
    return "file", _source(part.file_url, part.file_data, guessed), part.filename


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value or {}, ensure_ascii=False)


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a list of text parts, as our adapters may store them
        texts = [p.get("text", "") for p in value if isinstance(p, dict) and "text" in p]
        if len(texts) == len(value):
            return "".join(texts)
    return json.dumps(value, ensure_ascii=False, default=str)


class _Blocks:
    """Builds one major's blocks and messages from plain values."""

    tool_result_role = "assistant"

    def text(self, text: str) -> Any:
        raise NotImplementedError

    def thinking(self, text: str) -> Any:
        raise NotImplementedError

    def media(self, kind: str, source: tuple[str, str, str], name: str | None) -> Any:
        raise NotImplementedError

    def tool_use(self, call_id: str, name: str, arguments: str) -> Any:
        raise NotImplementedError

    def tool_result(self, call_id: str, name: str, output: str) -> Any:
        raise NotImplementedError

    def msg(self, name: str, role: str, blocks: list[Any], identity: dict[str, Any]) -> Any:
        raise NotImplementedError


class _V2(_Blocks):
    def __init__(self) -> None:
        from agentscope import message

        self.m: Any = message

    def text(self, text: str) -> Any:
        return self.m.TextBlock(text=text)

    def thinking(self, text: str) -> Any:
        return self.m.ThinkingBlock(thinking=text)

    def media(self, kind: str, source: tuple[str, str, str], name: str | None) -> Any:
        how, payload, media_type = source
        if how == "base64":
            src = self.m.Base64Source(data=payload, media_type=media_type)
        else:
            src = self.m.URLSource(url=payload, media_type=media_type)
        return self.m.DataBlock(source=src, name=name)

    def tool_use(self, call_id: str, name: str, arguments: str) -> Any:
        return self.m.ToolCallBlock(
            id=call_id, name=name, input=arguments, state=self.m.ToolCallState.FINISHED
        )

    def tool_result(self, call_id: str, name: str, output: str) -> Any:
        return self.m.ToolResultBlock(
            id=call_id, name=name, output=output, state=self.m.ToolResultState.SUCCESS
        )

    def msg(self, name: str, role: str, blocks: list[Any], identity: dict[str, Any]) -> Any:
        fields: dict[str, Any] = {"name": name, "role": role, "content": blocks}
        if identity.get("msg_id"):
            fields["id"] = identity["msg_id"]
        return self.m.Msg(**fields)


class _V1(_Blocks):
    tool_result_role = "system"
    _KINDS = {"image": "image", "audio": "audio", "video": "video"}

    def __init__(self) -> None:
        from agentscope.message import Msg

        self.Msg: Any = Msg  # agentscope 1.x's (the type checker sees the installed 2.x)

    def text(self, text: str) -> Any:
        return {"type": "text", "text": text}

    def thinking(self, text: str) -> Any:
        return {"type": "thinking", "thinking": text}

    def media(self, kind: str, source: tuple[str, str, str], name: str | None) -> Any:
        how, payload, media_type = source
        if kind not in self._KINDS:  # 1.x has no file block: tell the model where it is
            where = payload if how == "url" else f"{len(payload)} base64 characters"
            return self.text(f"[file {name or ''} ({media_type}): {where}]")
        if how == "base64":
            src = {"type": "base64", "media_type": media_type, "data": payload}
        else:
            src = {"type": "url", "url": payload}
        return {"type": self._KINDS[kind], "source": src}

    def tool_use(self, call_id: str, name: str, arguments: str) -> Any:
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            parsed = {}
        return {
            "type": "tool_use",
            "id": call_id,
            "name": name,
            "input": parsed if isinstance(parsed, dict) else {},
            "raw_input": arguments,
        }

    def tool_result(self, call_id: str, name: str, output: str) -> Any:
        return {
            "type": "tool_result",
            "id": call_id,
            "name": name,
            "output": [{"type": "text", "text": output}],
        }

    def msg(self, name: str, role: str, blocks: list[Any], identity: dict[str, Any]) -> Any:
        msg = self.Msg(name, blocks, role, timestamp=identity.get("timestamp"))
        if identity.get("msg_id"):
            msg.id = identity["msg_id"]
        return msg


def _blocks_for() -> _Blocks:
    return _V1() if major() == 1 else _V2()


def _as_message(item: Any) -> Message:
    return item if isinstance(item, Message) else Message.model_validate(item)


def _blocks_of(msg: Message, b: _Blocks) -> list[Any]:
    blocks: list[Any] = []
    kind = msg.type or MessageType.MESSAGE
    for part in msg.content or ():
        data = part.data if isinstance(part, DataContent) else None
        if kind in CALL_TYPES and isinstance(data, dict):
            blocks.append(
                b.tool_use(
                    str(data.get("call_id") or ""),
                    str(data.get("name") or ""),
                    _arguments(data.get("arguments")),
                )
            )
        elif kind in OUTPUT_TYPES and isinstance(data, dict):
            blocks.append(
                b.tool_result(
                    str(data.get("call_id") or ""),
                    str(data.get("name") or ""),
                    _output_text(data.get("output")),
                )
            )
        elif isinstance(part, TextContent):
            if kind == MessageType.REASONING:
                blocks.append(b.thinking(part.text or ""))
            else:
                blocks.append(b.text(part.text or ""))
        elif isinstance(part, DataContent):
            blocks.append(b.text(json.dumps(part.data, ensure_ascii=False, default=str)))
        elif isinstance(part, (ImageContent, AudioContent, VideoContent, FileContent)):
            media_kind, source, name = _media(part)
            if source is not None:
                blocks.append(b.media(media_kind, source, name))
        elif getattr(part, "refusal", None):
            blocks.append(b.text(str(getattr(part, "refusal", ""))))
    return blocks


def _role(msg: Message, b: _Blocks) -> str:
    if msg.type in OUTPUT_TYPES or msg.role not in ("user", "assistant", "system"):
        return b.tool_result_role
    return msg.role


def to_msgs(messages: list[Any]) -> list[Any]:
    """Protocol messages (models or their dicts) -> ``Msg`` objects of the installed major.

    Consecutive messages stored from one ``Msg`` (same ``metadata.agentscope.msg_id``)
    become that ``Msg`` again; messages with no content the agent can read are dropped.
    """
    b = _blocks_for()
    out: list[Any] = []
    group: dict[str, Any] | None = None
    for item in messages:
        msg = _as_message(item)
        identity = dict((msg.metadata or {}).get(META_KEY) or {})
        blocks = _blocks_of(msg, b)
        if not blocks:
            continue
        msg_id = identity.get("msg_id")
        if group is not None and msg_id and group["identity"].get("msg_id") == msg_id:
            group["blocks"].extend(blocks)
            continue
        group = {
            "name": identity.get("name") or msg.role or "user",
            "role": identity.get("role") or _role(msg, b),
            "blocks": blocks,
            "identity": identity,
        }
        out.append(group)
    return [b.msg(g["name"], g["role"], g["blocks"], g["identity"]) for g in out]


def v1_records(msg: Any, marks: list[str]) -> list[dict[str, Any]]:
    """An agentscope 1.x ``Msg`` as protocol message dicts (see the module docstring)."""
    identity = {
        "msg_id": msg.id,
        "name": msg.name,
        "role": msg.role,
        "marks": list(marks),
        "timestamp": msg.timestamp,
    }
    content = msg.content
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    role = cast(AgentRole, msg.role if msg.role in ("user", "assistant", "system") else "assistant")
    records: list[Message] = []
    parts: list[AgentContent] = []

    def flush() -> None:
        if parts:
            records.append(Message(role=role, content=list(parts)))
            parts.clear()

    for block in content:
        kind = block.get("type")
        if kind == "text":
            parts.append(TextContent(text=block.get("text", "")))
        elif kind == "thinking":
            flush()
            text = TextContent(text=block.get("thinking", ""))
            records.append(Message(role="assistant", type=MessageType.REASONING, content=[text]))
        elif kind in ("tool_use", "tool_result"):
            flush()
            records.append(v1_tool_message(block))
        elif kind in ("image", "audio", "video"):
            parts.append(v1_media(kind, block.get("source") or {}))
    flush()
    out = []
    for record in records:
        record.status = RunStatus.Completed
        record.metadata = {META_KEY: identity}
        out.append(record.model_dump(mode="json", exclude_none=True))
    return out


def v1_tool_message(block: dict[str, Any], **fields: Any) -> Message:
    """A 1.x ``tool_use`` block as a ``plugin_call`` message ``{call_id, name, arguments}``,
    a ``tool_result`` block as a ``plugin_call_output`` one ``{call_id, name, output}``."""
    data = {"call_id": block.get("id", ""), "name": block.get("name", "")}
    if block.get("type") == "tool_use":
        data["arguments"] = block.get("raw_input") or json.dumps(
            block.get("input") or {}, ensure_ascii=False
        )
        kind, role = MessageType.PLUGIN_CALL, "assistant"
    else:
        data["output"] = _v1_output_text(block.get("output"))
        kind, role = MessageType.PLUGIN_CALL_OUTPUT, "tool"
    return Message(
        role=cast(AgentRole, role), type=kind, content=[DataContent(data=data)], **fields
    )


def _v1_output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(b.get("text", "") for b in output if isinstance(b, dict))
    return str(output)


def v1_media(kind: str, source: dict[str, Any]) -> AgentContent:
    if source.get("type") == "base64":
        media_type = source.get("media_type", "")
        url = f"data:{media_type};base64,{source.get('data', '')}"
        if kind == "audio":
            return AudioContent(data=source.get("data", ""), format=media_type.split("/")[-1])
    else:
        url = source.get("url", "")
    if kind == "image":
        return ImageContent(image_url=url)
    if kind == "video":
        return VideoContent(video_url=url)
    return AudioContent(data=url)
