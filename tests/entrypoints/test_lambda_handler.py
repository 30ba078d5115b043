"""Each function's ``lambda_handler`` fed real-format Function URL / HTTP API (2.0) events.

The fixtures in tests/fixtures/events follow the AWS documentation: lower-cased headers
with repeated values joined by commas, cookies in their own list, query strings both raw
and parsed, a base64 body with ``isBase64Encoded``. The apps behind the handlers are the
real ones, over a file store, configured as a deployment is: ``AUTH_MODE=jwt`` (a Function
URL's Host is not loopback, so ``AUTH_MODE=none`` would refuse every event), each event
carrying alice's bearer token.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request

from functions.query.app import create_app as query_app
from functions.runtime.app import AgentApp
from functions.runtime.entrypoints import lambda_handler_for
from functions.runtime.request_ids import RequestIdFilter
from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from local_emulator.tokens import mint_token

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
SECRET = "entrypoint-tests-" + "k" * 32
ALICE = mint_token(SECRET, "alice")


def event(name: str, **changes: object) -> dict:
    loaded = json.loads((EVENTS / f"{name}.json").read_text())
    loaded.update(copy.deepcopy(changes))
    loaded["headers"]["authorization"] = f"Bearer {ALICE}"
    return loaded


def context(request_id: str = "11111111-2222-3333-4444-555555555555") -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=request_id,
        function_name="fn",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def with_path(base: dict, method: str, path: str, query: str = "") -> dict:
    changed = copy.deepcopy(base)
    changed["rawPath"] = path
    changed["rawQueryString"] = query
    changed["requestContext"]["http"].update(method=method, path=path)
    return changed


def sse_events(body: str) -> list[dict]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}",
        agent_app="tests.apps:echo_app",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
    )


def process_event(body: dict, *, base64_body: bool) -> dict:
    raw = json.dumps(body).encode()
    found = event("function_url_post_base64")
    found["headers"]["content-type"] = "application/json"
    if base64_body:
        found["body"], found["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        found["body"], found["isBase64Encoded"] = raw.decode(), False
    return found


def test_query_streams_buffered_sse_from_a_base64_body_and_keeps_the_session(settings):
    handler = lambda_handler_for(query_app(settings))
    ask = {"input": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]}
    first = handler(process_event(ask, base64_body=True), context())
    assert first["statusCode"] == 200
    assert first["headers"]["content-type"].startswith("text/event-stream")
    assert first["isBase64Encoded"] is False
    events = sse_events(first["body"])
    assert events[0]["status"] == "created" and events[-1]["status"] == "completed"
    session_id = events[-1]["session_id"]
    assert first["headers"]["x-session-id"] == session_id

    again = {**ask, "session_id": session_id, "stream": False}
    again["input"] = [{"role": "user", "content": [{"type": "text", "text": "again"}]}]
    second = handler(process_event(again, base64_body=False), context())
    assert second["statusCode"] == 200
    final = json.loads(second["body"])
    text = final["output"][-1]["content"][0]["text"]
    assert text.startswith("turn 2: again") and "before: hello" in text


def test_a_malformed_body_is_a_422_json_answer(settings):
    handler = lambda_handler_for(query_app(settings))
    broken = event("function_url_post_base64", body=base64.b64encode(b"{not json").decode())
    broken["headers"]["content-type"] = "application/json"
    answer = handler(broken, context())
    assert answer["statusCode"] == 422
    assert json.loads(answer["body"])["code"] == "invalid_request"


def _malformed() -> dict[str, object]:
    post = event("function_url_post_base64")
    no_http = event("function_url_get")
    no_http["requestContext"] = {"domainName": "x.lambda-url.us-east-1.on.aws"}
    return {
        "empty": {},
        "a list": [],
        "null": None,
        "headers null": {**event("function_url_get"), "headers": None},
        "no requestContext.http": no_http,
        "body not base64": {**post, "body": "!!!notbase64"},
        "body an object": {**post, "body": {"k": 1}, "isBase64Encoded": False},
        "a header value a number": {**post, "headers": {**post["headers"], "x-n": 5}},
    }


@pytest.mark.parametrize("name", list(_malformed()))
@pytest.mark.parametrize("build", [query_app, state_app, sandbox_app])
def test_an_event_that_is_no_http_request_is_a_400_answer(settings, build, name):
    """A direct invoke, or an event a misconfigured trigger made, is the invoker's mistake:
    400 ``invalid_event`` in the error shape, and the instance serves on."""
    handler = lambda_handler_for(build(settings))
    answer = handler(_malformed()[name], context())
    assert answer["statusCode"] == 400, answer
    assert answer["headers"]["content-type"] == "application/json"
    assert json.loads(answer["body"])["code"] == "invalid_event"
    health = handler(with_path(event("function_url_get"), "GET", "/health"), context())
    assert health["statusCode"] == 200


def test_state_function_takes_http_api_and_function_url_events(settings):
    handler = lambda_handler_for(state_app(settings))
    created = handler(event("http_api_v2_post"), context())
    assert created["statusCode"] == 201, created
    assert json.loads(created["body"])["id"] == "from-http-api"
    # the same session again: 200, nothing duplicated
    assert handler(event("http_api_v2_post"), context())["statusCode"] == 200

    listed = handler(event("function_url_get"), context())  # ?limit=5&tag=a&tag=b, cookies
    assert listed["statusCode"] == 200
    ids = [s["id"] for s in json.loads(listed["body"])["items"]]
    assert ids == ["from-http-api"]

    bad = with_path(event("function_url_get"), "GET", "/v1/users/alice/sessions", "limit=0")
    answer = handler(bad, context())
    assert answer["statusCode"] == 422 and "limit" in answer["body"]


def test_sandbox_function_answers_health_and_rejects_an_unknown_type(settings):
    handler = lambda_handler_for(sandbox_app(settings))
    health = handler(with_path(event("function_url_get"), "GET", "/health"), context())
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}

    create = process_event({"type": "no-such-type"}, base64_body=True)
    create = with_path(create, "POST", "/v1/sandboxes")
    answer = handler(create, context())
    assert answer["statusCode"] == 422
    assert json.loads(answer["body"])["code"] == "unknown_type"


def test_the_app_starts_once_per_instance_not_once_per_invocation(settings):
    app = AgentApp(app_name="counted")
    calls = {"init": 0, "shutdown": 0}

    @app.init
    async def init(self):
        calls["init"] += 1

    @app.shutdown
    async def shutdown(self):
        calls["shutdown"] += 1

    @app.query(framework="text")
    async def answer(self, msgs, request, **kwargs):
        yield "ok"

    handler = lambda_handler_for(build_app(app, settings))
    ask = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    for _ in range(3):
        answered = handler(process_event({**ask, "stream": False}, base64_body=False), context())
        assert answered["statusCode"] == 200
    assert calls == {"init": 1, "shutdown": 0}


def test_log_lines_carry_the_lambda_request_id(settings, caplog):
    from fastapi import APIRouter

    from functions.runtime.function_app import create_function_app
    from functions.runtime.instance import Instance

    router = APIRouter()
    logger = logging.getLogger("agentscope_faas.test")

    @router.get("/health")
    async def health() -> dict:
        logger.warning("inside the request")
        return {"status": "ok"}

    app = create_function_app(title="t", instance=Instance(settings), routers=[router])
    handler = lambda_handler_for(app)
    caplog.handler.addFilter(RequestIdFilter())
    answered = handler(with_path(event("function_url_get"), "GET", "/health"), context("req-42"))
    assert answered["statusCode"] == 200
    stamped = [r.request_id for r in caplog.records if r.getMessage() == "inside the request"]
    assert stamped == ["req-42"]


def test_no_log_line_of_a_door_request_holds_its_view_token(settings):
    """mangum logs a request line of its own: quieted (ours says it), and redacted should
    its level let it through, as uvicorn's is."""
    from functions.runtime.logs import configure_logging

    stream = io.StringIO()
    root, mangum = logging.getLogger(), logging.getLogger("mangum.http")
    saved = root.handlers[:], root.level, mangum.level
    root.handlers[:] = [logging.StreamHandler(stream)]  # as the Lambda runtime installs one
    token = "f" * 64
    door = with_path(
        event("function_url_get"), "GET", f"/v1/sandboxes/sbx-0123/desktop/{token}/vnc.html"
    )
    try:
        configure_logging("json", keep_handlers=True)
        handler = lambda_handler_for(sandbox_app(settings))
        answers = [handler(door, context())["statusCode"]]
        mangum.setLevel(logging.INFO)
        answers.append(handler(door, context())["statusCode"])
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        mangum.setLevel(saved[2])
    assert answers == [404, 404]  # no such sandbox
    written = stream.getvalue()
    mangum_lines = [line for line in written.splitlines() if '"mangum.http"' in line]
    assert len(mangum_lines) == 1, written  # quiet at first; then let through, redacted
    assert "/desktop/~/vnc.html" in mangum_lines[0]
    assert token not in written


