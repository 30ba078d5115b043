"""An MCP server's URL may carry the caller's key (``?api_key=``, ``user:password@``): the
tool server's errors name the server without it, since a failed call's text goes to the
model, the caller's stream and the session's history."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakes.mcp_server_stdlib import answer_json, handle
from tests.fixtures.servers import free_port, wait_http
from tests.toolserver.test_mcp_servers import STDLIB_SERVER, add

KEY = "mcp-key-31337"
PASSWORD = "mcp-pw-27182"


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """The stdlib MCP server over Streamable HTTP on a free port, stopped at the end."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STDLIB_SERVER), "--http", str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp", proc)
        yield port
    finally:
        proc.kill()
        proc.wait()


def test_a_failed_call_names_the_servers_url_without_its_key(toolserver):
    with http_server() as port:
        url = f"http://127.0.0.1:{port}/mcp?tenant=t1&api_key={KEY}"
        added = add(toolserver, {"remote": {"url": url}})
        assert added.status_code == 200, added.text
        assert toolserver.call("remote__echo", text="up")["content"][0]["text"] == "up"
    failed = toolserver.call("remote__echo", text="gone")  # the server is down now
    assert failed["isError"] is True
    text = failed["content"][0]["text"]
    assert f"could not reach http://127.0.0.1:{port}/mcp?tenant=~&api_key=~" in text
    assert KEY not in text


def test_a_server_that_cannot_be_reached_is_named_without_its_credentials(start_toolserver):
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="2")
    url = f"http://127.0.0.1:9/mcp?api_key={KEY}"
    refused = add(toolserver, {"remote": {"url": url}})
    assert refused.status_code == 422, refused.text
    assert "could not reach http://127.0.0.1:9/mcp?api_key=~" in refused.text
    assert KEY not in refused.text


def test_a_url_with_user_and_password_works_and_is_named_without_them(start_toolserver):
    # urllib cannot send user:password@ (http.client read it as a port, and quoted it in
    # its error): they go as HTTP Basic credentials and no message holds the password
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="2")
    with http_server() as port:
        url = f"http://svc:{PASSWORD}@127.0.0.1:{port}/mcp"
        added = add(toolserver, {"remote": {"url": url}})
        assert added.status_code == 200, added.text
        assert toolserver.call("remote__echo", text="up")["content"][0]["text"] == "up"
    failed = toolserver.call("remote__echo", text="gone")["content"][0]["text"]
    assert f"http://~@127.0.0.1:{port}/mcp" in failed and PASSWORD not in failed
    for url in (f"http://svc:{PASSWORD}@127.0.0.1/mcp", f"http://svc:{PASSWORD}@[::1/mcp"):
        refused = add(toolserver, {"other": {"url": url}})
        assert refused.status_code in (400, 422), refused.text
        assert PASSWORD not in refused.text


@contextlib.contextmanager
def recording_server(redirect: tuple[int, str] | None = None) -> Iterator[tuple[int, list]]:
    """An HTTP server on 127.0.0.1 that records each request (method, path, headers, body).
    With ``redirect`` (status, Location; ``{port}`` is its own) it answers every request
    under ``/old`` with that redirect; otherwise it answers as an MCP server (the stdlib
    test server's ``handle``)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _go(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            if redirect is not None and self.path.startswith("/old"):
                status, location = redirect
                self.send_response(status)
                self.send_header("Location", location.format(port=self.server.server_port))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer_json(self, handle(json.loads(body)) if self.command == "POST" and body else None)

        do_GET = do_POST = do_DELETE = _go

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()


SECRET_HEADERS = {"Authorization": f"Bearer hdr-{KEY}", "X-Api-Key": f"x-{KEY}", "X-Tenant": KEY}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed_and_sends_no_secret(start_toolserver, status):
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="5")
    with recording_server() as (catcher, caught):
        target = f"http://127.0.0.1:{catcher}/steal?k={KEY}"
        with recording_server((status, target)) as (port, seen):
            url = f"http://svc:{PASSWORD}@127.0.0.1:{port}/old/mcp?api_key={KEY}"
            refused = add(toolserver, {"rd": {"url": url, "headers": SECRET_HEADERS}})
            assert refused.status_code == 422, refused.text
            detail = refused.json()["detail"]
            assert f"HTTP {status} from http://~@127.0.0.1:{port}/old/mcp?api_key=~" in detail
            assert f"a redirect to http://127.0.0.1:{catcher}, not followed" in detail
            for secret in (KEY, PASSWORD, "steal"):
                assert secret not in refused.text
            assert [r["method"] for r in seen] == ["POST"]  # the first request, nothing more
    assert caught == []  # the other origin never heard of it


def test_a_redirect_to_the_same_host_on_another_port_or_scheme_is_not_followed(
    start_toolserver,
):
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="5")
    with recording_server() as (other, caught):
        for location in (f"http://127.0.0.1:{other}/mcp", "https://127.0.0.1:{port}/mcp"):
            with recording_server((307, location)) as (port, seen):
                url = f"http://127.0.0.1:{port}/old"
                refused = add(toolserver, {"rd": {"url": url, "headers": SECRET_HEADERS}})
                assert refused.status_code == 422, refused.text
                assert "HTTP 307" in refused.text and "not followed" in refused.text
                assert KEY not in refused.text and len(seen) == 1
    assert caught == []


def test_a_same_origin_307_or_308_is_followed_with_its_method_body_and_headers(
    start_toolserver,
):
    # a server mounted at /mcp/ that answers /mcp with a 307 (Starlette does) still works
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="5")
    for status in (307, 308):
        with recording_server((status, "/mcp/")) as (port, seen):
            url = f"http://127.0.0.1:{port}/old"
            added = add(toolserver, {f"ok{status}": {"url": url, "headers": SECRET_HEADERS}})
            assert added.status_code == 200, added.text
            echoed = toolserver.call(f"ok{status}__echo", text="moved")
            assert echoed["content"][0]["text"] == "moved"
        followed = [r for r in seen if r["path"] == "/mcp/"]
        assert followed and all(r["method"] == "POST" and r["body"] for r in followed)
        assert all(r["headers"]["X-Api-Key"] == f"x-{KEY}" for r in followed)
        calls = [json.loads(r["body"]) for r in followed]
        assert {"initialize", "tools/list", "tools/call"} <= {c.get("method") for c in calls}


def test_a_location_s_own_credentials_are_dropped_and_an_ipv6_host_is_named_as_urls_do(
    start_toolserver,
):
    toolserver = start_toolserver(TOOLSERVER_MCP_START_TIMEOUT_S="5")
    with recording_server((307, "http://evil:pw@127.0.0.1:{port}/mcp/")) as (port, seen):
        url = f"http://127.0.0.1:{port}/old"
        added = add(toolserver, {"creds": {"url": url, "headers": SECRET_HEADERS}})
        assert added.status_code == 200, added.text
    followed = [r for r in seen if r["path"] == "/mcp/"]
    mine = SECRET_HEADERS["Authorization"]  # the caller's, never the Location's user:password
    assert followed and all(r["headers"]["Authorization"] == mine for r in followed)
    with recording_server((307, "http://[::1]:9/mcp")) as (port, _):
        url = f"http://127.0.0.1:{port}/old"
        refused = add(toolserver, {"v6": {"url": url, "headers": SECRET_HEADERS}})
    assert refused.status_code == 422 and "a redirect to http://[::1]:9," in refused.text
