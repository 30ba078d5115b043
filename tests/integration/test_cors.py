"""CORS for pages on other origins (CORS_ALLOW_ORIGINS, functions/runtime/cors.py), on real
servers: what a browser's preflight and its actual request get back, with and without a
listed origin, with JWTs, and with AUTH_MODE=none's local defenses still in charge."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.state.app import create_app as state_app
from local_emulator.tokens import mint_token
from tests.apps import echo_app
from tests.fixtures.servers import serve_app

SECRET = "cors-tests-" + "s" * 32
PAGE = "http://127.0.0.1:8095"  # the playground command's default origin
OTHER = "https://evil.example"


def preflight(url: str, origin: str, method: str = "GET", headers: str = "authorization"):
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.fixture
def state(request, tmp_path) -> Iterator[str]:
    """The state function, with the settings the test's parameter names."""
    settings = Settings(store_url=f"file://{tmp_path}/store", **request.param)
    with serve_app(state_app(settings)) as url:
        yield url


JWT = {"auth_mode": "jwt", "auth_jwt_secret": SECRET}


@pytest.mark.parametrize("state", [JWT], indirect=True)
def test_without_listed_origins_no_page_elsewhere_may_read_or_preflight(state):
    sessions = f"{state}/v1/users/alice/sessions"
    answer = preflight(sessions, PAGE)  # an OPTIONS like any other: no token, no answer
    assert answer.status_code == 401 and "access-control-allow-origin" not in answer.headers
    token = mint_token(SECRET, "alice")
    read = httpx.get(sessions, headers={"Origin": PAGE, "Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


@pytest.mark.parametrize(
    "state", [{**JWT, "cors_allow_origins": f"{PAGE}/, {OTHER}x"}], indirect=True
)
def test_a_listed_origin_is_answered_and_reads_with_its_token_only(state):
    sessions = f"{state}/v1/users/alice/sessions"
    answer = preflight(sessions, PAGE, headers="authorization,content-type")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == PAGE
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "DELETE" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers  # bearer tokens, no cookies
    token = mint_token(SECRET, "alice")
    read = httpx.get(sessions, headers={"Origin": PAGE, "Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.headers["access-control-allow-origin"] == PAGE
    assert "x-request-id" in read.headers["access-control-expose-headers"].lower()
    # no token: the 401 is readable by the page, which then asks for one
    anonymous = httpx.get(sessions, headers={"Origin": PAGE})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    assert anonymous.headers["access-control-allow-origin"] == PAGE
    assert "www-authenticate" in anonymous.headers["access-control-expose-headers"].lower()
    # another user's token still reaches only its own
    mallory = mint_token(SECRET, "mallory")
    other = httpx.get(sessions, headers={"Origin": PAGE, "Authorization": f"Bearer {mallory}"})
    assert other.status_code == 403 and other.headers["access-control-allow-origin"] == PAGE


@pytest.mark.parametrize("state", [{**JWT, "cors_allow_origins": PAGE}], indirect=True)
def test_an_origin_not_listed_is_refused_in_the_error_shape(state):
    sessions = f"{state}/v1/users/alice/sessions"
    answer = preflight(sessions, OTHER)
    assert answer.status_code == 400
    assert answer.json()["code"] == "cors_refused" and "origin" in answer.json()["detail"]
    assert "access-control-allow-origin" not in answer.headers
    token = mint_token(SECRET, "alice")
    read = httpx.get(sessions, headers={"Origin": OTHER, "Authorization": f"Bearer {token}"})
    assert "access-control-allow-origin" not in read.headers  # the browser keeps it from the page
    refused = preflight(sessions, PAGE, headers="x-custom")
    assert refused.status_code == 400 and "headers" in refused.json()["detail"]


@pytest.mark.parametrize("state", [{**JWT, "cors_allow_origins": "*"}], indirect=True)
def test_any_origin_when_listed_as_a_star(state):
    answer = preflight(f"{state}/v1/users/alice/sessions", OTHER)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("state", [{"cors_allow_origins": f"{OTHER},{PAGE}"}], indirect=True)
def test_auth_mode_none_keeps_refusing_cross_site_origins_whatever_is_listed(state):
    sessions = f"{state}/v1/users/alice/sessions"
    assert preflight(sessions, OTHER).status_code == 200  # the preflight carries nothing
    refused = httpx.get(sessions, headers={"Origin": OTHER})
    assert refused.status_code == 403 and refused.json()["code"] == "cross_site_request"
    local = httpx.get(sessions, headers={"Origin": PAGE})  # a loopback page is local
    assert local.status_code == 200 and local.headers["access-control-allow-origin"] == PAGE


def test_a_page_streams_a_turn_and_reads_its_session_header(tmp_path):
    settings = Settings(store_url=f"file://{tmp_path}/store", cors_allow_origins=PAGE, **JWT)
    token = mint_token(SECRET, "alice")
    with serve_app(build_app(echo_app, settings)) as url:
        answer = preflight(f"{url}/process", PAGE, "POST", "authorization,content-type")
        body = {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
        headers = {"Origin": PAGE, "Authorization": f"Bearer {token}"}
        with httpx.stream("POST", f"{url}/process", json=body, headers=headers) as stream:
            text = stream.read().decode()
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == PAGE
    assert stream.headers["access-control-allow-origin"] == PAGE
    assert "x-session-id" in stream.headers["access-control-expose-headers"].lower()
    assert stream.headers["x-session-id"] and '"status":"completed"' in text