# Paths as each AWS source sends them. Function URLs, REST APIs and ALBs pass the path on
# percent-encoded, as the client wrote it; an HTTP API decodes it first and, on its
# execute-api endpoint, puts a named stage in front (payload 1.0's ``path`` and 2.0's
# ``rawPath`` alike).
def at_path(name: str, path: str, method: str = "GET") -> dict:
    """The fixture ``name`` sent to ``path`` with alice's token, in that source's fields."""
    found = json.loads((EVENTS / f"{name}.json").read_text())
    bearer = f"Bearer {ALICE}"
    if found.get("headers") is not None:
        found["headers"]["authorization"] = bearer
    if found.get("multiValueHeaders") is not None:
        found["multiValueHeaders"]["authorization"] = [bearer]
    if found.get("version") == "2.0":
        found["rawPath"] = found["requestContext"]["http"]["path"] = path
        found["requestContext"]["http"]["method"] = method
    else:
        found["path"], found["httpMethod"] = path, method
    return found


def create_session(handler, session_id: str) -> None:
    create = with_path(event("http_api_v2_post"), "POST", "/v1/users/alice/sessions")
    create["requestContext"]["domainName"] = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
    create["body"] = json.dumps({"session_id": session_id})
    assert handler(create, context())["statusCode"] == 201


