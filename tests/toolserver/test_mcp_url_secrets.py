"""An MCP server's URL may carry the caller's key (``?api_key=``, ``user:password@``): the
tool server's errors name the server without it, since a failed call's text goes to the
model, the caller's stream and the session's history."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

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
