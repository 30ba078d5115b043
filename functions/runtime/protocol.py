"""The seed's agent protocol: the request, the streamed events and a builder (SSE: sse.py).

Field names, object kinds and status values follow AgentScope Runtime's agent schema, so a
client written for the seed reads our streams unchanged. ``ResponseBuilder`` is the single
place that numbers events and moves statuses forward, which is what keeps every stream
valid: created -> in_progress -> (message in_progress -> content deltas -> content
completed -> message completed)* -> completed | failed.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .storage.keys import validate_id


class MessageType:
    MESSAGE = "message"
    FUNCTION_CALL = "function_call"
    FUNCTION_CALL_OUTPUT = "function_call_output"
    PLUGIN_CALL = "plugin_call"
    PLUGIN_CALL_OUTPUT = "plugin_call_output"
    COMPONENT_CALL = "component_call"
    COMPONENT_CALL_OUTPUT = "component_call_output"
    MCP_LIST_TOOLS = "mcp_list_tools"
    MCP_APPROVAL_REQUEST = "mcp_approval_request"
    MCP_TOOL_CALL = "mcp_call"
    MCP_TOOL_CALL_OUTPUT = "mcp_call_output"
    MCP_APPROVAL_RESPONSE = "mcp_approval_response"
    REASONING = "reasoning"
    HEARTBEAT = "heartbeat"
    ERROR = "error"


# a tool call's message types, and its result's: a data part ``{call_id, name, arguments}``
# / ``{call_id, output}``
CALL_TYPES = (MessageType.FUNCTION_CALL, MessageType.PLUGIN_CALL, MessageType.MCP_TOOL_CALL)
OUTPUT_TYPES = (
    MessageType.FUNCTION_CALL_OUTPUT,
    MessageType.PLUGIN_CALL_OUTPUT,
    MessageType.MCP_TOOL_CALL_OUTPUT,
)


class ContentType:
    TEXT = "text"
    DATA = "data"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    FILE = "file"
    REFUSAL = "refusal"


class Role:
    ASSISTANT = "assistant"
    USER = "user"
    SYSTEM = "system"
    TOOL = "tool"


class RunStatus:
    Created = "created"
    InProgress = "in_progress"
    Completed = "completed"
    Canceled = "canceled"
    Failed = "failed"
    Rejected = "rejected"
    Unknown = "unknown"
    Queued = "queued"
    Incomplete = "incomplete"

    # a response in one of these is over: the turn is persisted and the session released
    FINAL = frozenset({"completed", "failed", "incomplete", "canceled"})


def uuid4_hex() -> str:
    """A random (version 4) UUID as 32 hex digits, as ``uuid.uuid4().hex`` gives it, made
    without a ``uuid.UUID`` object (a third of the time; every turn makes a few)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 9562's variant
    return raw.hex()


def new_id(prefix: str) -> str:
    """``{prefix}_{a random UUID}``, the seed's ids (``msg_...``, ``response_...``)."""
    h = uuid4_hex()
    return f"{prefix}_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Error(BaseModel):
    code: str
    message: str


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    sequence_number: int | None = None
    object: str
    status: str | None = None
    error: Error | None = None


class Content(Event):
    object: str = "content"
    type: str
    index: int | None = None
    delta: bool | None = False
    msg_id: str | None = None


class TextContent(Content):
    type: Literal["text"] = "text"
    text: str | None = None


class DataContent(Content):
    type: Literal["data"] = "data"
    data: dict[str, Any] | None = None


class ImageContent(Content):
    type: Literal["image"] = "image"
    image_url: str | None = None


class AudioContent(Content):
    type: Literal["audio"] = "audio"
    data: str | None = None
    format: str | None = None


class VideoContent(Content):
    type: Literal["video"] = "video"
    video_url: str | None = None


class FileContent(Content):
    type: Literal["file"] = "file"
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    file_data: str | None = None


class RefusalContent(Content):
    type: Literal["refusal"] = "refusal"
    refusal: str | None = None


