"""The emulator's Function URL builds the event as AWS's does: ``rawPath`` as the client
sent it, still percent-encoded (the handler decodes it once; a decoded one would lose an
id's encoded ``/`` and decode a ``%25`` twice)."""

from __future__ import annotations

import json

import httpx

from local_emulator.instances import LambdaFunction
from local_emulator.triggers import FunctionUrl
from tests.fixtures.servers import serve_app

ECHO = """
import json

def handler(event, context):
    seen = {"rawPath": event["rawPath"], "path": event["requestContext"]["http"]["path"]}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(seen)}
"""


def test_raw_path_is_the_path_as_sent(tmp_path):
    (tmp_path / "echo.py").write_text(ECHO)
    function = LambdaFunction("echo", tmp_path, "echo.handler", timeout_s=10, memory_mb=128)
    with serve_app(FunctionUrl(function)) as url:
        sent = "/v1/users/alice/sessions/a%2Fb%20c/50%2541"
        answer = httpx.get(f"{url}{sent}?q=%2F", timeout=30)
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text) == {"rawPath": sent, "path": sent}
