"""Log lines and spans never carry a live view's token, nor a forged line from a path."""

from __future__ import annotations

import asyncio

from functions.runtime.redact import loggable_path, loggable_query
from local_emulator.serve import AccessLog


def test_a_view_token_is_taken_out_of_paths_and_queries():
    door = "/v1/sandboxes/sbx-1/desktop/ce05f753aa/vnc.html"
    assert loggable_path(door) == "/v1/sandboxes/sbx-1/desktop/~/vnc.html"
    assert loggable_path("/v1/sandboxes/sbx-1/desktop/ce05f753aa") == (
        "/v1/sandboxes/sbx-1/desktop/~"
    )
    assert loggable_path("/v1/sandboxes/sbx-1/files/desktop/a") == (
        "/v1/sandboxes/sbx-1/files/desktop/a"
    )
    # a mistyped path still holds the token: it is taken out all the same
    assert loggable_path("//v1/sandboxes/sbx-1/desktop/ce05f753aa/x") == (
        "//v1/sandboxes/sbx-1/desktop/~/x"
    )
    assert loggable_path("/V1/Sandboxes/sbx-1/DESKTOP/ce05f753aa") == (
        "/V1/Sandboxes/sbx-1/DESKTOP/~"
    )
    # every query value: a client may put any secret in one (?access_token=, ?api_key=)
    assert loggable_query("token=abc&x=1") == "token=~&x=~"
    # an item that is no pair may be a key alone (?sk-...): it goes too
    assert loggable_query("access_token=eyJ.a.b&api_key=sk-LEAK&sk-BARE") == (
        "access_token=~&api_key=~&~"
    )


def test_the_emulator_prints_the_path_as_sent(capsys):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        return None

    forged = "/v1/users/a\n[query] POST /admin/turns/stop 202 1.0ms"
    scope = {
        "type": "http",
        "method": "GET",
        "path": forged,
        "raw_path": b"/v1/users/a%0A%5Bquery%5D%20POST%20%2Fadmin%2Fturns%2Fstop%20202%201.0ms",
        "query_string": b"token=secret-view-token",
        "headers": [],
    }
    asyncio.run(AccessLog(app, "state")(scope, receive, send))
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("[state] GET /v1/users/a%0A%5Bquery%5D") and "?token=~ 404" in line


def test_the_server_s_own_request_lines_lose_the_token(capsys):
    """Records as uvicorn makes them (its access and WebSocket lines), through the handler
    configure_logging installs (handed to it directly: uvicorn's loggers are configured by
    whichever server ran last in this process)."""
    import logging
    import sys

    from functions.runtime.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("text", sys.stdout)
    (handler,) = root.handlers
    root.handlers[:], root.level = handlers, level
    target = "/v1/sandboxes/sbx-1/desktop/ce05f753aa/websockify?token=ce05f753aa"
    lines = [
        ("uvicorn.error", '%s - "WebSocket %s" [accepted]', ("h", target)),
        ("uvicorn.access", '%s - "%s %s HTTP/%s" %d', ("h", "GET", target, "1.1", 200)),
    ]
    for name, message, args in lines:
        handler.handle(logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None))
    out = capsys.readouterr().out
    assert "ce05f753aa" not in out
    assert out.count("/v1/sandboxes/sbx-1/desktop/~/websockify?token=~") == 2
