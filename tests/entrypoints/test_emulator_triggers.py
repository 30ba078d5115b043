"""The emulator's triggers pass the path on as the platforms do: as the client sent it,
still percent-encoded - in a Function URL event's ``rawPath``, and in the request FC's HTTP
trigger or the Lambda Web Adapter makes of it. A decoded path would lose an id's encoded
``/``, decode a ``%25`` twice and turn an encoded ``?`` into a query."""

from __future__ import annotations

import json

import httpx
import pytest

from local_emulator.instances import BASE_PYTHON, LambdaFunction, ServerFunction
from local_emulator.triggers import FunctionUrl, StreamingProxy
from tests.fixtures.servers import free_port, serve_app

SENT = "/v1/users/alice/sessions/a%2Fb%20c/50%2541%3Fd"

ECHO = """
import json

def handler(event, context):
    seen = {"rawPath": event["rawPath"], "path": event["requestContext"]["http"]["path"]}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(seen)}
"""

ECHO_SERVER = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"target": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

port = int(os.environ.get("FC_SERVER_PORT") or os.environ["PORT"])
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def echo_server(tmp_path, platform: str) -> ServerFunction:
    """``ECHO_SERVER`` as the function, told its port as ``platform`` tells it."""
    (tmp_path / "serve.py").write_text(ECHO_SERVER)
    port = free_port()
    env = {"FC_SERVER_PORT": str(port)} if platform == "fc" else {"PORT": str(port)}
    command = [BASE_PYTHON, "-I", "-S", str(tmp_path / "serve.py")]
    return ServerFunction("echo", tmp_path, command, port, env, timeout_s=10.0)


def test_a_function_url_event_has_the_path_as_sent(tmp_path):
    (tmp_path / "echo.py").write_text(ECHO)
    function = LambdaFunction("echo", tmp_path, "echo.handler", timeout_s=10, memory_mb=128)
    with serve_app(FunctionUrl(function)) as url:
        answer = httpx.get(f"{url}{SENT}?q=%2F", timeout=30)
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text) == {"rawPath": SENT, "path": SENT}


@pytest.mark.parametrize("platform", ["fc", "aws"])
def test_a_function_server_gets_the_path_as_sent(tmp_path, platform):
    """FC's HTTP trigger (``fc``) and the Lambda Web Adapter (``aws``)."""
    with serve_app(StreamingProxy(echo_server(tmp_path, platform), platform)) as url:
        answer = httpx.get(f"{url}{SENT}?q=%2F", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"target": f"{SENT}?q=%2F"}


@pytest.mark.parametrize("platform", ["fc", "aws"])
def test_fcs_own_request_headers_come_from_fc_alone(tmp_path, platform):
    """FC refuses a client's ``x-fc-`` headers (the role's key comes in them), so the
    function can trust them; behind a Lambda door they are any header."""
    forged = {"X-Fc-Access-Key-Id": "STS.forged", "x-fc-security-token": "t"}
    with serve_app(StreamingProxy(echo_server(tmp_path, platform), platform)) as url:
        answer = httpx.get(f"{url}/x", headers=forged, timeout=30)
    if platform == "fc":
        assert answer.status_code == 400
        assert answer.json()["Code"] == "InvalidArgument"
    else:
        assert answer.status_code == 200, answer.text
