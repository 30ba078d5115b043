"""The sandbox function over a store that refuses writes, on every backend: each write is a
503 JSON ``store_unavailable`` that leaves no container behind and the registry and the
backend agreeing; ``/health`` says the store is unwritable; all works again afterwards."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.store_faults import RefusingStore
from tests.sandbox.support import containers_of, text_of

STORE_FIELDS = (
    "store_url",
    "s3_endpoint_url",
    "s3_region",
    "oss_endpoint",
    "oss_access_key_id",
    "oss_access_key_secret",
    "store_retry_attempts",
    "store_retry_base_s",
)


def assert_unavailable(resp: httpx.Response, code: str = "store_unavailable") -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["code"] == code


@pytest.mark.parametrize("refusing_store", ["file-readonly", "s3"], indirect=True)
def test_every_write_of_the_sandbox_function_is_503_json(
    serve, settings, refusing_store: RefusingStore, docker_client
):
    store = {name: getattr(refusing_store.settings, name) for name in STORE_FIELDS}
    settings = settings.model_copy(update=store)
    http = serve(settings)
    assert http.get("/health").json() == {"status": "ok"}
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    base = f"/v1/sandboxes/{sid}"

    refusing_store.refuse()
    assert_unavailable(http.post("/v1/sandboxes", json={"type": "base"}))
    assert_unavailable(http.post("/v1/sandboxes", json={"type": "base", "session_id": "s"}))
    assert len(containers_of(docker_client, settings)) == 1  # what they launched was stopped
    assert_unavailable(http.delete(base))
    paused = http.post(f"{base}/pause")
    if paused.status_code != 501:  # a backend that pauses: the record could not say so
        assert_unavailable(paused)
    assert http.get(base).json()["status"] == "running"
    # a call needs no write while its record has time left (a short ttl_s would: a 503)
    call = http.post(f"{base}/tools/run_shell_command", json={"command": "echo ok"})
    assert call.status_code == 200 and text_of(call.json()) == "ok\n"
    assert http.post("/v1/reaper/run").status_code in (200, 503)
    assert_unavailable(http.get("/health"), "store_unwritable")

    refusing_store.allow()
    assert http.get("/health").json() == {"status": "ok"}
    assert http.delete(base).json() == {"sandbox_id": sid, "deleted": True}
    assert containers_of(docker_client, settings) == []
