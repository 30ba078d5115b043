"""Numbers in requests: only JSON's (no NaN, no infinities), strings Unicode text (no half of
a surrogate pair), round ids in range - a 422, never a 500 and never a value stored as
something else, whatever the body's Content-Type says. Every function, served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.services.state import MAX_ROUND_ID
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from local_emulator.tokens import mint_token
from tests.apps import echo_app
from tests.fixtures.servers import serve_app
from tests.integration.test_http_layer import RaisingLauncher, assert_error

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> Iterator[dict[str, str]]:
    settings = Settings(store_url=f"file://{tmp_path_factory.mktemp('store')}")
    with (
        serve_app(build_app(echo_app, settings)) as query,
        serve_app(state_app(settings)) as state,
        serve_app(sandbox_app(settings, launcher=RaisingLauncher())) as sandbox,
    ):
        yield {"query": query, "state": state, "sandbox": sandbox}


NOT_JSON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000]

# (function, method, path, body with {} where the number goes)
ROUTES = [
    ("state", "PUT", "/v1/users/u/sessions/s/state", '{"a": %s}'),
    ("state", "POST", "/v1/users/u/sessions/s/state", '{"nested": [1, {"b": %s}]}'),
    ("state", "POST", "/v1/users/u/memory", '{"messages": {"role": "user", "x": %s}}'),
    ("state", "POST", "/v1/users/u/memory/search", '{"query": "q", "top_k": %s}'),
    (
        "query",
        "POST",
        "/process",
        '{"temperature": %s, "input": [{"role": "user", "content": [{"type": "text", '
        '"text": "hi"}]}]}',
    ),
    ("sandbox", "POST", "/v1/sandboxes", '{"type": "base", "ttl_s": %s}'),
]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS, ids=lambda n: n[:12])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_a_number_json_does_not_have_is_422_on_every_function(bases, route, number):
    function, method, path, template = route
    resp = httpx.request(
        method, bases[function] + path, content=(template % number).encode(), headers=JSON
    )
    body = assert_error(resp, 422, "invalid_request")
    assert body["detail"][0]["loc"] == ["body"] and body["detail"][0]["type"] == "json_invalid"


# bytes no JSON text is made of (json.loads reads UTF-8, -16 and -32, by the first bytes)
NOT_TEXT = [b"\xff\x02", b'{"a": "\xc3"}', b"\x00\x00\x00{\x00\x00\x00"]


@pytest.mark.parametrize("body", NOT_TEXT, ids=repr)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_a_body_that_is_not_text_is_422_on_every_function(bases, route, body):
    function, method, path, _ = route
    resp = httpx.request(method, bases[function] + path, content=body, headers=JSON)
    detail = assert_error(resp, 422, "invalid_request")["detail"][0]
    assert detail["loc"] == ["body"] and "is not UTF-" in detail["msg"]


HALF_PAIRS = ['"\\ud800"', '"\\udfff x"', '"a\\uDC00\\ud83d"']


@pytest.mark.parametrize("string", HALF_PAIRS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_half_a_surrogate_pair_is_422_on_every_function(bases, route, string):
    function, method, path, template = route
    resp = httpx.request(
        method, bases[function] + path, content=(template % string).encode(), headers=JSON
    )
    detail = assert_error(resp, 422, "invalid_request")["detail"][0]
    assert detail["loc"] == ["body"] and "surrogate" in detail["msg"]


def test_a_whole_surrogate_pair_and_an_escaped_backslash_are_text(bases):
    base = bases["state"] + "/v1/users/u/sessions/emoji/state"
    body = b'{"e": "\\ud83d\\ude00", "\\\\ud800": "\\\\\\\\udc00"}'
    assert httpx.put(base, content=body, headers=JSON).status_code == 200
    assert httpx.get(base).json()["state"] == {"e": "\U0001f600", "\\ud800": "\\\\udc00"}


SECRET = "json-numbers-" + "s" * 32
NOT_JSON_TYPES = [
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    None,
]


@pytest.mark.parametrize("content_type", NOT_JSON_TYPES)
def test_a_json_route_checks_its_body_whatever_its_content_type(tmp_path, content_type):
    # with credentials any media type reaches the routes (AUTH_MODE=none answers 415), and
    # the turn routes parse whatever they are sent as JSON: it is checked all the same
    settings = Settings(
        store_url=f"file://{tmp_path}/store", auth_mode="jwt", auth_jwt_secret=SECRET
    )
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'alice')}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    bodies = {
        "/process": '{"input": [{"role": "user", "content": [{"type": "text", "text": "%s"}]}], '
        '"metadata": {"n": %s}}',
        "/a2a": '{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": '
        '{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "%s"}], '
        '"metadata": {"n": %s}}}}',
    }
    with serve_app(build_app(echo_app, settings)) as base:
        for path, template in bodies.items():
            for text, number in (("hi", "NaN"), ("\\ud800", "1"), ("hi", "[" * 100_000)):
                content = (template % (text, number)).encode()
                resp = httpx.post(base + path, content=content, headers=headers)
                assert_error(resp, 422, "invalid_request")
            deep_a2a = httpx.post(
                base + "/a2a", content=b"[" * 100_000, headers={**headers, "A2A-Version": "1.0"}
            )
            assert_error(deep_a2a, 422, "invalid_request")
        # a body no GET reads is not checked (as AUTH_MODE=none's media type check has it)
        card = httpx.request("GET", base + "/health", content=b"\xff\xfe\xfd", headers=headers)
        assert card.status_code == 200, card.text


def test_nan_state_is_refused_and_finite_numbers_round_trip(bases):
    base = bases["state"] + "/v1/users/u/sessions/nan/state"
    assert_error(httpx.put(base, content=b'{"a": NaN}', headers=JSON), 422, "invalid_request")
    assert_error(httpx.get(base), 404, "state_not_found")  # nothing was stored
    state = {"a": 1.5e300, "b": -0.0, "c": 10**30, "d": "NaN", "e": 1e-999}
    assert httpx.put(base, json=state).json() == {"round_id": 1}
    assert httpx.get(base).json()["state"] == {**state, "e": 0.0}


def test_a_deeply_nested_body_is_422(bases):
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = httpx.put(f"{bases['state']}/v1/users/u/sessions/s/state", content=deep, headers=JSON)
    assert_error(resp, 422, "invalid_request")


def nested(levels: int) -> object:
    """``levels`` arrays, each in the next (a body adds its own levels around it)."""
    value: object = "leaf"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_a_body_deeper_than_any_reader_takes_back_is_422_and_not_kept(bases, route):
    """pydantic-core serializes no deeper than about 255 levels: a body that nests more
    than MAX_DEPTH (128) would be stored and then break every read of what holds it."""
    function, method, path, template = route
    body = (template % "0").encode()
    value = json.loads(body)
    value["deep"] = nested(200)
    resp = httpx.request(method, bases[function] + path, json=value)
    assert_error(resp, 422, "invalid_request")
    assert "nested more than 128 levels" in resp.text


def test_a_message_as_deep_as_allowed_is_kept_and_read_back(bases):
    """The most a body may nest goes in, is stored, and comes back out."""
    state = bases["state"] + "/v1/users/deep/sessions/s1"
    assert httpx.post(bases["state"] + "/v1/users/deep/sessions", json={"session_id": "s1"})
    data = nested(120)  # 124 levels with the message's own
    message = {"role": "user", "content": [{"type": "data", "data": {"d": data}}]}
    assert httpx.post(f"{state}/messages", json=message).status_code == 201
    got = httpx.get(f"{state}/messages")
    assert got.status_code == 200 and got.json()["items"][0]["content"][0]["data"]["d"] == data
    too_deep = {**message, "content": [{"type": "data", "data": {"d": nested(130)}}]}
    assert_error(httpx.post(f"{state}/messages", json=too_deep), 422, "invalid_request")
    assert len(httpx.get(f"{state}/messages").json()["items"]) == 1


def test_out_of_range_round_ids_are_422_and_the_next_round_always_exists(bases):
    base = bases["state"] + "/v1/users/u/sessions/rounds/state"
    for bad in ("999999999999", str(MAX_ROUND_ID + 1), "0", "-1", "1.5", "1e3", "NaN"):
        assert_error(
            httpx.put(base, params={"round_id": bad}, json={"x": 1}), 422, "invalid_request"
        )
    # a read may name any round a save can number (to the store keys' widest), no more
    for bad in ("1000000000000", "0", "-1", "1.5", "1e3", "NaN"):
        assert_error(httpx.get(base, params={"round_id": bad}), 422, "invalid_request")
    for unsaved in ("999999999999", str(MAX_ROUND_ID + 1)):
        assert_error(httpx.get(base, params={"round_id": unsaved}), 404, "state_not_found")
    assert httpx.put(base, json={"n": 1}).json() == {"round_id": 1}

    top = httpx.put(base, params={"round_id": MAX_ROUND_ID}, json={"n": 2})
    assert top.json() == {"round_id": MAX_ROUND_ID}
    after = httpx.put(base, json={"n": 3})
    assert after.status_code == 200 and after.json() == {"round_id": MAX_ROUND_ID + 1}
    latest = httpx.get(base).json()
    assert latest == {"round_id": MAX_ROUND_ID + 1, "state": {"n": 3}}
    rounds = httpx.get(f"{base}/rounds").json()["rounds"]
    assert rounds == [1, MAX_ROUND_ID, MAX_ROUND_ID + 1]
