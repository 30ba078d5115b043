"""The agent the stop-latency benchmark serves: says a word, then a tool that never ends."""

import asyncio

from functions.runtime.app import AgentApp

agent_app = AgentApp(app_name="slow")


@agent_app.query(framework="text")
async def reply(self, msgs, request, **kwargs):
    yield "working "
    await asyncio.sleep(3600)  # a slow tool: only a stop ends it
    yield "done"