def fill_session(handler, session_id: str, text: str, times: int) -> None:
    """A new session of alice's holding ``times`` messages of ``text``."""
    create_session(handler, session_id)
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    path = f"/v1/users/alice/sessions/{session_id}/messages"
    append = with_path(event("http_api_v2_post"), "POST", path)
    append["requestContext"]["domainName"] = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
    append["body"] = json.dumps(message, ensure_ascii=False)
    for _ in range(times):
        assert handler(append, context())["statusCode"] == 201


@pytest.mark.parametrize(
    "name", ["function_url_get", "rest_api_v1_get", "alb_multi_value_get", "alb_get"]
)
def test_an_encoded_slash_or_percent_in_an_id_reaches_its_session(settings, name):
    """``a%2Fb%20c`` is the one id ``a/b c`` (mangum decoded it to two segments: 404), and
    ``50%2541`` is ``50%41`` (not ``50A``)."""
    handler = lambda_handler_for(state_app(settings))
    for session_id, encoded in [("a/b c", "a%2Fb%20c"), ("50%41", "50%2541")]:
        create_session(handler, session_id)
        got = handler(at_path(name, f"/v1/users/alice/sessions/{encoded}"), context())
        assert got["statusCode"] == 200, got
        assert json.loads(got["body"])["id"] == session_id
    listed = handler(at_path(name, "/v1/users/alice/sessions"), context())
    assert listed["statusCode"] == 200


