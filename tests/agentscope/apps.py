"""agentscope 2.x apps the suite serves: a real ``Agent`` on a model at ``base_url``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentscope.agent import Agent, InjectionConfig
from agentscope.credential import OpenAICredential
from agentscope.model import OpenAIChatModel
from agentscope.permission import (
    PermissionBehavior,
    PermissionContext,
    PermissionDecision,
    PermissionMode,
)
from agentscope.state import AgentState
from agentscope.tool import FunctionTool, Toolkit

from functions.runtime.adapters.agentscope import reply_inputs
from functions.runtime.app import AgentApp


def add(a: int, b: int) -> str:
    """Add two integers.

    Args:
        a (int): The first.
        b (int): The second.
    """
    return str(a + b)


ALLOW = PermissionDecision(behavior=PermissionBehavior.ALLOW, message="allowed in tests")


def agentscope_app(
    base_url: str,
    *,
    api_key: str = "sk-test",
    tools: Callable[[], list[Any]] | None = None,
    mcps: Callable[[], list[Any]] | None = None,
    allow: bool = True,
    bypass: bool = False,
    fail_after: int | None = None,
) -> AgentApp:
    """An app whose agent keeps its ``AgentState`` in the state service between turns.

    ``allow``: the ``add`` tool needs no confirmation (else the reply parks on it);
    ``bypass``: no tool asks (MCP tools); ``fail_after``: the handler raises after that
    many items.
    """
    app = AgentApp(app_name="as2")

    @app.query(framework="agentscope")
    async def query(self: AgentApp, msgs: list, request: Any, **kwargs: Any):
        saved = await self.state_service.export_state(request.user_id, request.session_id)
        state = AgentState.model_validate(saved) if saved else AgentState()
        if bypass:
            state.permission_context = PermissionContext(mode=PermissionMode.BYPASS)
        model = OpenAIChatModel(
            credential=OpenAICredential(api_key=api_key, base_url=base_url),
            model="fake-model",
            stream=True,
            max_retries=0,
        )
        listed = tools() if tools else [FunctionTool(add, permission=ALLOW if allow else None)]
        agent = Agent(
            name="Friday",
            system_prompt="You are Friday.",
            model=model,
            toolkit=Toolkit(tools=listed, mcps=mcps() if mcps else None),
            state=state,
            injection_config=InjectionConfig(inject_runtime_state=False),
        )
        count = 0
        async for item in agent.reply_stream(reply_inputs(agent, msgs), yield_final_msg=True):
            yield item
            count += 1
            if fail_after is not None and count >= fail_after:
                raise RuntimeError("deliberate failure mid-reply")
        await self.state_service.save_state(
            request.user_id, agent.state.model_dump(mode="json"), request.session_id
        )

    return app
