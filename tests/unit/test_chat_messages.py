"""Protocol messages -> OpenAI chat messages: every tool result has its call, every part a form."""

from __future__ import annotations

import pytest

from functions.runtime.models.messages import (
    UnsupportedContent,
    check_chat_input,
    to_openai_messages,
)
from functions.runtime.protocol import Message


def user(*parts: dict) -> dict:
    return {"role": "user", "type": "message", "content": list(parts)}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def call(call_id: str, name: str = "f", kind: str = "plugin_call") -> dict:
    data = {"call_id": call_id, "name": name, "arguments": "{}"}
    return {"role": "assistant", "type": kind, "content": [{"type": "data", "data": data}]}


def output(call_id: str, out: str = "x", kind: str = "plugin_call_output") -> dict:
    data = {"call_id": call_id, "name": "f", "output": out}
    return {"role": "assistant", "type": kind, "content": [{"type": "data", "data": data}]}


def assistant(value: str) -> dict:
    return {"role": "assistant", "type": "message", "content": [text(value)]}


def assert_chat_valid(chat: list[dict]) -> None:
    """What chat APIs check: each tool message answers a call of the assistant message
    before its run of tool messages, and each such call is answered exactly once."""
    pending: set[str] = set()
    for i, message in enumerate(chat):
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, f"orphan tool message at {i}"
            pending.remove(message["tool_call_id"])
            continue
        assert not pending, f"unanswered calls {pending} before message {i}"
        if message.get("tool_calls"):
            pending = {c["id"] for c in message["tool_calls"]}
    assert not pending


@pytest.mark.parametrize(
    "data",
    [{"call_id": {"a": 1}, "name": "f"}, {"call_id": [1], "name": "f"}, {"call_id": "c"}],
)
def test_a_stored_call_no_model_could_be_sent_is_left_out_with_its_output(data):
    """History stored before input was checked for it: read, never failed on."""
    bad = {
        "role": "assistant",
        "type": "function_call",
        "content": [{"type": "data", "data": data}],
    }
    answer = {**output("c", kind="function_call_output")}
    answer["content"][0]["data"]["call_id"] = data["call_id"]
    chat = to_openai_messages([user(text("hi")), bad, answer, user(text("again"))])
    assert chat == [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]


def test_an_output_whose_call_is_not_in_the_history_is_dropped():
    chat = to_openai_messages([user(text("hi")), output("gone"), user(text("again"))])
    assert chat == [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]


@pytest.mark.parametrize(
    "history",
    [
        # a call and its output with a user message between them
        [call("a"), user(text("wait")), output("a")],
        # output before its call
        [output("a"), call("a")],
        # the same output twice
        [call("a"), output("a"), output("a")],
        # a call never answered, then another answered
        [call("a"), call("b"), output("b"), output("c")],
        # text, a call, a reasoning message, its output, then another call left open
        [
            assistant("let me look"),
            call("a"),
            {"role": "assistant", "type": "reasoning", "content": [text("hmm")]},
            output("a"),
            call("b"),
        ],
    ],
)
def test_every_conversion_is_a_valid_chat(history):
    chat = to_openai_messages([user(text("q")), *history, user(text("next"))])
    assert_chat_valid(chat)
    assert chat[0] == {"role": "user", "content": "q"}
    assert chat[-1] == {"role": "user", "content": "next"}


def test_calls_and_outputs_keep_their_order_and_merge_with_the_text_before():
    chat = to_openai_messages(
        [
            user(text("q")),
            assistant("running it"),
            call("a", "run"),
            call("b", "run"),  # parallel calls
            output("a", "1"),
            output("b", "2"),
            call("c", "read", kind="function_call"),
            output("c", "3", kind="function_call_output"),
            assistant("done"),
        ]
    )
    assert_chat_valid(chat)
    roles = ["user", "assistant", "tool", "tool", "assistant", "tool", "assistant"]
    assert [m["role"] for m in chat] == roles
    assert chat[1]["content"] == "running it"
    assert [c["id"] for c in chat[1]["tool_calls"]] == ["a", "b"]
    assert chat[4] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "read", "arguments": "{}"}}
        ],
    }
    assert chat[5] == {"role": "tool", "tool_call_id": "c", "content": "3"}


def test_an_unanswered_call_leaves_the_text_it_was_merged_with():
    chat = to_openai_messages([user(text("q")), assistant("trying"), call("a")])
    assert chat == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "trying"},
    ]


def test_file_and_audio_parts_reach_the_model_in_its_format():
    pdf = "data:application/pdf;base64,JVBERi0x"
    chat = to_openai_messages(
        [
            user(
                text("read these"),
                {"type": "file", "file_data": pdf, "filename": "a.pdf"},
                {"type": "file", "file_id": "file-123"},
                {"type": "audio", "data": "UklGRg==", "format": "wav"},
                {"type": "audio", "data": "data:audio/mpeg;base64,SUQz"},
                {"type": "image", "image_url": "https://example.com/a.png"},
            )
        ]
    )
    assert chat == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "read these"},
                {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
                {"type": "file", "file": {"file_id": "file-123"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        }
    ]


def test_a_message_with_only_a_file_is_not_empty():
    chat = to_openai_messages([user({"type": "file", "file_id": "file-1"})])
    assert chat[0]["content"] == [{"type": "file", "file": {"file_id": "file-1"}}]


UNSUPPORTED = [
    ({"type": "video", "video_url": "https://example.com/v.mp4"}, "video"),
    ({"type": "file", "file_url": "https://example.com/a.pdf"}, "file_url"),
    ({"type": "audio", "data": "https://example.com/a.wav"}, "URL"),
    ({"type": "audio", "data": "UklGRg=="}, "format"),
    ({"type": "image"}, "image_url"),
]


@pytest.mark.parametrize(("part", "why"), UNSUPPORTED)
def test_input_a_chat_model_cannot_take_is_refused_naming_the_part(part, why):
    request_input = [
        Message.model_validate(user(text("first"))),
        Message.model_validate(user(text("look"), part)),
    ]
    with pytest.raises(UnsupportedContent) as caught:
        check_chat_input(request_input)
    assert caught.value.status == 422 and caught.value.code == "unsupported_content"
    assert caught.value.detail.startswith("input[1].content[1]: ")
    assert why in caught.value.detail


@pytest.mark.parametrize(("part", "why"), UNSUPPORTED)
def test_the_same_part_in_stored_history_becomes_a_note_and_never_fails(part, why):
    chat = to_openai_messages([user(text("look"), part), user(text("next"))])
    note = chat[0]["content"]
    assert isinstance(note, str) and note.startswith("look[") and why in note
    assert chat[1] == {"role": "user", "content": "next"}


def test_what_the_chat_format_carries_passes_the_input_check():
    check_chat_input(
        [
            Message.model_validate(user(text("a"), {"type": "file", "file_id": "f"})),
            Message.model_validate(assistant("b")),
            Message.model_validate(output("gone")),  # dropped by the conversion, not refused
        ]
    )


def test_assistant_non_text_parts_are_text_notes():
    chat = to_openai_messages(
        [
            {
                "role": "assistant",
                "type": "message",
                "content": [text("here: "), {"type": "image", "image_url": "u"}],
            }
        ]
    )
    assert chat[0]["role"] == "assistant" and chat[0]["content"].startswith("here: [image")
