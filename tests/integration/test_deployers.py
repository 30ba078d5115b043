"""The seed's deploy snippet, imports changed: ``app.deploy(LocalDeployManager(...))``, then
its ``openai`` Responses call; ``AgentApp.stop_chat`` from the deploying program."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from openai import OpenAI

from functions.runtime.app import AgentApp
from functions.runtime.deployers import LocalDeployManager
from functions.runtime.settings import Settings
from tests.apps import slow, slow_reply


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # the seed's snippet passes no key
    return Settings(store_url=f"file://{tmp_path}/store", stop_poll_interval_s=0.1)


async def test_seed_deploy_snippet_then_its_openai_call(settings):
    app = AgentApp(app_name="Friday")

    @app.query(framework="text")
    async def query_func(self, msgs, request, **kwargs):
        yield f"You asked: {msgs[-1].get_text_content()}"

    deployer = LocalDeployManager(host="127.0.0.1", port=0, settings=settings)
    deploy_result = await app.deploy(deployer, endpoint_path="/process")
    try:
        url = deploy_result["url"]
        assert deployer.is_running and deploy_result["deploy_id"]

        def seed_client_call():
            client = OpenAI(base_url=f"{url}/compatible-mode/v1")
            return client.responses.create(
                model="any_name", input="What is the weather in Beijing?"
            )

        response = await asyncio.to_thread(seed_client_call)
        process = await asyncio.to_thread(
            httpx.post,
            f"{url}/process",
            json={"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        )
        agui = await asyncio.to_thread(
            httpx.post,
            f"{url}/ag-ui",
            json={
                "threadId": "t1",
                "runId": "r1",
                "messages": [{"id": "m", "role": "user", "content": "x"}],
            },
        )
    finally:
        await deployer.stop()
    assert response.output_text == "You asked: What is the weather in Beijing?"
    assert '"status":"completed"' in process.text
    assert '"type":"RUN_FINISHED"' in agui.text
    assert not deployer.is_running


async def test_a_custom_endpoint_path_and_stop_chat(settings):
    slow.reset()
    app = AgentApp(app_name="slow")
    app.query(framework="text")(slow_reply)
    deployer = LocalDeployManager(port=0, settings=settings)
    url = (await app.deploy(deployer, endpoint_path="/chat"))["url"]
    body = {
        "session_id": "s1",
        "input": [{"role": "user", "content": [{"type": "text", "text": "slow"}]}],
    }
    try:
        running = asyncio.create_task(
            asyncio.to_thread(httpx.post, f"{url}/chat", json=body, timeout=60)
        )
        assert await asyncio.to_thread(slow.started.wait, 30)
        assert await app.stop_chat("default", "s1") is True
        resp = await running
        assert await app.stop_chat("default", "s1") is False
    finally:
        await deployer.stop()
    events = [json.loads(x[6:]) for x in resp.text.splitlines() if x.startswith("data: ")]
    assert events[-1]["status"] == "canceled"
