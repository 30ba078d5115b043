"""The state function's wire models (request bodies and answers)."""

# annotations as objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile and evaluate every field's string at start

from typing import Any

from pydantic import ConfigDict, Field

from functions.runtime.errors import InvalidRequest
from functions.runtime.services import Session
from functions.runtime.wire import WireModel

Message = dict[str, Any]


def checked_messages(body: Message | list[Message], loc: tuple[str, ...]) -> list[Message]:
    """``body`` (one message or a list) as a list of the dicts given, each checked against
    the protocol's message (``runtime/protocol.py: Message``: what ``/process`` takes as
    input and a turn stores; unknown fields are kept): ``InvalidRequest`` (422) naming each
    bad field, ``loc`` first (and the item's index in a list). A message the agents could
    not read (``content: 5``) never reaches a session or the memory."""
    from pydantic import ValidationError

    from functions.runtime.http_errors import field_errors
    from functions.runtime.protocol import Message as ProtocolMessage  # with the first write
    from functions.runtime.protocol import call_problems

    listed = isinstance(body, list)
    messages = body if isinstance(body, list) else [body]
    problems: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = (*loc, str(index)) if listed else loc
        try:
            parsed = ProtocolMessage.model_validate(message)
        except ValidationError as exc:
            problems += field_errors(exc.errors(include_url=False, include_context=False), where)
            continue
        problems += call_problems(parsed, where)
    if problems:
        raise InvalidRequest(problems)
    return messages


class CreateSessionBody(WireModel):
    session_id: str | None = Field(None, description="omit to have an id generated")


class SessionPage(WireModel):
    items: list[Session]
    next_cursor: str | None = None


class MessagePage(WireModel):
    items: list[Message]
    next_cursor: str | None = None


class AppendResult(WireModel):
    sequence: int = Field(description="the stored append's sequence number in the session")
    messages: list[Message]


class RoundId(WireModel):
    round_id: int


class StateRound(WireModel):
    round_id: int
    state: dict[str, Any]


class Rounds(WireModel):
    rounds: list[int]


class MemoryAddBody(WireModel):
    messages: Message | list[Message]
    session_id: str | None = None


class MemoryAdded(WireModel):
    added: int


class MemorySearchBody(WireModel):
    """``messages`` or ``query`` (422 with neither)."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["messages"]}, {"required": ["query"]}]}
    )

    messages: Message | list[Message] | None = None
    query: str | None = Field(None, description="plain-text query; used when messages is absent")
    top_k: int = Field(5, ge=1, le=1000)


class MemoryItems(WireModel):
    items: list[Message]


class MemoryPage(WireModel):
    items: list[Message]
    page_num: int
    page_size: int


class Health(WireModel):
    status: str