AgentContent = Annotated[
    TextContent
    | DataContent
    | ImageContent
    | AudioContent
    | VideoContent
    | FileContent
    | RefusalContent,
    Field(discriminator="type"),
]

AgentRole = Literal["assistant", "system", "user", "tool"]


class Message(Event):
    object: str = "message"
    id: str = Field(default_factory=lambda: new_id("msg"))
    type: str = MessageType.MESSAGE
    status: str | None = RunStatus.Created
    role: AgentRole | None = None
    content: list[AgentContent] | None = None
    code: str | None = None
    message: str | None = None
    usage: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    def get_text_content(self) -> str | None:
        """The first text part, as the seed's helper returns it."""
        for item in self.content or ():
            if isinstance(item, TextContent):
                return item.text
        return None

    @property
    def text(self) -> str:
        """All text parts joined; what most agents mean by "the message"."""
        return "".join(c.text or "" for c in self.content or () if isinstance(c, TextContent))


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "function"
    function: FunctionTool | None = None


class AgentRequest(BaseModel):
    """The body of ``POST /process``; fields the seed does not know are kept, not dropped."""

    model_config = ConfigDict(extra="allow")

    input: list[Message] = Field(min_length=1)
    stream: bool = True
    id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    top_p: float | None = None
    temperature: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=1, ge=1, le=5)
    seed: int | None = None
    tools: list[Tool | dict[str, Any]] | None = None

    @field_validator("session_id", "user_id")
    @classmethod
    def _valid_id(cls, value: str | None, info: Any) -> str | None:
        # Ids become object-store keys: refuse anything unsafe at the door, as a 422.
        return None if value is None else validate_id(value, info.field_name)


class Response(Event):
    object: str = "response"
    id: str = Field(default_factory=lambda: new_id("response"))
    status: str | None = RunStatus.Created
    created_at: int = Field(default_factory=lambda: int(time.time()))
    completed_at: int | None = None
    output: list[Message] | None = None
    usage: dict[str, Any] | None = None
    session_id: str | None = None


AgentResponse = Response


def unnamed_call_fields(data: dict[str, Any], kind: str | None) -> list[str]:
    """The fields of a tool call's (``call_id``, ``name``) or result's (``call_id``) data,
    ``kind`` being its message type, that are not the non-empty string a model is sent;
    none for any other message."""
    if kind in CALL_TYPES:
        fields: tuple[str, ...] = ("call_id", "name")
    elif kind in OUTPUT_TYPES:
        fields = ("call_id",)
    else:
        return []
    return [f for f in fields if not isinstance(data.get(f), str) or not data[f]]


