"""The AgentScope Runtime README's example (agentscope 1.x), on agentscope-faas.

Changed from the README, line for line:

* the import lines: ``AgentApp``, ``AgentRequest``, the services and the memory come from
  ``functions.runtime``; ``execute_python_code`` comes from
  ``functions.runtime.adapters.agentscope.tool`` (the same tool, run in the conversation's
  sandbox instead of a local process) instead of ``agentscope.tool``;
  ``OpenAIChatModel`` is imported instead of ``DashScopeChatModel``;
* the model line: ``OpenAIChatModel`` on MODEL_NAME / MODEL_API_KEY / MODEL_BASE_URL
  (DashScope's compatible mode speaks that protocol, and ``make local`` serves the offline
  demo model there when no model is set);
* ``agent_app.run(...)`` runs only when the file is run as a script, so that the query
  function can import the app.

It needs agentscope 1.x, which cannot share an environment with 2.x: install the
``agentscope1`` extra in a virtualenv of its own (``make test`` builds
``.venv-agentscope1``)::

    python -m venv .venv-agentscope1
    .venv-agentscope1/bin/pip install -e '.[query,serve,agentscope1]'
    MODEL_BASE_URL=... MODEL_API_KEY=... .venv-agentscope1/bin/python examples/seed_friday_v1.py
"""
# ruff: noqa: I001  (the README's import order, kept so the two can be compared)

import os

from agentscope.agent import ReActAgent
from agentscope.model import OpenAIChatModel
from agentscope.formatter import DashScopeChatFormatter
from agentscope.tool import Toolkit
from agentscope.pipeline import stream_printing_messages

from functions.runtime.adapters.agentscope.tool import execute_python_code
from functions.runtime.app import AgentApp
from functions.runtime.protocol import AgentRequest
from functions.runtime.adapters.agentscope.memory import (
    AgentScopeSessionHistoryMemory,
)
from functions.runtime.services import (
    InMemoryStateService,
)
from functions.runtime.services import (
    InMemorySessionHistoryService,
)

agent_app = AgentApp(
    app_name="Friday",
    app_description="A helpful assistant",
)


@agent_app.init
async def init_func(self):
    self.state_service = InMemoryStateService()
    self.session_service = InMemorySessionHistoryService()

    await self.state_service.start()
    await self.session_service.start()


@agent_app.shutdown
async def shutdown_func(self):
    await self.state_service.stop()
    await self.session_service.stop()


@agent_app.query(framework="agentscope")
async def query_func(
    self,
    msgs,
    request: AgentRequest = None,
    **kwargs,
):
    session_id = request.session_id
    user_id = request.user_id

    state = await self.state_service.export_state(
        session_id=session_id,
        user_id=user_id,
    )

    toolkit = Toolkit()
    toolkit.register_tool_function(execute_python_code)

    agent = ReActAgent(
        name="Friday",
        model=OpenAIChatModel(
            os.getenv("MODEL_NAME", "qwen-turbo"),
            api_key=os.getenv("MODEL_API_KEY"),
            stream=True,
            client_kwargs={"base_url": os.getenv("MODEL_BASE_URL")},
        ),
        sys_prompt="You're a helpful assistant named Friday.",
        toolkit=toolkit,
        memory=AgentScopeSessionHistoryMemory(
            service=self.session_service,
            session_id=session_id,
            user_id=user_id,
        ),
        formatter=DashScopeChatFormatter(),
    )
    agent.set_console_output_enabled(enabled=False)

    if state:
        agent.load_state_dict(state)

    async for msg, last in stream_printing_messages(
        agents=[agent],
        coroutine_task=agent(msgs),
    ):
        yield msg, last

    state = agent.state_dict()

    await self.state_service.save_state(
        user_id=user_id,
        session_id=session_id,
        state=state,
    )


if __name__ == "__main__":
    agent_app.run(host="127.0.0.1", port=8090)
