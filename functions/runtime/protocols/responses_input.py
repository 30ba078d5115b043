"""A Responses API request (``POST /responses``) as the ``AgentRequest`` a turn runs.

Fields follow OpenAI's ``response_create_params`` (openai 3.x): ``input`` (a string, or a
list of input items: messages whose ``content`` is a string or ``input_text`` /
``input_image`` / ``input_file`` parts, ``function_call`` and ``function_call_output``
items), ``instructions``, ``tools`` (function tools), ``tool_choice``, ``metadata``,
``previous_response_id``, ``store``, ``stream``, ``model``, ``temperature``, ``top_p``,
``max_output_tokens``. Two extensions name what the Responses API leaves to the server:
``user_id`` (act for a user, as on ``/process``) and ``session_id`` (run on that session).
Unknown fields are ignored, as the SDK sends many the agent has no use for; a feature we
cannot honour (``conversation``, a hosted tool, a file by id) is a 422 naming it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidRequest
from ..http_errors import field_errors
from ..protocol import (
    AgentContent,
    AgentRequest,
    AgentRole,
    DataContent,
    FileContent,
    ImageContent,
    Message,
    MessageType,
    RefusalContent,
    TextContent,
)
from ..storage.keys import validate_id


class ResponsesRequest(BaseModel):
    """The body of ``POST /compatible-mode/v1/responses``."""

    model_config = ConfigDict(extra="allow")

    input: str | list[dict[str, Any]]
    model: str | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    store: bool = True
    metadata: dict[str, str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    # strict: a boolean is no number (pydantic's lax mode reads true as 1)
    temperature: float | None = Field(default=None, strict=True)
    top_p: float | None = Field(default=None, strict=True)
    max_output_tokens: int | None = Field(default=None, ge=1, strict=True)
    conversation: Any = None
    user_id: str | None = None
    session_id: str | None = None

    @field_validator("session_id", "user_id")
    @classmethod
    def _valid_id(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else validate_id(value, info.field_name)


def _bad(loc: list[Any], msg: str) -> InvalidRequest:
    return InvalidRequest([{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])


def _string(item: dict[str, Any], key: str, loc: list[Any], *, required: bool = True) -> Any:
    """``item[key]`` when it is a non-empty string; None when it is absent or empty and
    not ``required``; ``InvalidRequest`` naming it otherwise: the OpenAI API types these
    fields as strings, and a value of another JSON type would reach the model, or the
    stored session, as nothing it could read."""
    value = item.get(key)
    if (value is None or value == "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad([*loc, key], f"{key} must be a non-empty string")
    return value


def _text_field(part: dict[str, Any], key: str, loc: list[Any]) -> str:
    value = part.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad([*loc, key], f"{key} must be a string")
    return value


_ROLES: dict[str, AgentRole] = {"user": "user", "assistant": "assistant", "system": "system"}


def _part(part: Any, loc: list[Any]) -> AgentContent:
    if not isinstance(part, dict):
        raise _bad(loc, "a content part is an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return TextContent(text=_text_field(part, "text", loc))
    if kind == "refusal":
        return RefusalContent(refusal=_text_field(part, "refusal", loc))
    if kind == "input_image":
        if not part.get("image_url"):
            raise _bad(loc, "input_image needs image_url (files by id are not supported)")
        return ImageContent(image_url=_string(part, "image_url", loc))
    if kind == "input_file":
        if not (part.get("file_data") or part.get("file_url")):
            raise _bad(loc, "input_file needs file_data or file_url (not file_id)")
        return FileContent(
            file_data=_string(part, "file_data", loc, required=False),
            file_url=_string(part, "file_url", loc, required=False),
            filename=_string(part, "filename", loc, required=False),
        )
    raise _bad(loc, f"unsupported content part type {kind!r}")


def _message(item: dict[str, Any], loc: list[Any]) -> Message:
    role = item.get("role")
    if role == "developer":  # the Responses API's name for instructions-like messages
        role = "system"
    if not isinstance(role, str) or role not in _ROLES:
        raise _bad([*loc, "role"], "role must be user, assistant, system or developer")
    content = item.get("content")
    if isinstance(content, str):
        parts: list[AgentContent] = [TextContent(text=content)]
    elif isinstance(content, list):
        parts = [_part(p, [*loc, "content", i]) for i, p in enumerate(content)]
    else:
        raise _bad([*loc, "content"], "content is a string or a list of parts")
    echoed = _echoed_id(item) if role == "assistant" else {}
    return Message(role=_ROLES[role], content=parts, status="completed", **echoed)


def _echoed_id(item: dict[str, Any]) -> dict[str, Any]:
    """An output item's own id, when the client sends one back: the message it names may
    be one its session holds (``echoes.py``). Only for what the agent said: a client's
    own messages keep ids of ours, never one it could reuse for another message."""
    value = item.get("id")
    return {"id": value} if isinstance(value, str) and value else {}


def _data_message(
    kind: str, role: AgentRole, data: dict[str, Any], echoed: dict[str, Any] | None = None
) -> Message:
    return Message(
        type=kind,
        role=role,
        content=[DataContent(data=data)],
        status="completed",
        **(echoed or {}),
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # output as content parts
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return json.dumps(value, ensure_ascii=False)


def _item(item: dict[str, Any], loc: list[Any]) -> list[Message]:
    """One input item as the protocol messages it stands for (none for reasoning)."""
    messages: list[Message] = []
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, loc))
    elif kind == "function_call_output":
        call_id = _string(item, "call_id", loc)
        data = {"call_id": call_id, "output": _text(item.get("output", ""))}
        messages.append(_data_message(MessageType.FUNCTION_CALL_OUTPUT, "tool", data))
    elif kind == "function_call":
        data = {
            "call_id": _string(item, "call_id", loc),
            "name": _string(item, "name", loc),
            "arguments": _text(item.get("arguments", "{}")),
        }
        messages.append(
            _data_message(MessageType.FUNCTION_CALL, "assistant", data, _echoed_id(item))
        )
    elif kind == "mcp_call":  # a server-run call the client sends back as context
        call_id, name = _string(item, "id", loc), _string(item, "name", loc)
        call = {"call_id": call_id, "name": name, "arguments": item.get("arguments") or ""}
        done = {"call_id": call_id, "name": name, "output": item.get("output") or ""}
        messages.append(_data_message(MessageType.PLUGIN_CALL, "assistant", call, _echoed_id(item)))
        messages.append(_data_message(MessageType.PLUGIN_CALL_OUTPUT, "tool", done))
    elif kind == "reasoning":
        pass  # the model's own notes: nothing for the agent to act on
    else:
        raise _bad([*loc, "type"], f"unsupported input item type {kind!r}")
    return messages


def input_messages(value: str | list[dict[str, Any]]) -> list[Message]:
    """``input`` as protocol messages (``InvalidRequest`` naming a bad item)."""
    if isinstance(value, str):
        return [Message(role="user", content=[TextContent(text=value)], status="completed")]
    messages: list[Message] = []
    for i, item in enumerate(value):
        loc: list[Any] = ["input", i]
        try:
            messages += _item(item, loc)
        except ValidationError as exc:  # a field of a type the protocol's models refuse
            errors = exc.errors(include_url=False, include_context=False)
            raise InvalidRequest(field_errors(errors, ("body", *loc))) from None
    return messages


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Responses function tools (``{type, name, description, parameters, strict}``) in the
    chat shape ``AgentRequest.tools`` carries (``{type, function: {...}}``)."""
    if not tools:
        return None
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _bad(
                ["tools", i, "type"],
                f"only function tools are supported, got {tool.get('type')!r}",
            )
        _string(tool, "name", ["tools", i])
        function = {k: tool[k] for k in ("name", "description", "parameters") if k in tool}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: str | dict[str, Any] | None) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string(choice, "name", ["tool_choice"])}}
    return choice


def agent_request(
    body: ResponsesRequest, response_id: str, session_id: str | None
) -> tuple[AgentRequest, Message | None]:
    """The turn's request, and the system message carrying ``instructions`` (which reaches
    the agent first but is not kept in the session: instructions apply to one request)."""
    if body.conversation is not None:
        raise _bad(["conversation"], "conversations are not supported: use previous_response_id")
    messages = input_messages(body.input)
    instructions = None
    if body.instructions:
        instructions = Message(
            role="system", content=[TextContent(text=body.instructions)], status="completed"
        )
        messages.insert(0, instructions)
    if not messages:
        raise _bad(["input"], "input has no message for the agent")
    # kept on the request as fields the seed does not know (AgentRequest keeps extras)
    extra: dict[str, Any] = {
        "tool_choice": _tool_choice(body.tool_choice),
        "instructions": body.instructions,
        "metadata": body.metadata,
    }
    request = AgentRequest(
        input=messages,
        stream=body.stream,
        id=response_id,
        session_id=session_id,
        user_id=body.user_id,
        model=body.model,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_output_tokens,
        tools=chat_tools(body.tools),  # type: ignore[arg-type]  # dicts are accepted
        **extra,
    )
    return request, instructions
