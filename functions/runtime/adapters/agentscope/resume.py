"""The next turn of a parked agentscope 2.x reply: the user's answer as the event it awaits.

A reply that parks (``REQUIRE_USER_CONFIRM``, ``REQUIRE_EXTERNAL_EXECUTION``) ends the turn
``incomplete`` with a question (events.py), and the agent's saved state still holds the
calls it waits on; ``reply_stream`` then refuses plain messages until it gets the answer.
``reply_inputs(agent, msgs)`` gives it the answer, taken from the user's next message:

* calls awaiting permission -> ``UserConfirmResultEvent``: allowed when the text starts
  with yes / y / allow / ok / approve (any case), or a data part says ``{"confirm": true}``;
  denied otherwise;
* external calls (AskUser) -> ``ExternalExecutionResultEvent``: the text is the tool's
  output; for AskUser, an option's label or number selects it, anything else is the
  ``other`` answer (``AskUserMetadata``, which agentscope checks);
* no call waiting -> ``msgs`` unchanged.
"""

from __future__ import annotations

import json
from typing import Any

YES = ("yes", "y", "allow", "ok", "okay", "approve", "sure")


def _answer(msgs: Any) -> tuple[str, bool | None]:
    """The user's text, and ``confirm`` from a data part (it arrives as its JSON text)."""
    texts, confirm = [], None
    for msg in msgs if isinstance(msgs, list) else [msgs]:
        for block in getattr(msg, "content", None) or ():
            text = getattr(block, "text", None)
            if not isinstance(text, str):
                continue
            try:
                data = json.loads(text) if text.lstrip().startswith("{") else None
            except ValueError:
                data = None
            if isinstance(data, dict) and "confirm" in data:
                confirm = bool(data["confirm"])
            else:
                texts.append(text)
    return "\n".join(texts), confirm


def _is_yes(text: str) -> bool:
    words = text.strip().lower().replace(",", " ").replace(".", " ").replace("!", " ").split()
    return bool(words) and words[0] in YES


def _ask_user_metadata(arguments: str, text: str) -> dict[str, Any]:
    try:
        questions = json.loads(arguments or "{}").get("questions") or []
    except (ValueError, AttributeError):
        questions = []
    answers = []
    for q in questions:
        labels = [o.get("label", "") for o in q.get("options") or () if isinstance(o, dict)]
        chosen = text.strip()
        match = [label for label in labels if label.lower() == chosen.lower()]
        if chosen.isdigit() and 1 <= int(chosen) <= len(labels):
            match = [labels[int(chosen) - 1]]
        if match:
            answers.append({"question": q.get("question", ""), "selected": match})
        else:
            answers.append({"question": q.get("question", ""), "selected": [], "other": text})
    return {"answers": answers}


def reply_inputs(agent: Any, msgs: Any) -> Any:
    """What to give ``agent.reply_stream`` for this turn (see the module docstring)."""
    from agentscope.event import (
        ConfirmResult,
        ExternalExecutionResultEvent,
        UserConfirmResultEvent,
    )
    from agentscope.message import ToolCallState, ToolResultBlock, ToolResultState

    waiting = agent.state.get_awaiting_tool_calls(agent.name)
    if not waiting:
        return msgs
    text, confirm = _answer(msgs)
    asking = [c for c in waiting if c.state == ToolCallState.ASKING]
    if asking:
        allowed = confirm if confirm is not None else _is_yes(text)
        return UserConfirmResultEvent(
            reply_id=agent.state.reply_id,
            confirm_results=[ConfirmResult(confirmed=allowed, tool_call=c) for c in asking],
        )
    results = []
    for call in waiting:
        metadata = _ask_user_metadata(call.input, text) if call.name == "AskUser" else {}
        results.append(
            ToolResultBlock(
                id=call.id,
                name=call.name,
                output=text,
                state=ToolResultState.SUCCESS,
                metadata=metadata,
            )
        )
    return ExternalExecutionResultEvent(reply_id=agent.state.reply_id, execution_results=results)
