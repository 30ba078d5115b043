"""``framework="agentscope"``: AgentScope agents on the runtime, agentscope 2.x or the seed's 1.x.

The handler receives ``msgs``, the request's input as agentscope ``Msg`` objects of the
installed major (``message.to_msgs``), and yields what that major's agents stream:

* agentscope 2.x: what ``agent.reply_stream(msgs, yield_final_msg=True)`` yields, its
  ``AgentEvent``s and final ``Msg`` (``events.ReplyStream``);
* agentscope 1.x: the ``(msg, last)`` pairs of ``stream_printing_messages``, as in the
  AgentScope Runtime README (``snapshots``).

Both become the same protocol stream: an assistant message of content deltas, ``reasoning``
messages, ``plugin_call`` / ``plugin_call_output`` (or ``mcp_call`` / ``mcp_call_output``)
messages, usage (2.x), and a reply that parks to ask the user ending ``incomplete`` with the
question. Errors the model provider returns become the runtime's ``ModelError`` codes, with
key-like strings masked (providers quote the key they refused).

Importing this package is cheap: agentscope is imported by the functions that need it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

from ...protocol import Event, Message, ResponseBuilder
from .version import major


def inbound(messages: list[Message]) -> list[Any]:
    """The request's input as ``Msg`` objects of the installed agentscope."""
    from .message import to_msgs

    return to_msgs(messages)


async def adapt(items: AsyncIterator[Any], builder: ResponseBuilder) -> AsyncIterator[Event]:
    try:
        if major() == 1:
            from . import snapshots

            async for event in snapshots.adapt(items, builder):
                yield event
            return
        from .events import ReplyStream, report_calls

        stream = ReplyStream(builder)
        with report_calls() as report:  # agentscope's own calls, counted by the turn
            async for item in items:
                report(item)
                for event in stream.feed(item):
                    yield event
        for event in stream.finish():
            yield event
    except Exception as exc:
        model_error = _model_error(exc)
        if model_error is None:
            raise
        raise model_error from None


def _model_error(exc: Exception) -> Exception | None:
    """An ``openai`` SDK error raised through agentscope, as the runtime's ``ModelError``."""
    openai = sys.modules.get("openai")
    if openai is None or not isinstance(exc, openai.APIError):
        return None
    from ...models.openai_compat import model_error

    return model_error(openai, exc, "the model")


def reply_inputs(agent: Any, msgs: Any) -> Any:
    """What to give a 2.x ``agent.reply_stream`` this turn: ``msgs``, or, when the agent's
    last reply parked on a question, the user's answer as the event it awaits (resume.py)."""
    from .resume import reply_inputs as inputs

    return inputs(agent, msgs)
