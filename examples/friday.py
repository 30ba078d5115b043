"""Friday, the seed's example assistant, on agentscope-faas.

A ReAct-style loop: the model streams an answer or asks for tools; tool calls and their
results stream to the client as ``plugin_call`` / ``plugin_call_output`` messages (an MCP
server's tools, ``Toolkit.add_mcp_server``, as ``mcp_call`` / ``mcp_call_output``) and go
back to the model, until it answers in text. History comes from the session the runtime loaded,
so any cold instance continues any conversation. With no model configured it runs on the
offline demo model; set MODEL_BASE_URL, MODEL_API_KEY and MODEL_NAME for a real one.

Tools the client passes (``request.tools``, e.g. function tools of the Responses API) are
offered to the model too; a call to one ends the turn with a ``function_call`` message for
the client to run, and the client's ``function_call_output`` in the next request continues.

Its code tools (``execute_python_code``, ``run_shell_command``) run in a sandbox bound to the
conversation: made on the first tool call, reused by every later turn of the session (the
sandbox function keeps one per session and type), and gone when its TTL lapses. Without
SANDBOX_URL (embedded mode) the sandbox lives for one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from functions.runtime.app import AgentApp
from functions.runtime.mcp_tools import call_kind
from functions.runtime.models import get_model
from functions.runtime.models.base import ReasoningDelta, TextDelta, ToolCall, Usage
from functions.runtime.models.messages import check_chat_input, to_openai_messages
from functions.runtime.protocol import (
    AgentRequest,
    DataContent,
    Message,
    MessageType,
    TextContent,
)
from functions.runtime.settings import get_settings
from functions.runtime.tools import Toolkit

if TYPE_CHECKING:  # the sandbox client loads when a turn first runs code
    from functions.runtime.sandbox import AsyncBaseSandbox

SYSTEM_PROMPT = "You're a helpful assistant named Friday."
MAX_STEPS = 8

agent_app = AgentApp(app_name="Friday", app_description="A helpful assistant")
# input the chat model cannot take (a video, a file known only by URL) is a 422 up front
agent_app.input_check(check_chat_input)


def get_current_time(timezone_name: str = "UTC") -> str:
    """The current date and time (only UTC is supported), ISO 8601."""
    if timezone_name.upper() != "UTC":
        raise ValueError("only UTC is supported")
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@agent_app.init
async def init_func(self: AgentApp) -> None:
    self.model = get_model(get_settings())
    self.toolkit = Toolkit()
    self.toolkit.register(get_current_time)


class SessionSandbox:
    """The conversation's sandbox, started on first use so turns without code pay nothing."""

    def __init__(self, request: AgentRequest) -> None:
        self.request = request
        self.box: AsyncBaseSandbox | None = None

    async def get(self) -> AsyncBaseSandbox:
        if self.box is None:
            from functions.runtime.sandbox import AsyncBaseSandbox

            box = AsyncBaseSandbox(session_id=self.request.session_id, user_id=self.request.user_id)
            await box.start()
            self.box = box
        return self.box

    async def close(self) -> None:
        if self.box is not None:
            await self.box.close()  # keeps a session's sandbox; removes an embedded one

    def tools(self) -> Toolkit:
        sandbox = self

        async def execute_python_code(code: str) -> str:
            """Run Python code in this conversation's sandbox and return what it printed.

            Variables persist across calls and turns; the value of a final expression is shown.
            """
            from functions.runtime.sandbox import result_text

            return result_text(await (await sandbox.get()).run_ipython_cell(code=code))

        async def run_shell_command(command: str) -> str:
            """Run a shell command in this conversation's sandbox; returns its output."""
            from functions.runtime.sandbox import result_text

            return result_text(await (await sandbox.get()).run_shell_command(command=command))

        toolkit = Toolkit()
        toolkit.register(execute_python_code)
        toolkit.register(run_shell_command)
        return toolkit


@agent_app.shutdown
async def shutdown_func(self: AgentApp) -> None:
    self.toolkit = None


