"""A session deleted while one of its turns runs: the turn's stream still ends properly.

The turn's commit finds the session gone (services/history.py commit_turn raises
SessionNotFound); the client must get a final response saying the turn was not saved,
not a stream cut off mid-body.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.services import SessionHistoryService
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from tests.apps import gate, gated_app
from tests.fixtures.servers import serve_app

DEADLINE_S = 30.0


@pytest.fixture(autouse=True)
def _reset_gate():
    gate.reset()
    yield
    gate.reset()


def _delete(store_url: str, session_id: str) -> bool:
    async def run() -> bool:
        store = open_store(store_url)
        try:
            return await SessionHistoryService(store).delete_session("default", session_id)
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.mark.parametrize("stream", [True, False])
def test_session_deleted_during_turn(tmp_path, stream):
    store_url = f"file://{tmp_path}/store"
    settings = Settings(store_url=store_url)
    body = {
        "input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "session_id": "doomed",
    }
    with (
        serve_app(build_app(gated_app, settings)) as url,
        httpx.Client(base_url=url, timeout=DEADLINE_S) as client,
    ):
        gate.release.set()
        assert client.post("/process", json={**body, "stream": False}).status_code == 200
        gate.reset()
        result: dict = {}

        def turn() -> None:
            try:
                result["response"] = client.post("/process", json={**body, "stream": stream})
            except Exception as exc:  # a stream cut off mid-body
                result["error"] = exc

        thread = threading.Thread(target=turn)
        thread.start()
        assert gate.entered.wait(DEADLINE_S)
        assert _delete(store_url, "doomed")
        gate.release.set()
        thread.join(DEADLINE_S)

    assert "error" not in result, result.get("error")
    response = result["response"]
    if stream:
        assert response.status_code == 200
        events = [json.loads(x[6:]) for x in response.text.splitlines() if x.startswith("data: ")]
        final = events[-1]
        assert final["object"] == "response"
        assert final["status"] == "failed"
        assert final["error"]["code"] == "session_not_found"
    else:
        assert response.status_code in (200, 404)
        assert response.json().get("code", (response.json().get("error") or {}).get("code")) == (
            "session_not_found"
        )
