"""The one HTTP layer of all three functions: one error shape, named errors end to end.

Each function is served by uvicorn on 127.0.0.1 and called over HTTP. The sandbox function
runs on a launcher written for this test that raises, on demand, each error a real backend
can raise (a real engine cannot be made to throttle or vanish at will); its errors then
travel the real path: sandbox service -> error handler -> HTTP -> the SDK's error table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions.runtime.errors import ApiError, error_classes
from functions.runtime.sandbox import BaseSandbox
from functions.runtime.sandbox import errors as sandbox_errors
from functions.runtime.sandbox.errors import (
    BackendThrottled,
    SandboxError,
    error_for,
)
from functions.runtime.sandbox.launchers.base import Launched, Launcher
from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from tests.apps import echo_app
from tests.fixtures.servers import serve_app


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(store_url=f"file://{tmp_path / 'store'}")


class RaisingLauncher(Launcher):
    """Starts nothing: each start raises the error queued in ``self.raises``."""

    name = "raising"

    def __init__(self) -> None:
        self.raises: Exception | None = None

    async def start(self, sandbox_type, sandbox_id, token, idle_timeout_s=None) -> Launched:
        assert self.raises is not None
        raise self.raises

    async def stop(self, handle: str) -> None:
        return None

    async def alive(self, handle: str) -> bool:
        return False

    async def owned(self) -> dict[str, tuple[str, float]]:
        return {}


@pytest.fixture
def functions(settings) -> Iterator[dict[str, Any]]:
    launcher = RaisingLauncher()
    apps = {
        "query": build_app(echo_app, settings),
        "state": state_app(settings),
        "sandbox": sandbox_app(settings, launcher=launcher),
    }
    with (
        serve_app(apps["query"]) as query,
        serve_app(apps["state"]) as state,
        serve_app(apps["sandbox"]) as sandbox,
    ):
        yield {"query": query, "state": state, "sandbox": sandbox, "launcher": launcher}


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"code", "detail"} and body["code"] == code, body
    return body


JSON = {"Content-Type": "application/json"}

# a route each function has, and a method it does not take there
KNOWN = {
    "query": ("/process", "GET"),
    "state": ("/health", "DELETE"),
    "sandbox": ("/health", "PUT"),
}


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_unknown_routes_and_methods_answer_in_the_one_error_shape(functions, function):
    base = functions[function]
    assert_error(httpx.get(f"{base}/no/such/route"), 404, "not_found")
    assert_error(httpx.post(f"{base}/nope", json={}), 404, "not_found")
    path, wrong = KNOWN[function]
    resp = httpx.request(wrong, f"{base}{path}")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"], "a 405 names the methods that are allowed"


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_head_is_get_without_the_body(functions, function):
    """A health checker may send ``HEAD /health``: the GET's status and headers, no body."""
    base = functions[function]
    got, head = httpx.get(f"{base}/health"), httpx.head(f"{base}/health")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert httpx.head(f"{base}/no/such/route").status_code == 404
    if function != "query":  # a 405 names HEAD beside GET
        allow = httpx.delete(f"{base}/health").headers["allow"]
        assert {"GET", "HEAD"} <= {m.strip() for m in allow.split(",")}


def test_query_errors_are_named(functions):
    base = functions["query"]
    assert_error(httpx.post(f"{base}/process", content=b"{", headers=JSON), 422, "invalid_request")
    body = assert_error(httpx.post(f"{base}/process", json={"input": []}), 422, "invalid_request")
    assert isinstance(body["detail"], list) and body["detail"][0]["loc"][:2] == ["body", "input"]
    bad_id = {"session_id": "a\x00b", "input": [{"role": "user", "content": []}]}
    assert_error(httpx.post(f"{base}/process", json=bad_id), 422, "invalid_request")


def test_state_errors_are_named(functions):
    base = functions["state"]
    assert_error(httpx.get(f"{base}/v1/users/u/sessions/missing"), 404, "session_not_found")
    assert_error(httpx.get(f"{base}/v1/users/u/sessions/missing/state"), 404, "state_not_found")
    assert_error(httpx.get(f"{base}/v1/users/a%00b/sessions"), 422, "invalid_id")
    httpx.post(f"{base}/v1/users/u/sessions", json={"session_id": "s"}).raise_for_status()
    cursor = httpx.get(f"{base}/v1/users/u/sessions/s/messages", params={"cursor": "x"})
    assert_error(cursor, 422, "invalid_cursor")


SANDBOX_CASES = [
    sandbox_errors.SandboxGone("the session ended"),
    sandbox_errors.SandboxTypeNotDeployed("no FC function for it"),
    sandbox_errors.SandboxBackendError("refused"),
    sandbox_errors.LaunchError("never became ready"),
    sandbox_errors.BackendUnavailable("quota"),
    BackendThrottled(7, "throttled"),
]