@pytest.mark.parametrize("name", ["http_api_v1_get", "http_api_v2_stage_get"])
def test_an_http_api_path_is_decoded_once_and_loses_its_stage(settings, name):
    """The HTTP API sent ``/prod/v1/.../50%41`` for ``50%2541``: the stage goes, and the
    path is not decoded a second time."""
    handler = lambda_handler_for(state_app(settings))
    create_session(handler, "50%41")
    got = handler(at_path(name, "/prod/v1/users/alice/sessions/50%41"), context())
    assert got["statusCode"] == 200, got
    assert json.loads(got["body"])["id"] == "50%41"
    listed = handler(at_path(name, "/prod/v1/users/alice/sessions"), context())
    assert listed["statusCode"] == 200
    assert [s["id"] for s in json.loads(listed["body"])["items"]] == ["50%41"]


@pytest.mark.parametrize("name", ["function_url_get", "rest_api_v1_get"])
def test_a_response_over_lambdas_cap_is_a_413_answer_in_the_sources_shape(settings, name):
    """Lambda fails an invocation whose response passes 6 MB (the caller would get the
    Function URL's bare 502): the handler answers 413 ``response_too_large`` instead, and
    a smaller page still comes through."""
    handler = lambda_handler_for(state_app(settings))
    fill_session(handler, "big", "x" * 2_000_000, 4)

    answer = handler(at_path(name, "/v1/users/alice/sessions/big/messages"), context())
    assert answer["statusCode"] == 413
    headers = answer.get("headers") or {k: v[0] for k, v in answer["multiValueHeaders"].items()}
    assert headers["content-type"] == "application/json"
    assert json.loads(answer["body"])["code"] == "response_too_large"
    assert len(json.dumps(answer)) < 1000

    page = at_path(name, "/v1/users/alice/sessions/big/messages")
    page["queryStringParameters"] = {"limit": "2"}
    page["multiValueQueryStringParameters"] = {"limit": ["2"]}
    page["rawQueryString"] = "limit=2"
    answer = handler(page, context())
    assert answer["statusCode"] == 200
    assert len(json.loads(answer["body"])["items"]) == 2


def test_an_alb_takes_a_response_of_1_mb_at_most(settings):
    """An ALB passes on 1 MB of response JSON; a Function URL the whole 6 MB."""
    handler = lambda_handler_for(state_app(settings))
    fill_session(handler, "mid", "x" * 1_500_000, 1)

    path = "/v1/users/alice/sessions/mid/messages"
    for name in ("alb_multi_value_get", "alb_get"):
        answer = handler(at_path(name, path), context())
        assert answer["statusCode"] == 413, name
        headers = answer.get("headers") or {k: v[0] for k, v in answer["multiValueHeaders"].items()}
        assert headers["content-type"] == "application/json"
        assert "1048576-byte cap" in json.loads(answer["body"])["detail"]
    assert handler(at_path("function_url_get", path), context())["statusCode"] == 200


def test_a_lambda_at_edge_event_keeps_mangums_reading(settings):
    """A CloudFront (Lambda@Edge) request has no ``path``: it is served as mangum reads it."""
    handler = lambda_handler_for(state_app(settings))
    found = json.loads((EVENTS / "cloudfront_viewer_request.json").read_text())
    answer = handler(found, context())
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"]) == {"status": "ok"}


