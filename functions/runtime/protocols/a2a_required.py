"""A2A's ``REQUIRED`` fields (``google.api.field_behavior`` in the A2A 1.0 proto), checked
before a request reaches its handler, as a2a-sdk's ``validate_request_params`` does.

The SDK's check walks every field of the request, reading each field's options, on every
call: about 70 us of a ``SendMessage`` here (``benchmarks/process_load.py``). This one reads
the options once per message type (:func:`_plan`) and only answers "complete or not"; an
incomplete request is handed to the SDK's own check, which raises its usual
``InvalidParamsError`` (``data.errors``: each missing field's dotted path and message), so
callers see exactly the SDK's errors. ``tests/unit/test_a2a_required.py`` holds the two
checks to the same verdict on every field of the request types left out in turn.

Also here: :func:`unknown_enum`. The SDK parses params with ``ignore_unknown_fields``
(unknown members are ignored, for forward compatibility), which also turns an enum value
it does not know into the enum's zero: ``ListTasks`` with ``"status": "TASK_STATE_DONE"``
would list every task. A request naming an enum value that does not exist is refused.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable
from enum import Enum
from typing import Any, NamedTuple, TypeVar, cast

from a2a.utils.proto_utils import validate_proto_required_fields
from google.api.field_behavior_pb2 import REQUIRED, field_behavior
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Callable[..., Any])


class _Need(Enum):
    ELEMENTS = "at least one element"  # a required repeated field
    PRESENT = "set"  # a required field with presence (a message, an optional scalar)
    NOT_DEFAULT = "not its default"  # a required plain scalar


class _Nested(Enum):
    ONE = "a message"
    MAP = "a map"
    LIST = "a list"


class _Plan(NamedTuple):
    required: tuple[tuple[str, _Need, Any], ...]  # (field, what it needs, its default)
    nested: tuple[tuple[str, _Nested], ...]  # message-typed fields to look inside


@functools.cache
def _plan(descriptor: Descriptor) -> _Plan:
    required: list[tuple[str, _Need, Any]] = []
    nested: list[tuple[str, _Nested]] = []
    for field in descriptor.fields:
        repeated = field.is_repeated
        if REQUIRED in field.GetOptions().Extensions[field_behavior]:
            if repeated:
                required.append((field.name, _Need.ELEMENTS, None))
            elif field.has_presence:
                required.append((field.name, _Need.PRESENT, None))
            else:
                required.append((field.name, _Need.NOT_DEFAULT, field.default_value))
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if not repeated:
                nested.append((field.name, _Nested.ONE))
            elif field.message_type.GetOptions().map_entry:
                nested.append((field.name, _Nested.MAP))
            else:
                nested.append((field.name, _Nested.LIST))
    return _Plan(tuple(required), tuple(nested))


# message types whose ProtoJSON is not an object of their fields (Struct, Value, Timestamp...)
WELL_KNOWN = "google.protobuf."


class _Inside(NamedTuple):
    kind: _Nested  # how the member holds its values
    enum: EnumDescriptor | None  # the values are this enum's
    message: Descriptor | None  # or messages of this type


@functools.cache
def _enum_plan(descriptor: Descriptor) -> dict[str, _Inside]:
    """ProtoJSON member name (camelCase and the proto name) -> what to look at in it, for
    the fields of ``descriptor`` that hold enums or messages of the A2A types."""
    plan: dict[str, _Inside] = {}
    for field in descriptor.fields:
        kind = _Nested.LIST if field.is_repeated else _Nested.ONE
        held: FieldDescriptor = field
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            kind, held = _Nested.MAP, field.message_type.fields_by_name["value"]
        if held.type == FieldDescriptor.TYPE_ENUM:
            inside = _Inside(kind, held.enum_type, None)
        elif (
            held.type == FieldDescriptor.TYPE_MESSAGE
            and not held.message_type.full_name.startswith(WELL_KNOWN)
        ):
            inside = _Inside(kind, None, held.message_type)
        else:
            continue
        plan[field.json_name] = plan[field.name] = inside
    return plan


def unknown_enum(value: Any, descriptor: Descriptor, path: str = "params") -> str | None:
    """Why ``value`` (the ProtoJSON of a ``descriptor`` message) names an enum value that
    does not exist, e.g. ``"params.status: 'TASK_STATE_DONE' is not a lf.a2a.v1.TaskState"``;
    None when it names none (anything else wrong is left to the parser)."""
    if not isinstance(value, dict):
        return None
    plan = _enum_plan(descriptor)
    for name, member in value.items():
        inside = plan.get(name)
        if inside is None:
            continue
        if inside.kind is _Nested.MAP:
            entries = member.items() if isinstance(member, dict) else ()
            pairs = [(f"{path}.{name}[{key!r}]", item) for key, item in entries]
        elif inside.kind is _Nested.LIST:
            items = member if isinstance(member, list) else ()
            pairs = [(f"{path}.{name}[{i}]", item) for i, item in enumerate(items)]
        else:
            pairs = [(f"{path}.{name}", member)]
        for where, item in pairs:
            if inside.enum is not None:
                why = _unknown_value(item, inside.enum, where)
            else:
                why = unknown_enum(item, cast("Descriptor", inside.message), where)
            if why:
                return why
    return None


def _unknown_value(item: Any, enum: EnumDescriptor, where: str) -> str | None:
    if isinstance(item, str):  # a name, or a number in a string (ProtoJSON takes both)
        known = item in enum.values_by_name or (
            item.lstrip("-").isdigit() and int(item) in enum.values_by_number
        )
    elif isinstance(item, int) and not isinstance(item, bool):
        known = item in enum.values_by_number
    elif isinstance(item, float):  # the parser takes 1.5 as 1: only a whole number names one
        known = item.is_integer() and int(item) in enum.values_by_number
    else:
        return None  # not an enum value at all: the parser says so
    return None if known else f"{where}: {item!r} is not a {enum.full_name}"


def is_complete(message: Message) -> bool:
    """Whether ``message`` and every message set inside it have all their required fields
    (what the SDK's check accepts)."""
    plan = _plan(message.DESCRIPTOR)
    for name, need, default in plan.required:
        if need is _Need.PRESENT:
            if not message.HasField(name):
                return False
        elif need is _Need.ELEMENTS:
            if not getattr(message, name):
                return False
        elif getattr(message, name) == default:
            return False
    for name, kind in plan.nested:
        if kind is _Nested.ONE:
            if message.HasField(name) and not is_complete(getattr(message, name)):
                return False
        elif kind is _Nested.LIST:
            if not all(is_complete(item) for item in getattr(message, name)):
                return False
        elif not all(
            is_complete(value)
            for value in getattr(message, name).values()
            if isinstance(value, Message)
        ):
            return False
    return True


def check_required(message: Message) -> None:
    """Raise the SDK's ``InvalidParamsError`` when ``message`` lacks a required field."""
    if not is_complete(message):
        validate_proto_required_fields(message)  # raises, naming every missing field


def required_params(method: M) -> M:
    """The SDK's ``validate_request_params`` for a request handler method, with
    :func:`check_required` as the check: a coroutine checks when awaited, an async generator
    when first iterated, as the SDK's does."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, params: Any, context: Any) -> AsyncGenerator[Any, None]:
            if params is not None:
                check_required(params)
            events = method(self, params, context)
            try:
                async for event in events:
                    yield event
            finally:
                await events.aclose()

        return cast("M", stream)

    @functools.wraps(method)
    async def call(self: Any, params: Any, context: Any) -> Any:
        if params is not None:
            check_required(params)
        return await method(self, params, context)

    return cast("M", call)