def call_problems(message: Message, where: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Field errors (``[{loc, msg, type}]``) of a tool call's or result's data parts: each
    names its call by a non-empty string ``call_id``, and a call names its tool by a
    non-empty string ``name`` (a model is sent them as ids; stored otherwise, they would
    break every later turn of the session). ``where``: the message's own ``loc``."""
    problems = []
    for i, part in enumerate(message.content or ()):
        data = getattr(part, "data", None)
        if not isinstance(data, dict):
            continue
        for field in unnamed_call_fields(data, message.type):
            problems.append(
                {
                    "loc": [*where, "content", i, "data", field],
                    "msg": f"a {message.type} names its {field} with a non-empty string",
                    "type": "value_error",
                }
            )
    return problems


def tool_problems(tools: list[Tool | dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Field errors of a request's ``tools``: a function tool (``type`` ``function``, the
    default) carries a ``function`` object whose ``name`` is a non-empty string (the shape
    of chat completions' ``tools``). Tools of other types pass as they are."""
    problems = []
    for i, tool in enumerate(tools or ()):
        if isinstance(tool, Tool):
            if tool.type != "function" or (tool.function is not None and tool.function.name):
                continue
        elif isinstance(tool, dict) and tool.get("type", "function") == "function":
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str) and name:
                continue
        else:
            continue
        problems.append(
            {
                "loc": ["body", "tools", i, "function", "name"],
                "msg": "a function tool is named by a non-empty string function.name",
                "type": "value_error",
            }
        )
    return problems


def check_request(request: AgentRequest) -> None:
    """Refuse (``InvalidRequest``, 422, naming each field) a request whose tool calls or
    tools a model could not be given, before its turn stores anything: every protocol's
    request passes here (``turn.open_turn``)."""
    problems = tool_problems(request.tools)
    for index, message in enumerate(request.input):
        problems += call_problems(message, ("body", "input", index))
    if problems:
        from .errors import InvalidRequest

        raise InvalidRequest(problems)


E = TypeVar("E", bound=Event)
C = TypeVar("C", bound="Content")
M = TypeVar("M", bound=BaseModel)


def snapshot(model: M) -> M:
    """A deep copy of an event for JSON-shaped fields (models, lists, dicts, scalars): what
    the builder hands out must not change as it goes on. A few times quicker than pydantic's
    deep ``model_copy``, which goes through ``copy.deepcopy`` value by value."""
    copy = model.model_copy()  # its own __dict__ and extras, their values shared
    fields = copy.__dict__
    for name, value in fields.items():
        if isinstance(value, (BaseModel, list, dict)):
            fields[name] = _copied(value)
    extra = copy.__pydantic_extra__
    if extra:
        for name, value in extra.items():
            if isinstance(value, (BaseModel, list, dict)):
                extra[name] = _copied(value)
    return copy


def _copied(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return snapshot(value)
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    return value


class MessageBuilder:
    """Streams one message: opens it, appends content deltas, closes each part, completes it."""

    def __init__(self, parent: ResponseBuilder, message: Message) -> None:
        self._parent = parent
        self._message = message
        self._open: dict[int, Content] = {}  # index -> accumulated content of an open part
        # index -> the text pieces of an open text part: appending to a list and joining
        # once keeps a message linear in its size (``str + str`` per delta is quadratic)
        self._pieces: dict[int, list[str]] = {}

    @property
    def message(self) -> Message:
        """The message so far, its open text parts holding all their text."""
        for index, pieces in self._pieces.items():
            if len(pieces) > 1:
                pieces[:] = ["".join(pieces)]
            part = self._open[index]
            assert isinstance(part, TextContent)
            part.text = pieces[0] if pieces else ""
        return self._message

    @property
    def id(self) -> str:
        return self._message.id

    def _stamp(self, event: C) -> C:
        event.msg_id = self._message.id
        self._parent.stamp(event)
        return event

    def _new_part(self, part: Content) -> int:
        content = self._message.content
        if content is None:
            content = self._message.content = []
        content.append(part)  # type: ignore[arg-type]  # a Content subclass of the union
        return len(content) - 1

    def text_delta(self, text: str, index: int | None = None, *, new: bool = False) -> Content:
        """A piece of text for part ``index``; by default the last open text part, or a new
        part when there is none or ``new`` is set."""
        if index is None and not new:
            index = next(reversed(self._pieces), None)  # open text parts, oldest first
        if index is None or index not in self._pieces:
            fresh = TextContent(text="", status=RunStatus.InProgress)
            index = self._new_part(fresh)
            self._open[index] = fresh
            self._pieces[index] = []
        self._pieces[index].append(text)
        # built whole, not stamped field by field: this runs once per delta
        return TextContent(
            text=text,
            delta=True,
            index=index,
            status=RunStatus.InProgress,
            msg_id=self._message.id,
            sequence_number=self._parent.next_sequence(),
        )

    def add_content(self, part: Content) -> list[Content]:
        """A whole part (data, image, a full text): it is emitted completed at once."""
        stored = snapshot(part)
        stored.sequence_number = stored.msg_id = stored.index = None
        stored.delta = False
        stored.status = RunStatus.Completed
        index = self._new_part(stored)
        event = stored.model_copy()
        event.index = index
        return [self._stamp(event)]

    def close_parts(self) -> list[Content]:
        """``completed`` events carrying each open part's full value."""
        self.message  # noqa: B018 - joins the open text parts' pieces
        events = []
        for index, part in sorted(self._open.items()):
            part.status = RunStatus.Completed
            event = part.model_copy()
            event.index, event.delta = index, False
            events.append(self._stamp(event))
        self._open.clear()
        self._pieces.clear()
        return events

    def complete(self, status: str = RunStatus.Completed) -> list[Event]:
        """Close open parts, then the message itself (``completed`` or ``incomplete``)."""
        events: list[Event] = list(self.close_parts())
        self._message.status = status
        events.append(self._parent.stamp(snapshot(self._message)))
        self._parent.finished_message(self)
        return events


class ResponseBuilder:
    """Numbers every event of one response and accumulates the final ``Response``."""

    def __init__(self, session_id: str | None = None, response_id: str | None = None) -> None:
        self.response = Response(session_id=session_id)
        if response_id:
            self.response.id = response_id
        self._seq = 0
        self.current: MessageBuilder | None = None

    def next_sequence(self) -> int:
        """The next event's ``sequence_number`` (taken)."""
        self._seq += 1
        return self._seq - 1

    def stamp(self, event: E) -> E:
        event.sequence_number = self.next_sequence()
        return event

    def _snapshot(self) -> Response:
        return self.stamp(self.response.model_copy())

    def created(self) -> Response:
        self.response.status = RunStatus.Created
        return self._snapshot()

    def in_progress(self) -> Response:
        self.response.status = RunStatus.InProgress
        return self._snapshot()

    def open_message(
        self,
        role: str = Role.ASSISTANT,
        type: str = MessageType.MESSAGE,
        message_id: str | None = None,
        **fields: Any,
    ) -> tuple[MessageBuilder, list[Event]]:
        """Open a message (completing any still-open one); returns its builder and the events."""
        events = self.close_open_message()
        msg = Message(
            role=role,  # type: ignore[arg-type]  # checked by pydantic
            type=type,
            status=RunStatus.InProgress,
            content=[],
            **fields,
        )
        if message_id:
            msg.id = message_id
        self.current = MessageBuilder(self, msg)
        events.append(self.stamp(snapshot(msg)))
        return self.current, events

    def finished_message(self, builder: MessageBuilder) -> None:
        output = self.response.output
        if output is None:
            output = self.response.output = []
        output.append(builder._message)
        if self.current is builder:
            self.current = None

    def close_open_message(self, status: str = RunStatus.Completed) -> list[Event]:
        return self.current.complete(status) if self.current is not None else []

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        """Count one model call's tokens into the response's ``usage``
        (``{input_tokens, output_tokens, total_tokens}``, summed over the turn's calls)."""
        usage = self.response.usage or {"input_tokens": 0, "output_tokens": 0}
        usage["input_tokens"] = int(usage.get("input_tokens", 0)) + input_tokens
        usage["output_tokens"] = int(usage.get("output_tokens", 0)) + output_tokens
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        self.response.usage = usage

    def completed(self, usage: dict[str, Any] | None = None) -> list[Event]:
        return self.finish(RunStatus.Completed, usage=usage)

    def failed(self, code: str, message: str) -> list[Event]:
        return self.finish(RunStatus.Failed, Error(code=code, message=message))

    def finish(
        self,
        status: str,
        error: Error | None = None,
        usage: dict[str, Any] | None = None,
    ) -> list[Event]:
        """End the response in ``status`` (one of ``RunStatus.FINAL``).

        An open message is completed when the response completed, else marked incomplete:
        it was cut off (a failure, a stop, a budget, a question back to the user).
        """
        message_status = (
            RunStatus.Completed if status == RunStatus.Completed else (RunStatus.Incomplete)
        )
        events = self.close_open_message(message_status)
        self.response.status = status
        self.response.completed_at = int(time.time())
        if error is not None:
            self.response.error = error
        if usage is not None:
            self.response.usage = usage
        # the response itself, not a snapshot: the builder is done with it (its copy would
        # be the deepest of the turn, every message of it)
        events.append(self.stamp(self.response))
        return events
