"""The artifact-mode emulator ends an invocation that overruns its function's timeout as the
platforms do: the instance is killed, the caller gets the platform's error, and the next
request starts a new instance.

The functions here are two-line artifacts of the standard library (a Lambda handler, an
HTTP server as FC's custom runtime and the Lambda Web Adapter run one) whose ``/hang``
waits on an event nothing sets; their timeout is one second.
"""

from __future__ import annotations

import asyncio
import json
import textwrap

import httpx
import pytest

from local_emulator.instances import BASE_PYTHON, InvokeError, LambdaFunction, ServerFunction
from local_emulator.triggers import StreamingProxy
from tests.fixtures.servers import free_port, serve_app

HANDLER = """
import os, threading

def handler(event, context):
    if event.get("rawPath") == "/hang":
        threading.Event().wait()
    return {"statusCode": 200, "body": str(os.getpid())}
"""

SERVER = """
import json, os, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hang":
            threading.Event().wait()
        seen = self.headers.get("x-amzn-lambda-context") or "{}"
        body = json.dumps({"pid": os.getpid(), "context": json.loads(seen)}).encode()
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


def test_a_lambda_invocation_past_its_timeout_kills_the_instance(tmp_path):
    (tmp_path / "hang.py").write_text(textwrap.dedent(HANDLER))
    function = LambdaFunction("hang", tmp_path, "hang.handler", timeout_s=1, memory_mb=128)

    async def run() -> tuple[str, str, InvokeError]:
        try:
            first = await function.invoke({"rawPath": "/"})
            (instance,) = function._instances
            with pytest.raises(InvokeError) as timed_out:
                await function.invoke({"rawPath": "/hang"})
            assert instance.proc.returncode is not None  # the process was killed
            assert function._instances == []
            again = await function.invoke({"rawPath": "/"})
            return first["body"], again["body"], timed_out.value
        finally:
            await function.close()

    first, again, error = asyncio.run(run())
    assert error.error_type == "Sandbox.Timedout"
    assert error.message == "Task timed out after 1.00 seconds"
    assert first != again  # a new instance (process) served the next invocation


@pytest.mark.parametrize("platform", ["fc", "aws"])
def test_a_server_function_past_its_timeout_is_killed_and_started_anew(tmp_path, platform):
    """FC's custom runtime (``fc``) and the Lambda Web Adapter (``aws``)."""
    (tmp_path / "serve.py").write_text(textwrap.dedent(SERVER))
    port = free_port()
    env = {"FC_SERVER_PORT": str(port)} if platform == "fc" else {"PORT": str(port)}
    command = [BASE_PYTHON, "-I", "-S", str(tmp_path / "serve.py")]
    function = ServerFunction("hang", tmp_path, command, port, env, timeout_s=1.0)
    with serve_app(StreamingProxy(function, platform)) as url:
        first = httpx.get(f"{url}/health", timeout=30).json()
        timed_out = httpx.get(f"{url}/hang", timeout=30)
        assert function.exited is not None  # killed
        again = httpx.get(f"{url}/health", timeout=30).json()
    assert timed_out.status_code == 502
    if platform == "fc":
        assert timed_out.headers["x-fc-error-type"] == "UnhandledInvocationError"
        assert timed_out.json()["errorMessage"] == "Function timed out after 1 seconds"
    else:
        assert timed_out.json() == {"Message": "Internal Server Error"}
        # the adapter's invocation context carries the deadline the function works to
        deadline = first["context"]["deadline"]
        assert isinstance(deadline, int) and deadline > 1_700_000_000_000
    assert again["pid"] != first["pid"]


def test_the_emulator_tells_an_fc_function_its_timeout(tmp_path, host_artifacts):
    """As Terraform's fc_function module does (FC passes no deadline with a request)."""
    from local_emulator.artifacts import functions

    apps = functions(host_artifacts, "fc", {}, buffered=False, work_dir=tmp_path)
    manifest = json.loads(host_artifacts.read_text())
    timeouts = {a["function"]: a["timeout_s"] for a in manifest["artifacts"] if a["target"] == "fc"}
    for name, app in apps.items():
        assert app.function.environment["FUNCTION_TIMEOUT_S"] == str(timeouts[name])
        assert app.function.timeout_s == timeouts[name]
