"""Friday on agentscope 2.x: an ``Agent`` served by the runtime (``framework="agentscope"``).

The model is ``OpenAIChatModel`` on MODEL_BASE_URL / MODEL_API_KEY / MODEL_NAME (any
OpenAI-compatible endpoint; ``make local`` serves the offline demo model there when none is
set). Friday runs Python in the conversation's sandbox: the sandbox method
``run_ipython_cell`` offered to the model through ``sandbox_tool_adapter`` and agentscope's
``FunctionTool``, the sandbox started on the first call and kept for the session, so later
turns find its variables. The agent's ``AgentState`` (its context, and a reply parked on a
question) is loaded from the state service before each turn and saved after it, so any cold
instance continues any conversation.

    AGENT_APP=examples.agentscope_friday:agent_app make local
"""

from __future__ import annotations

from typing import Any

from agentscope.agent import Agent, InjectionConfig
from agentscope.credential import OpenAICredential
from agentscope.model import OpenAIChatModel
from agentscope.permission import PermissionBehavior, PermissionDecision
from agentscope.state import AgentState
from agentscope.tool import FunctionTool, Toolkit

from functions.runtime.adapters.agentscope import reply_inputs
from functions.runtime.adapters.agentscope.tool import sandbox_tool_adapter
from functions.runtime.app import AgentApp
from functions.runtime.protocol import AgentRequest
from functions.runtime.sandbox import AsyncBaseSandbox
from functions.runtime.settings import get_settings

SYSTEM_PROMPT = "You're a helpful assistant named Friday."
# the sandbox is the isolation: no need to ask the user before each run
ALLOWED = PermissionDecision(behavior=PermissionBehavior.ALLOW, message="runs in the sandbox")

agent_app = AgentApp(app_name="Friday", app_description="A helpful assistant")


class SessionSandbox(AsyncBaseSandbox):
    """The conversation's sandbox, started by its first tool call: turns without code pay
    nothing, and an agent without Docker still answers (its code tool reports the error)."""

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        await self.start()
        return await super().call_tool(name, arguments)


def model() -> OpenAIChatModel:
    settings = get_settings()
    if not settings.model_base_url:
        raise RuntimeError(
            "set MODEL_BASE_URL (and MODEL_API_KEY, MODEL_NAME), or run under make local, "
            "which serves the offline demo model"
        )
    key = settings.model_api_key.get_secret_value() if settings.model_api_key else "EMPTY"
    credential = OpenAICredential(api_key=key, base_url=settings.model_base_url)
    return OpenAIChatModel(credential=credential, model=settings.model_name, stream=True)


@agent_app.query(framework="agentscope")
async def query_func(self: AgentApp, msgs: list, request: AgentRequest, **kwargs: Any):
    session_id, user_id = request.session_id, request.user_id
    state = await self.state_service.export_state(session_id=session_id, user_id=user_id)
    box = SessionSandbox(session_id=session_id, user_id=user_id)  # started by its first call
    python = FunctionTool(sandbox_tool_adapter(box.run_ipython_cell), permission=ALLOWED)
    agent = Agent(
        name="Friday",
        system_prompt=SYSTEM_PROMPT,
        model=model(),
        toolkit=Toolkit(tools=[python]),
        state=AgentState.model_validate(state) if state else None,
        # no injected runtime-state message: the conversation is what the user said
        injection_config=InjectionConfig(inject_runtime_state=False),
    )
    try:
        async for item in agent.reply_stream(reply_inputs(agent, msgs), yield_final_msg=True):
            yield item
    finally:
        await box.close()  # the session's sandbox stays for the next turn
    await self.state_service.save_state(
        user_id=user_id, session_id=session_id, state=agent.state.model_dump(mode="json")
    )


if __name__ == "__main__":
    agent_app.run(host="127.0.0.1", port=8090)
