"""Requests through the sandbox function, on every backend: paths forwarded exactly as named,
names no tool server may be asked for refused (400), the tool server's own refusals passed on
as what they are (413, 400), never a 502 "retry" or a 500."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.sandbox.support import text_of

MB = 1000 * 1000


@pytest.fixture
def box(serve, settings) -> tuple[httpx.Client, str]:
    http = serve(settings)
    created = http.post("/v1/sandboxes", json={"type": "base"})
    assert created.status_code == 201, created.text
    return http, created.json()["sandbox_id"]


def raw_request(base: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
    """Send ``path`` byte for byte (httpx would resolve its dot segments first)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def shell(http: httpx.Client, sid: str, command: str) -> str:
    resp = http.post(f"/v1/sandboxes/{sid}/tools/run_shell_command", json={"command": command})
    assert resp.status_code == 200, resp.text
    return text_of(resp.json())


def test_a_path_is_forwarded_exactly_as_named(box):
    http, sid = box
    files = f"/v1/sandboxes/{sid}/files"
    for raw, name in [("a%3Fb", "a?b"), ("c%23d", "c#d"), ("e%25f", "e%f"), ("sp%20ce", "sp ce")]:
        written = http.put(f"{files}/{raw}", content=name.encode())
        assert written.status_code == 200, written.text
        assert written.json()["path"] == name
        assert http.get(f"{files}/{raw}").content == name.encode()
    listing = {e["name"] for e in http.get(files).json()["entries"]}
    assert listing == {"a?b", "c#d", "e%f", "sp ce"}
    assert shell(http, sid, "ls -1").split("\n")[:4] == sorted(listing)
    # the raw query string goes on too: a directory removed with ?recursive=true
    http.put(f"{files}/d/x.txt", content=b"x").raise_for_status()
    assert http.delete(f"{files}/d", params={"recursive": "true"}).status_code == 200


DOT_PATHS = [
    "files/..%2Ftools%2Frun_shell_command",
    "files/%2e%2e/tools/run_shell_command",
    "files/x/..%2F..%2Ftools%2Frun_shell_command",
    "files/../tools/run_shell_command",  # sent raw: a literal dot segment
]
CONTROL_PATHS = ["files/a%01b", "files/a%00b", "files/dir%7F/x", "tools/a%01", "tools/run%00x"]


def test_a_file_path_never_reaches_a_tool(box):
    http, sid = box
    for path in DOT_PATHS:
        status, body = raw_request(
            str(http.base_url), "POST", f"/v1/sandboxes/{sid}/{path}", b'{"command": "id"}'
        )
        assert (status, body.get("code")) == (400, "invalid_path"), (path, body)
        assert "uid=" not in str(body)


def test_a_control_character_in_a_path_or_tool_name_is_400(box):
    http, sid = box
    json_body = {"Content-Type": "application/json"}
    for path in CONTROL_PATHS:
        method = "POST" if path.startswith("tools") else "PUT"
        resp = http.request(method, f"/v1/sandboxes/{sid}/{path}", content=b"{}", headers=json_body)
        assert resp.status_code == 400, (path, resp.text)
        assert resp.json()["code"] == "invalid_path"


def test_the_tool_servers_refusals_come_back_as_what_they_are(box):
    http, sid = box
    long_name = http.put(f"/v1/sandboxes/{sid}/files/{'n' * 300}", content=b"x")
    assert long_name.status_code == 400, long_name.text
    assert long_name.json()["code"] == "invalid_path"
    big = http.put(f"/v1/sandboxes/{sid}/files/big.bin", content=b"x" * (70 * MB))
    assert big.status_code == 413, big.text  # MAX_UPLOAD_BYTES (64 MiB) says so first
    assert big.json()["code"] == "payload_too_large"
    assert shell(http, sid, "echo still here") == "still here\n"


def test_an_upload_over_the_tool_servers_own_cap_is_its_413(serve, settings):
    """Allowed by a larger MAX_UPLOAD_BYTES, refused by the tool server (64 MiB): its 413
    reaches the caller, not a reset connection reported as 502."""
    http = serve(settings.model_copy(update={"max_upload_bytes": 80 * MB}))
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    big = http.put(f"/v1/sandboxes/{sid}/files/big.bin", content=b"x" * (70 * MB))
    assert big.status_code == 413, big.text
    assert big.json()["code"] == "payload_too_large"
    assert http.put(f"/v1/sandboxes/{sid}/files/ok.bin", content=b"x" * MB).status_code == 200
