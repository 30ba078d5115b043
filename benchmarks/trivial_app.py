"""The trivial text agent the load benchmark serves: one short streamed reply."""

from functions.runtime.app import AgentApp

agent_app = AgentApp(app_name="trivial")


@agent_app.query(framework="text")
async def reply(self, msgs, request, **kwargs):
    yield "pong"
