"""protocols/echoes.py: what a client sends back that its session holds, case by case."""

from __future__ import annotations

from typing import Any

from functions.runtime.protocol import DataContent, Message, TextContent
from functions.runtime.protocols.echoes import new_messages


def text(id_: str, role: str, said: str) -> Message:
    return Message(id=id_, role=role, content=[TextContent(text=said)], status="completed")


def data(id_: str, kind: str, **fields: Any) -> Message:
    role = "tool" if kind.endswith("_output") else "assistant"
    return Message(id=id_, type=kind, role=role, content=[DataContent(data=fields)])


def stored(*messages: Message) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json", exclude_none=True) for m in messages]


def kept(sent: list[Message], held: list[dict[str, Any]]) -> list[str]:
    return [m.id for m in new_messages(sent, held)]


def test_a_new_session_takes_everything():
    sent = [text("u1", "user", "hi"), text("u1", "user", "hi")]
    assert kept(sent, []) == ["u1", "u1"]


def test_a_client_s_own_id_marks_only_what_says_the_same_and_only_once():
    held = stored(text("u1", "user", "yes"))
    assert kept([text("u1", "user", "yes")], held) == []
    assert kept([text("u1", "user", "no")], held) == ["u1"]
    # "yes" under u1 sent twice: the session holds one of them
    assert kept([text("u1", "user", "yes"), text("u1", "user", "yes")], held) == ["u1"]


def test_what_the_agent_said_is_known_by_its_id_whatever_the_client_made_of_it():
    held = stored(text("msg_1", "assistant", "**Paris**"))
    assert kept([text("msg_1", "assistant", "Paris")], held) == []


def test_a_call_is_known_by_call_id_tool_and_arguments_as_values():
    held = stored(data("msg_c", "plugin_call", call_id="call_0", name="f", arguments='{"a": 1}'))
    same = data("call_0", "function_call", call_id="call_0", name="f", arguments='{ "a":1 }')
    other_tool = data("call_0", "function_call", call_id="call_0", name="g", arguments="{}")
    other_args = data("call_0", "function_call", call_id="call_0", name="f", arguments='{"a":2}')
    assert kept([same], held) == []
    assert kept([other_tool], held) == ["call_0"]
    assert kept([other_args], held) == ["call_0"]


def test_the_answer_a_call_waits_for_is_new_even_in_the_words_of_an_older_one():
    first_call = data("m1", "function_call", call_id="call_0", name="f", arguments="{}")
    first_answer = data("t1", "function_call_output", call_id="call_0", output="ok")
    asked_again = data("m2", "function_call", call_id="call_0", name="f", arguments="{}")
    held = stored(first_call, first_answer, asked_again)
    answer = data("t2", "function_call_output", call_id="call_0", output="ok")
    assert kept([answer], held) == ["t2"]
    # the whole conversation sent back: the first answer is an echo, the last one new
    everything = [first_call, first_answer, asked_again, answer]
    assert kept(everything, held) == ["t2"]
    # answered already: an output sent again for it is an echo
    assert kept([first_answer], stored(first_call, first_answer)) == []


def test_a_server_run_call_sent_back_as_one_item_goes_with_its_output():
    call = data("msg_c", "plugin_call", call_id="call_t", name="now", arguments="{}")
    output = data("msg_o", "plugin_call_output", call_id="call_t", output="noon")
    held = stored(call, output)
    # the Responses API's mcp_call item: named by the call message's id, output under it
    item_call = data("msg_c", "plugin_call", call_id="msg_c", name="now", arguments="")
    item_output = data("x", "plugin_call_output", call_id="msg_c", name="now", output="noon")
    question = text("u2", "user", "thanks")
    assert kept([item_call, item_output, question], held) == ["u2"]