@pytest.mark.parametrize(
    "name, path, host",
    [
        ("http_api_v1_get", "/prod", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"),
        ("http_api_v2_stage_get", "/prod", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"),
        ("rest_api_v1_get", "", "q1w2e3r4t5.execute-api.eu-central-1.amazonaws.com"),
    ],
)
def test_urls_the_app_gives_out_on_an_api_endpoint_keep_the_stage(settings, name, path, host):
    """The agent card's endpoint is under the stage the request came through (in an HTTP
    API's path; left out of a REST API's)."""
    handler = lambda_handler_for(query_app(settings))
    answer = handler(at_path(name, f"{path}/.well-known/agent-card.json"), context())
    assert answer["statusCode"] == 200, answer
    urls = [i["url"] for i in json.loads(answer["body"])["supportedInterfaces"]]
    assert set(urls) == {f"https://{host}/prod/a2a"}


@pytest.mark.parametrize("name", ["rest_api_v1_get", "http_api_v2_stage_get"])
def test_a_stage_named_as_the_paths_first_segment_routes_the_path_whole(settings, name):
    """A stage ``v1`` is not taken off ``/v1/users/...`` a second time by the router."""
    handler = lambda_handler_for(state_app(settings))
    create_session(handler, "a/b")
    found = at_path(name, "/v1/users/alice/sessions/a%2Fb")
    if found.get("version"):  # the HTTP API's path: decoded (no / in the id), behind the stage
        create_session(handler, "ab")
        found = at_path(name, "/v1/v1/users/alice/sessions/ab")
    found["requestContext"]["stage"] = "v1"
    answer = handler(found, context())
    assert answer["statusCode"] == 200, answer


def where_app() -> FastAPI:
    """An app answering its base URL, at ``/v1/where`` and inside a mounted app."""
    app, mounted = FastAPI(), FastAPI()

    @app.get("/v1/where")
    @mounted.get("/where")
    async def where(request: Request) -> dict[str, str]:
        return {"base": str(request.base_url)}

    app.mount("/sub", mounted)
    return app


@pytest.mark.parametrize("name", ["rest_api_v1_get", "http_api_v2_stage_get"])
@pytest.mark.parametrize(("stage", "path"), [("v1", "/v1/where"), ("prod", "/sub/where")])
def test_the_stage_is_the_root_of_the_apps_urls_never_of_its_routes(name, stage, path):
    """A stage ``v1`` before ``/v1/where`` stays in the URLs the app makes, and a mounted
    app is reached under a stage."""
    handler = lambda_handler_for(where_app())
    found = at_path(name, f"/{stage}{path}" if name == "http_api_v2_stage_get" else path)
    found["requestContext"]["stage"] = stage
    answer = handler(found, context())
    assert answer["statusCode"] == 200, answer
    host = found["requestContext"]["domainName"]
    assert json.loads(answer["body"])["base"] == f"https://{host}/{stage}/"


@pytest.mark.parametrize("name", ["http_api_v1_get", "http_api_v2_stage_get"])
def test_an_http_api_on_a_custom_domain_is_not_decoded_twice(settings, name):
    """An HTTP API decodes the path on any domain: a client's ``50%2541`` arrives as
    ``50%41``, the session it names, not ``50A``."""
    handler = lambda_handler_for(state_app(settings))
    create_session(handler, "50%41")
    create_session(handler, "50A")
    found = at_path(name, "/v1/users/alice/sessions/50%41")
    found["requestContext"]["domainName"] = "api.example.com"
    answer = handler(found, context())
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["id"] == "50%41"


@pytest.mark.parametrize(
    ("runtime", "status"), [("AWS_Lambda_python3.11", 413), ("AWS_Lambda_python3.12", 200)]
)
def test_non_ascii_counts_as_the_runtime_sends_it(settings, monkeypatch, runtime, status):
    """3.6 MB of Chinese in UTF-8 is 7.2 MB of ``\\uXXXX`` escapes: over the cap where the
    runtime escapes non-ASCII (before Python 3.12), within it where it sends UTF-8."""
    handler = lambda_handler_for(state_app(settings))
    fill_session(handler, "zh", "中" * 600_000, 2)
    monkeypatch.setenv("AWS_EXECUTION_ENV", runtime)
    answer = handler(at_path("function_url_get", "/v1/users/alice/sessions/zh/messages"), context())
    assert answer["statusCode"] == status


def test_the_413_keeps_the_cors_headers_a_browser_needs_to_read_it(tmp_path):
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        cors_allow_origins="https://app.example.com",
    )
    handler = lambda_handler_for(state_app(settings))
    fill_session(handler, "big", "x" * 2_000_000, 4)
    found = at_path("function_url_get", "/v1/users/alice/sessions/big/messages")
    found["headers"]["origin"] = "https://app.example.com"
    answer = handler(found, context())
    assert answer["statusCode"] == 413
    assert answer["headers"]["access-control-allow-origin"] == "https://app.example.com"