def _call_message(kind: str, data: dict[str, Any]) -> Message:
    return Message(role="assistant", type=kind, content=[DataContent(data=data)])


class _Thoughts:
    """The model's reasoning (models that send ``reasoning_content``) as a ``reasoning``
    message growing with each piece; never sent back to the model."""

    def __init__(self) -> None:
        self.message: Message | None = None

    def add(self, piece: str) -> tuple[Message, bool]:
        before = self.message.text if self.message is not None else ""
        self.message = Message(
            id=self.message.id if self.message is not None else Message().id,
            role="assistant",
            type=MessageType.REASONING,
            content=[TextContent(text=before + piece)],
        )
        return self.message, False

    def close(self) -> list[tuple[Message, bool]]:
        done, self.message = self.message, None
        return [(done, True)] if done is not None else []


@agent_app.query(framework="native")
async def query_func(self: AgentApp, msgs: list[Message], request: AgentRequest, **kwargs: Any):
    session = kwargs.get("session")
    history = session.messages if session is not None else []
    chat = [{"role": "system", "content": SYSTEM_PROMPT}, *to_openai_messages([*history, *msgs])]
    params = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": request.stop,
        "seed": request.seed,
    }
    sandbox = SessionSandbox(request)
    toolkit = self.toolkit.merged(sandbox.tools())
    client_tools = [_as_dict(t) for t in request.tools or ()]
    try:
        async for item in _react(self.model, toolkit, chat, params, client_tools):
            yield item
    finally:
        await sandbox.close()


def _as_dict(tool: Any) -> dict[str, Any]:
    return tool.model_dump(exclude_none=True) if hasattr(tool, "model_dump") else dict(tool)


async def _react(
    model: Any,
    toolkit: Toolkit,
    chat: list[dict[str, Any]],
    params: dict[str, Any],
    client_tools: Sequence[dict[str, Any]] = (),
):
    """Stream the model's answer, running the tools it asks for, until it answers in text
    or calls a tool of the client's (which the client runs: the turn ends there)."""
    ours = toolkit.schemas()
    theirs = [t for t in client_tools if (t.get("function") or {}).get("name") not in toolkit.tools]
    tools = [*ours, *theirs] or None
    for _ in range(MAX_STEPS):
        text: list[str] = []
        calls = []
        thoughts = _Thoughts()
        async for item in model.stream(chat, tools=tools, **params):
            if isinstance(item, ReasoningDelta):
                yield thoughts.add(item.text)
                continue
            for done in thoughts.close():
                yield done
            if isinstance(item, TextDelta):
                text.append(item.text)
                yield item.text
            elif isinstance(item, ToolCall):
                calls.append(item)
            elif isinstance(item, Usage):
                yield item
        for done in thoughts.close():
            yield done
        if not calls:
            return
        chat.append(
            {
                "role": "assistant",
                "content": "".join(text) or None,
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
        client_calls = [c for c in calls if c.name not in toolkit.tools]
        for call in calls:
            if call in client_calls:
                continue
            kind, output_kind, extra = call_kind(call.name)  # plugin_call, or mcp_call
            yield _call_message(
                kind, {"call_id": call.id, "name": call.name, "arguments": call.arguments, **extra}
            )
            output, _ = await toolkit.call(call.name, call.arguments, call.id)
            yield _call_message(
                output_kind, {"call_id": call.id, "name": call.name, "output": output, **extra}
            )
            chat.append({"role": "tool", "tool_call_id": call.id, "content": output})
        for call in client_calls:  # the client runs these; its outputs continue the turn
            yield _call_message(
                MessageType.FUNCTION_CALL,
                {"call_id": call.id, "name": call.name, "arguments": call.arguments},
            )
        if client_calls:
            return
    yield f"\n(stopped after {MAX_STEPS} tool steps)"


if __name__ == "__main__":
    agent_app.run(host="127.0.0.1", port=8090)
