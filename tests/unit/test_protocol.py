import json
import uuid

import pytest
from pydantic import ValidationError

from functions.runtime.protocol import (
    AgentRequest,
    DataContent,
    Message,
    Response,
    ResponseBuilder,
    new_id,
    uuid4_hex,
)
from functions.runtime.sse import sse_encode

SEED_BODY = {
    "input": [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
    ]
}


def test_ids_are_random_version_4_uuids_in_the_seeds_form():
    made = {new_id("msg") for _ in range(2000)} | {uuid4_hex() for _ in range(2000)}
    assert len(made) == 4000
    for made_id in made:
        text = made_id.removeprefix("msg_")
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        # what uuid.uuid4() prints: hyphenated after the prefix, or the bare 32 digits
        assert text in (str(parsed), parsed.hex)
    assert sum(made_id.startswith("msg_") for made_id in made) == 2000


def test_seed_readme_body_parses_with_defaults():
    req = AgentRequest.model_validate(SEED_BODY)
    assert req.stream is True and req.session_id is None
    msg = req.input[0]
    assert msg.type == "message" and msg.role == "user"
    assert msg.get_text_content() == "What is the capital of France?"
    assert msg.id.startswith("msg_")


def test_unknown_fields_are_kept():
    req = AgentRequest.model_validate({**SEED_BODY, "x_trace": "abc"})
    assert req.model_dump()["x_trace"] == "abc"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": []},
        {"input": "hello"},
        {"input": [{"role": "wizard", "content": []}]},
        {"input": [{"role": "user", "content": [{"type": "hologram"}]}]},
        {**SEED_BODY, "session_id": ""},
        {**SEED_BODY, "user_id": "a\x00b"},
        {**SEED_BODY, "session_id": "line\nbreak"},
        {**SEED_BODY, "session_id": "x" * 257},
        {**SEED_BODY, "n": 9},
        {**SEED_BODY, "stream": "sometimes"},
    ],
)
def test_malformed_requests_are_refused(body):
    with pytest.raises(ValidationError):
        AgentRequest.model_validate(body)


def test_builder_produces_a_valid_sequence():
    rb = ResponseBuilder(session_id="s1")
    events = [rb.created(), rb.in_progress()]
    mb, opened = rb.open_message()
    events += opened
    events += [mb.text_delta("The"), mb.text_delta(" capital is Paris.")]
    events += rb.completed()

    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [(e.object, e.status) for e in events]
    assert kinds == [
        ("response", "created"),
        ("response", "in_progress"),
        ("message", "in_progress"),
        ("content", "in_progress"),
        ("content", "in_progress"),
        ("content", "completed"),
        ("message", "completed"),
        ("response", "completed"),
    ]
    deltas, done = events[3:5], events[5]
    assert all(d.delta is True and d.msg_id == mb.id and d.index == 0 for d in deltas)
    assert done.delta is False and done.text == "The capital is Paris."
    final = events[-1]
    assert isinstance(final, Response) and final.session_id == "s1"
    assert final.output[0].text == "The capital is Paris."
    assert final.output[0].status == "completed"
    assert final.completed_at is not None
    # Every event of a response shares its id; messages keep theirs.
    assert {e.id for e in events if e.object == "response"} == {final.id}


def test_builder_numbers_parts_and_closes_previous_message():
    rb = ResponseBuilder()
    first, _ = rb.open_message()
    first.text_delta("a")
    first.text_delta("b", new=True)
    (data_event,) = first.add_content(DataContent(data={"k": 1}))
    assert data_event.index == 2 and data_event.status == "completed"
    second, events = rb.open_message(type="plugin_call")
    # opening a message completes the open one first: two text parts, then the message
    assert [(e.object, e.status) for e in events] == [
        ("content", "completed"),
        ("content", "completed"),
        ("message", "completed"),
        ("message", "in_progress"),
    ]
    assert [e.text for e in events[:2]] == ["a", "b"]
    assert rb.response.output[0].id == first.id and second.message.type == "plugin_call"


def test_failed_marks_open_message_incomplete_and_carries_error():
    rb = ResponseBuilder()
    rb.created()
    mb, _ = rb.open_message()
    mb.text_delta("partial")
    events = rb.failed("agent_error", "boom")
    assert events[-2].object == "message" and events[-2].status == "incomplete"
    final = events[-1]
    assert final.status == "failed" and final.error.code == "agent_error"
    assert final.error.message == "boom"


def test_sse_encoding_is_one_data_line_and_a_blank_line():
    frame = sse_encode(Message(role="assistant", content=[]))
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert frame.count(b"\n") == 2
    body = json.loads(frame[6:])
    assert body["object"] == "message" and "error" not in body  # None fields are left out


def test_a_message_read_mid_stream_holds_its_text_so_far_and_keeps_growing():
    """The builder keeps deltas as pieces (linear in the message's size); whoever reads the
    message before it completes (a turn persisting a cut-off reply) sees all its text."""
    rb = ResponseBuilder()
    mb, _ = rb.open_message()
    for piece in ("a", "b", "c"):
        mb.text_delta(piece)
    first = mb.text_delta("x", new=True)
    assert [c.text for c in mb.message.content] == ["abc", "x"]
    mb.text_delta("d", index=0)
    mb.text_delta("y")  # the last open text part
    assert [c.text for c in mb.message.content] == ["abcd", "xy"]
    assert first.index == 1 and first.text == "x"
    events = mb.complete()
    assert [e.text for e in events[:2]] == ["abcd", "xy"]
    assert rb.response.output[0].text == "abcdxy"


def test_many_small_deltas_make_one_whole_message():
    rb = ResponseBuilder()
    mb, _ = rb.open_message()
    deltas = [mb.text_delta(chr(97 + i % 26)) for i in range(20_000)]
    assert [d.sequence_number for d in deltas] == list(range(1, 20_001))
    (done, _) = mb.complete()
    assert done.text == "".join(chr(97 + i % 26) for i in range(20_000))


def test_events_handed_out_do_not_change_as_the_builder_goes_on():
    """Each event is a snapshot: what a consumer holds (a queued frame, a tracing span, a
    protocol's record) stays as it was when the builder made it."""
    rb = ResponseBuilder()
    mb, (opened,) = rb.open_message(metadata={"tags": ["a"]})
    mb.add_content(DataContent(data={"rows": [1, 2]}))
    mb.text_delta("hi")
    (*_, done) = mb.complete()
    rb.response.output[0].content[0].data["rows"].append(3)  # the builder's own, mutated
    rb.response.output[0].metadata["tags"].append("b")
    rb.response.status = "failed"
    assert opened.content == [] and opened.status == "in_progress"
    assert opened.metadata == {"tags": ["a"]}
    assert done.content[0].data == {"rows": [1, 2]} and done.metadata == {"tags": ["a"]}
    # the final response is the builder's own, handed out last: the builder is done with it
    final = rb.completed()[-1]
    assert final is rb.response and final.status == "completed"
    assert final.output[0].content[0].data == {"rows": [1, 2, 3]}
    assert final.output[0].text == "hi"
