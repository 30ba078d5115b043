"""Agent apps the tests serve (importable as AGENT_APP=tests.apps:<name> by subprocesses)."""

from __future__ import annotations

import asyncio
import threading

from functions.runtime.app import AgentApp

echo_app = AgentApp(app_name="echo")


@echo_app.query(framework="text")
async def echo(self, msgs, request, **kwargs):
    """Says what it heard and what the session remembers, word by word."""
    session = kwargs.get("session")
    earlier = [
        "".join(c.get("text", "") for c in m.get("content", []) if c.get("type") == "text")
        for m in (session.messages if session is not None else [])
        if m.get("role") == "user"
    ]
    # each piece after a suspension, as a model's stream arrives: deltas the handler has
    # ready at once would be joined into one (coalesce.py)
    yield f"turn {len(earlier) + 1}: "
    await asyncio.sleep(0)
    yield msgs[-1].get_text_content() or ""
    if earlier:
        await asyncio.sleep(0)
        yield " | before: " + " / ".join(earlier)


failing_app = AgentApp(app_name="failing")


@failing_app.query(framework="text")
async def fail(self, msgs, request, **kwargs):
    yield "starting "
    raise RuntimeError("deliberate failure")


class Gate:
    """Lets a test hold a handler at a point and see when it has been cleaned up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.cleaned_up = threading.Event()

    def reset(self) -> None:
        # free any thread still parked on the old event, or interpreter exit waits for it forever
        self.release.set()
        self.__init__()


gate = Gate()
gated_app = AgentApp(app_name="gated")


@gated_app.query(framework="text")
async def gated(self, msgs, request, **kwargs):
    try:
        yield "waiting "
        gate.entered.set()
        await asyncio.to_thread(gate.release.wait)
        yield "released"
    finally:
        gate.cleaned_up.set()


stateful_app = AgentApp(app_name="stateful")


@stateful_app.query(framework="text")
async def count_turns(self, msgs, request, **kwargs):
    """Keeps a counter in the state service, exported and saved the way the seed's example does."""
    state = await self.state_service.export_state(
        user_id=request.user_id, session_id=request.session_id
    )
    count = (state or {}).get("count", 0) + 1
    await self.state_service.save_state(
        user_id=request.user_id, session_id=request.session_id, state={"count": count}
    )
    yield f"count {count}"


file_gated_app = AgentApp(app_name="file-gated")


@file_gated_app.query(framework="text")
async def wait_for_file(self, msgs, request, **kwargs):
    """Says one word, then waits until the file named by GATE_FILE exists (other processes)."""
    import os
    import time

    def wait() -> None:  # another process makes the file: nothing here to await on
        while not os.path.exists(os.environ["GATE_FILE"]):
            time.sleep(0.02)

    yield "waiting "
    await asyncio.to_thread(wait)
    yield "released"


sandbox_app = AgentApp(app_name="sandboxed")
sandbox_app.sandbox_url = None  # the test sets it: the sandbox function to call


@sandbox_app.query(framework="text")
async def use_sandbox(self, msgs, request, **kwargs):
    """Runs ``id -u`` in the session's sandbox, made through the sandbox function for the
    request's own user (the SDK forwards the caller's token), and says which sandbox."""
    from functions.runtime.sandbox import AsyncBaseSandbox, result_text

    async with AsyncBaseSandbox(
        session_id=request.session_id, user_id=request.user_id, base_url=self.sandbox_url
    ) as box:
        out = result_text(await box.run_shell_command(command="id -u"))
        yield f"{box.sandbox_id} {out.strip()}"


class Slow:
    """Marks when the slow tool of ``slow_app`` started and when it was torn down."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.finished = threading.Event()

    def reset(self) -> None:
        self.__init__()


slow = Slow()
slow_app = AgentApp(app_name="slow")


@slow_app.query(framework="text")
async def slow_reply(self, msgs, request, **kwargs):
    """Input "slow": says it is working, then runs a tool that never ends on its own (a
    stop or a vanished client ends it). Input "flood": text deltas, always ready, without
    end. Anything else: a quick reply naming the turn."""
    text = msgs[-1].get_text_content() if msgs else ""
    session = kwargs.get("session")
    if text == "flood":
        slow.started.set()
        while True:  # never suspends: only the runtime giving the loop a turn lets it stop
            yield "a"
    if text != "slow":
        yield f"turn {len(session.messages) // 2 + 1 if session else 1}: quick reply to {text}"
        return
    yield "working: "
    slow.started.set()
    try:
        await asyncio.sleep(3600)  # the slow tool
    finally:
        slow.finished.set()
    yield "done"


def ping() -> str:
    """Answers pong."""
    return "pong"


def tool_loop_app(base_url: str, api_key: str = "sk-test") -> AgentApp:
    """A ``native`` app on the model at ``base_url`` that runs every tool call the model
    asks for and asks it again, with no step limit of its own: against a model that always
    calls a tool, only the turn budgets end its turns."""
    from functions.runtime.models import OpenAICompatModel
    from functions.runtime.models.base import TextDelta, ToolCall, Usage
    from functions.runtime.models.messages import to_openai_messages
    from functions.runtime.protocol import DataContent, Message, MessageType
    from functions.runtime.tools import Toolkit

    app = AgentApp(app_name="tool-loop")

    def said(kind: str, data: dict) -> Message:
        role = "tool" if kind == MessageType.PLUGIN_CALL_OUTPUT else "assistant"
        return Message(role=role, type=kind, content=[DataContent(data=data)])

    @app.query(framework="native")
    async def loop(self, msgs, request, **kwargs):
        model = OpenAICompatModel(base_url, api_key, "fake-model", max_retries=0)
        toolkit = Toolkit()
        toolkit.register(ping)
        session = kwargs.get("session")
        chat = to_openai_messages([*(session.messages if session else []), *msgs])
        while True:
            calls: list[ToolCall] = []
            async for item in model.stream(chat, tools=toolkit.schemas()):
                if isinstance(item, TextDelta):
                    yield item.text
                elif isinstance(item, ToolCall):
                    calls.append(item)
                elif isinstance(item, Usage):
                    yield item
            if not calls:
                return
            chat.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in calls
                    ],
                }
            )
            for call in calls:
                data = {"call_id": call.id, "name": call.name}
                yield said(MessageType.PLUGIN_CALL, {**data, "arguments": call.arguments})
                output, _ = await toolkit.call(call.name, call.arguments, call.id)
                yield said(MessageType.PLUGIN_CALL_OUTPUT, {**data, "output": output})
                chat.append({"role": "tool", "tool_call_id": call.id, "content": output})

    return app
