"""On FC the function role's key is taken from the newest request, not only the environment.

FC puts the role's STS key in the environment when an instance starts and in every
request's ``x-fc-access-key-*`` / ``x-fc-security-token`` headers; the environment's expires
after 36 hours. Real parts: the state function under uvicorn with ``FC_FUNCTION_NAME`` set,
oss2 signing against a server that records what it is sent (and answers as OSS does for a
missing object), the FC launcher's SDK client, the emulator's FC trigger.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from functions.runtime import fc_role
from functions.runtime.sandbox.launchers.alibaba import alibaba_credentials
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.state.app import create_app as state_app
from tests.fixtures.servers import serve_app

ENV_KEY = ("STS.env-key", "env-secret", "env-token")
FRESH = {
    "x-fc-access-key-id": "STS.fresh-key",
    "x-fc-access-key-secret": "fresh-secret",
    "x-fc-security-token": "fresh-token",
}


@pytest.fixture
def on_fc(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("FC_FUNCTION_NAME", "agentscope-state")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ENV_KEY[0])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ENV_KEY[1])
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", ENV_KEY[2])
    fc_role.forget()
    yield
    fc_role.forget()


class RecordingOss(BaseHTTPRequestHandler):
    """Answers every GET as OSS answers a missing object; keeps the security tokens sent."""

    tokens: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        RecordingOss.tokens.append(self.headers.get("x-oss-security-token", ""))
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
            b"<Message>The specified key does not exist.</Message>"
            b"<RequestId>r-1</RequestId><HostId>h</HostId></Error>"
        )
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-oss-request-id", "r-1")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def oss_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingOss)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RecordingOss.tokens = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_store_signs_with_the_role_key_the_newest_request_brought(on_fc, oss_url):
    settings = Settings(store_url="oss://bucket/p", oss_endpoint=oss_url)
    store = open_store(settings.store_url, settings)
    with serve_app(state_app(settings)) as url:
        assert httpx.get(f"{url}/nowhere", headers=FRESH).status_code == 404
        # an older key, a partial one: neither replaces the newest
        stale = {**FRESH, "x-fc-security-token": ""}
        assert httpx.get(f"{url}/nowhere", headers=stale).status_code == 404
    assert asyncio.run(store.get("k")) is None
    assert RecordingOss.tokens == ["fresh-token"]


def test_without_a_request_the_environments_key_signs(on_fc, oss_url):
    settings = Settings(store_url="oss://bucket/p", oss_endpoint=oss_url)
    assert asyncio.run(open_store(settings.store_url, settings).get("k")) is None
    assert RecordingOss.tokens == ["env-token"]


def test_an_operators_own_key_is_never_replaced(on_fc):
    settings = Settings(
        alibaba_cloud_access_key_id="LTAI-operator", alibaba_cloud_access_key_secret="op-secret"
    )
    fc_role.note([(k.encode(), v.encode()) for k, v in FRESH.items()])
    credentials = alibaba_credentials(settings)
    assert credentials.access_key_id == "LTAI-operator"
    assert credentials.access_key_secret == "op-secret"
    role = alibaba_credentials(Settings())  # the environment's: the role's, so refreshed
    assert (role.access_key_id, role.security_token) == ("STS.fresh-key", "fresh-token")
    assert "fresh-secret" not in repr(role) and "fresh-token" not in repr(role)


def test_the_fc_launcher_makes_its_client_again_with_a_fresh_key(on_fc):
    from functions.runtime.sandbox.launchers.fc import FcLauncher

    launcher = FcLauncher(Settings(fc_region="cn-hangzhou", fc_account_id="123"))
    first = launcher.client()
    assert launcher.client() is first
    fc_role.note([(k.encode(), v.encode()) for k, v in FRESH.items()])
    again = launcher.client()
    assert again is not first and launcher.client() is again


def test_off_fc_the_headers_are_not_read(monkeypatch, oss_url):
    monkeypatch.delenv("FC_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ENV_KEY[0])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ENV_KEY[1])
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", ENV_KEY[2])
    fc_role.forget()
    settings = Settings(store_url="oss://bucket/p", oss_endpoint=oss_url)
    with serve_app(state_app(settings)) as url:
        assert httpx.get(f"{url}/nowhere", headers=FRESH).status_code == 404
    assert asyncio.run(open_store(settings.store_url, settings).get("k")) is None
    assert RecordingOss.tokens == ["env-token"]
