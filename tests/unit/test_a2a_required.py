"""Our check of A2A's REQUIRED fields gives a2a-sdk's verdict on every request it guards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from a2a.types import a2a_pb2
from a2a.utils.errors import InvalidParamsError
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from functions.runtime.protocols.a2a_required import check_required, is_complete, unknown_enum

REQUESTS = [
    a2a_pb2.SendMessageRequest,
    a2a_pb2.CancelTaskRequest,
    a2a_pb2.SubscribeToTaskRequest,
    a2a_pb2.GetTaskRequest,
    a2a_pb2.ListTasksRequest,
    a2a_pb2.Task,
]
DEPTH = 4  # Struct and Value nest without end


def populate(message: Message, depth: int = 0) -> None:
    """Every field of ``message`` set to a value other than its default, ``DEPTH`` deep."""
    for field in message.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= DEPTH:
                continue
            if field.is_repeated and field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                target = getattr(message, field.name)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    populate(target["k"], depth + 1)
                else:
                    target["k"] = _scalar(value_field)
            elif field.is_repeated:
                populate(getattr(message, field.name).add(), depth + 1)
            else:
                populate(getattr(message, field.name), depth + 1)
                getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).append(_scalar(field))
        else:
            setattr(message, field.name, _scalar(field))


def _scalar(field: FieldDescriptor) -> object:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in (FieldDescriptor.TYPE_STRING,):
        return "x"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"x"
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5
    return 1


def paths(message: Message, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every set field's path (a repeated field's first element as ``name``, ``0``)."""
    for field, value in message.ListFields():
        path = (*prefix, field.name)
        yield path
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.is_repeated and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from paths(item, (*path, key))
        elif field.is_repeated:
            yield from paths(value[0], (*path, "0"))
        else:
            yield from paths(value, path)


def cleared(message: Message, path: tuple[str, ...]) -> Message:
    """A copy of ``message`` without the field at ``path``."""
    copy = type(message)()
    copy.CopyFrom(message)
    parent: Any = copy
    for step in path[:-1]:
        if isinstance(parent, Message):
            parent = getattr(parent, step)
        else:  # a repeated field (by index) or a map (by key)
            parent = parent[int(step) if step.isdigit() else step]
    assert isinstance(parent, Message)
    parent.ClearField(path[-1])
    return copy


def sdk_accepts(message: Message) -> bool:
    try:
        validate_proto_required_fields(message)
    except InvalidParamsError:
        return False
    return True


def variants(request_type: type[Message]) -> Iterator[tuple[str, Message]]:
    full = request_type()
    populate(full)
    yield "empty", request_type()
    yield "full", full
    for path in paths(full):
        yield "without " + ".".join(path), cleared(full, path)


@pytest.mark.parametrize("request_type", REQUESTS, ids=lambda t: t.__name__)
def test_every_field_left_out_in_turn_gets_the_sdks_verdict(request_type):
    seen = {True: 0, False: 0}
    for name, message in variants(request_type):
        verdict = sdk_accepts(message)
        assert is_complete(message) == verdict, name
        seen[verdict] += 1
    assert seen[True] > 0  # the full request, and the fields it may go without
    if request_type is not a2a_pb2.ListTasksRequest:  # nothing in it is required
        assert seen[False] > 0


def test_a_message_without_its_parts_raises_the_sdks_error_naming_the_field():
    request = a2a_pb2.SendMessageRequest(
        message=a2a_pb2.Message(message_id="m1", role=a2a_pb2.Role.ROLE_USER)
    )
    with pytest.raises(InvalidParamsError) as raised:
        check_required(request)
    missing = {"field": "message.parts", "message": "Field must contain at least one element."}
    assert raised.value.data == {"errors": [missing]}
    request.message.parts.add(text="hi")
    check_required(request)  # complete: nothing raised


@pytest.mark.parametrize("request_type", REQUESTS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("proto_names", [False, True], ids=["camelCase", "proto names"])
def test_every_enum_value_a_message_can_hold_is_known(request_type, proto_names):
    message = request_type()
    populate(message)
    for ints in (False, True):
        as_json = json_format.MessageToDict(
            message, preserving_proto_field_name=proto_names, use_integers_for_enums=ints
        )
        assert unknown_enum(as_json, request_type.DESCRIPTOR) is None


@pytest.mark.parametrize(
    ("request_type", "params", "path"),
    [
        (a2a_pb2.ListTasksRequest, {"status": "DONE"}, "params.status: 'DONE'"),
        (a2a_pb2.ListTasksRequest, {"status": -1}, "params.status: -1"),
        # protobuf's parser would take 1.5 as 1 (SUBMITTED): a breaker's silent filter
        (a2a_pb2.ListTasksRequest, {"status": 1.5}, "params.status: 1.5"),
        (a2a_pb2.Task, {"status": {"state": "TASK_STATE_ASLEEP"}}, "params.status.state"),
        (a2a_pb2.Task, {"history": [{"role": 1}, {"role": "X"}]}, "params.history[1].role"),
        (a2a_pb2.SendMessageRequest, {"message": {"role": "user"}}, "params.message.role"),
    ],
)
def test_an_enum_value_that_does_not_exist_is_named_by_its_path(request_type, params, path):
    why = unknown_enum(params, request_type.DESCRIPTOR)
    assert why is not None and why.startswith(path)


def test_an_enum_number_in_a_string_is_known_as_the_parser_takes_it():
    assert unknown_enum({"status": "3"}, a2a_pb2.ListTasksRequest.DESCRIPTOR) is None
    assert unknown_enum({"status": 3.0}, a2a_pb2.ListTasksRequest.DESCRIPTOR) is None
    json_format.ParseDict({"status": "3"}, a2a_pb2.ListTasksRequest())  # as ProtoJSON says
    why = unknown_enum({"status": "99"}, a2a_pb2.ListTasksRequest.DESCRIPTOR)
    assert why is not None and why.startswith("params.status: '99'")


def test_what_is_not_an_enum_value_at_all_is_left_to_the_parser():
    for params in ({"status": True}, {"status": 1.5}, {"status": None}, {"history": "x"}):
        assert unknown_enum(params, a2a_pb2.Task.DESCRIPTOR) is None