@pytest.mark.parametrize("error", SANDBOX_CASES, ids=lambda e: e.code)
def test_each_launcher_error_reaches_http_and_the_sdk_as_itself(functions, settings, error):
    functions["launcher"].raises = error
    resp = httpx.post(f"{functions['sandbox']}/v1/sandboxes", json={"type": "base"})
    assert_error(resp, error.status, error.code)
    if isinstance(error, BackendThrottled):
        assert resp.headers["retry-after"] == "7"

    box = BaseSandbox(base_url=functions["sandbox"], settings=settings)
    with pytest.raises(type(error)) as raised:
        box.start()
    assert raised.value.status == error.status and raised.value.code == error.code
    if isinstance(error, BackendThrottled):
        assert raised.value.retry_after_s == 7


def test_sandbox_function_errors_reach_the_sdk_as_themselves(functions, settings):
    base = functions["sandbox"]
    assert_error(httpx.post(f"{base}/v1/sandboxes", json={"type": "gpu"}), 422, "unknown_type")
    assert_error(httpx.get(f"{base}/v1/sandboxes/sbx-none"), 404, "sandbox_not_found")

    class GpuSandbox(BaseSandbox):
        sandbox_type = "gpu"

    with pytest.raises(sandbox_errors.UnknownSandboxType):
        GpuSandbox(base_url=base, settings=settings).start()
    box = BaseSandbox(base_url=base, settings=settings, sandbox_id="sbx-none")
    with pytest.raises(sandbox_errors.SandboxNotFound) as raised:
        box.list_tools()
    assert raised.value.status == 404


def test_every_sandbox_error_code_maps_back_to_its_class():
    for code, cls in error_classes(SandboxError).items():
        mapped = error_for(cls.status, code, "x")
        assert type(mapped) is cls and mapped.code == code
    unknown = error_for(418, "teapot", "x")
    assert type(unknown) is SandboxError and (unknown.status, unknown.code) == (418, "teapot")


def test_error_codes_are_unique_across_the_vocabulary():
    seen: dict[str, type] = {}
    todo = [ApiError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "code" in vars(cls):  # a class that names its own code
            assert seen.setdefault(cls.code, cls) is cls, f"{cls} reuses {cls.code}"


def test_every_sandbox_operation_has_an_id_and_a_typed_answer(functions):
    spec = httpx.get(f"{functions['sandbox']}/openapi.json").json()
    ids = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ids.append(op["operationId"])
            ok = {s: op["responses"][s] for s in op["responses"] if s.startswith("2")}
            assert ok, f"{method} {path} declares no success answer"
            # 202: an MCP notification accepted, which has no body
            typed = all(r.get("content") or s == "202" for s, r in ok.items())
            assert typed, f"{method} {path}: an untyped answer"
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    ours = {"$ref": "#/components/schemas/ErrorBody"}
                    # or, at MCP's endpoints, ours or the MCP transport's JSON-RPC error
                    assert schema == ours or ours in schema.get("anyOf", ()), (path, status)
    assert len(ids) == len(set(ids)), "operation ids are unique"


def test_every_function_refuses_a_body_over_its_limit(tmp_path):
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", max_request_bytes=2048, max_upload_bytes=4096
    )
    big = b'{"input": "' + b"x" * 3000 + b'"}'

    def chunked(data: bytes) -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield data[:1000]
        yield data[1000:]

    apps = {
        "/process": build_app(echo_app, settings),
        "/v1/users/u/memory": state_app(settings),
        "/v1/sandboxes": sandbox_app(settings, launcher=RaisingLauncher()),
    }
    for path, app in apps.items():
        with serve_app(app) as base:
            for body in (big, chunked(big)):
                resp = httpx.post(f"{base}{path}", content=body, headers=JSON)
                assert_error(resp, 413, "payload_too_large")
            small = httpx.post(f"{base}{path}", content=b"{}", headers=JSON)
            assert small.status_code != 413
    with serve_app(apps["/v1/sandboxes"]) as base:
        # an upload may be larger than other bodies (it fails further on: no such sandbox)
        upload = httpx.put(f"{base}/v1/sandboxes/sbx-x/files/a.bin", content=b"x" * 3000)
        assert_error(upload, 404, "sandbox_not_found")
        too_big = httpx.put(f"{base}/v1/sandboxes/sbx-x/files/a.bin", content=b"x" * 5000)
        assert_error(too_big, 413, "payload_too_large")


def test_the_issues_10_mb_bodies_are_413_at_the_default_limit(settings):
    """MAX_REQUEST_BYTES' default (6 MiB): a 10 MB /process body or state save is refused
    with the one error shape before the route reads it (Lambda would answer its own 413)."""
    ten_mb = b'{"input": [], "x": "' + b"x" * 10_000_000 + b'"}'
    routes = [
        (build_app(echo_app, settings), "POST", "/process"),
        (state_app(settings), "PUT", "/v1/users/u/sessions/s/state"),
    ]
    for app, method, path in routes:
        with serve_app(app) as base:
            resp = httpx.request(method, f"{base}{path}", content=ten_mb, headers=JSON)
            assert_error(resp, 413, "payload_too_large")
