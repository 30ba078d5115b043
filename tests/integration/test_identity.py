"""Who is calling, on every function: JWT identity, per-user isolation, local defenses, ids.

Each function runs under uvicorn on 127.0.0.1 with ``AUTH_MODE=jwt``, its tokens signed
with a dev HS256 secret or with an RSA key whose JWKS a local HTTP server publishes (as an
OIDC provider does). alice owns data; mallory holds a valid token of her own and tries to
reach alice's; an admin token may act for anyone. Sandboxes are real containers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from tests.apps import echo_app
from tests.apps import sandbox_app as sandboxed_agent
from tests.fixtures.servers import serve_app
from tests.messages import msg, texts

SECRET = "identity-tests-" + "s" * 32
ISSUER = "https://issuer.test/"
AUDIENCE = "agentscope-faas"


# --- tokens: a dev secret, or an RSA key published as a JWKS ---------------------------------


class Issuer:
    """Mints tokens the functions under test accept (and some they must refuse)."""

    def __init__(self, key: Any, alg: str, kid: str | None = None) -> None:
        self.key, self.alg, self.kid = key, alg, kid

    def token(self, user: str | None, *, admin: bool = False, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
        body["scope"] = "openid agentscope:admin" if admin else "openid"
        if user is not None:
            body["sub"] = user
        body.update(claims)
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(body, self.key, algorithm=self.alg, headers=headers)

    def headers(self, user: str | None, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, **kw)}"}


@pytest.fixture(scope="module")
def rsa_keys() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return {kid: rsa.generate_private_key(65537, 2048) for kid in ("k1", "k2")}


@pytest.fixture(scope="module")
def jwks_server(rsa_keys) -> Iterator[dict[str, Any]]:
    """An OIDC provider's key set on 127.0.0.1; ``published`` says which keys it lists."""
    state: dict[str, Any] = {"published": ["k1"], "fetches": 0}

    async def jwks(_: Any) -> JSONResponse:
        state["fetches"] += 1
        keys = []
        for kid in state["published"]:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": keys})

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    with serve_app(app) as url:
        state["url"] = f"{url}/.well-known/jwks.json"
        yield state


@pytest.fixture(params=["hs256", "rs256-jwks"])
def issuer(request, rsa_keys, jwks_server) -> Issuer:
    if request.param == "hs256":
        return Issuer(SECRET, "HS256")
    return Issuer(rsa_keys["k1"], "RS256", kid="k1")


@pytest.fixture
def settings(tmp_path, jwks_server) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        auth_jwks_url=jwks_server["url"],
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_jwks_min_refresh_s=0,
    )


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code, resp.text


# --- the state function -------------------------------------------------------------------


def state_routes(user: str, session: str) -> list[tuple[str, str, Any]]:
    base = f"/v1/users/{user}"
    return [
        ("GET", f"{base}/sessions", None),
        ("POST", f"{base}/sessions", {"session_id": "another"}),
        ("GET", f"{base}/sessions/{session}", None),
        ("DELETE", f"{base}/sessions/{session}", None),
        ("GET", f"{base}/sessions/{session}/messages", None),
        ("POST", f"{base}/sessions/{session}/messages", msg("intruder")),
        ("GET", f"{base}/sessions/{session}/state", None),
        ("PUT", f"{base}/sessions/{session}/state", {"hijacked": True}),
        ("POST", f"{base}/sessions/{session}/state", {"hijacked": True}),
        ("GET", f"{base}/sessions/{session}/state/rounds", None),
        ("POST", f"{base}/memory", {"messages": [msg("planted")]}),
        ("POST", f"{base}/memory/search", {"query": "secret"}),
        ("GET", f"{base}/memory", None),
        ("DELETE", f"{base}/memory", None),
    ]


def test_state_function_serves_alice_refuses_mallory_and_lets_an_admin_act(settings, issuer):
    alice, mallory = issuer.headers("alice"), issuer.headers("mallory")
    with serve_app(state_app(settings)) as url, httpx.Client(base_url=url) as http:
        base = "/v1/users/alice/sessions"
        assert http.post(base, json={"session_id": "s1"}, headers=alice).status_code == 201
        assert http.post(f"{base}/s1/messages", json=msg("secret plan"), headers=alice).is_success
        assert http.put(f"{base}/s1/state", json={"k": 1}, headers=alice).is_success
        memory = {"messages": [msg("a secret memory")]}
        assert http.post("/v1/users/alice/memory", json=memory, headers=alice).is_success

        for method, path, body in state_routes("alice", "s1"):
            resp = http.request(method, path, json=body, headers=mallory)
            assert_error(resp, 403, "forbidden")

        # nothing of alice's changed
        assert texts(http.get(f"{base}/s1/messages", headers=alice).json()["items"]) == [
            "secret plan"
        ]
        assert http.get(f"{base}/s1/state", headers=alice).json()["state"] == {"k": 1}
        admin = issuer.headers("ops", admin=True)
        assert [s["id"] for s in http.get(base, headers=admin).json()["items"]] == ["s1"]
        found = http.post("/v1/users/alice/memory/search", json={"query": "secret"}, headers=admin)
        assert texts(found.json()["items"]) == ["a secret memory"]
        # scp as a list (Azure AD, Okta) grants the same
        listed = issuer.headers("ops", scope=None, scp=["openid", "agentscope:admin"])
        assert http.get(base, headers=listed).status_code == 200


def hs256(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed with the dev secret whatever its header says (PyJWT's encode
    refuses the odd headers a forger may write)."""

    def b64(part: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")

    signing = b64(header) + b"." + b64(claims)
    mac = hmac.new(SECRET.encode(), signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


def test_missing_or_bad_tokens_are_401(settings, issuer, rsa_keys):
    now = int(time.time())
    alice = {"sub": "alice", "exp": now + 60, "aud": AUDIENCE, "iss": ISSUER}
    stranger = Issuer("not-the-secret-" + "x" * 32, "HS256")
    bad = {
        "none": None,
        "garbage": "not.a.jwt",
        "bad signature": stranger.token("alice"),
        "wrong audience": issuer.token("alice", aud="someone-else"),
        "wrong issuer": issuer.token("alice", iss="https://evil.test/"),
        "expired": issuer.token("alice", exp=now - 3600, iat=now - 7200),
        "no expiry": jwt.encode({"sub": "alice", "aud": AUDIENCE, "iss": ISSUER}, SECRET),
        "unsigned": jwt.encode({"sub": "alice", "exp": now + 60}, None, algorithm="none"),
        "unknown key": Issuer(rsa_keys["k2"], "RS256", kid="k2").token("alice"),
        # validly signed, claims of the wrong type: a dict's keys must not count as scopes
        "numeric scope": issuer.token("alice", scope=5),
        "scope object": issuer.token("alice", scope={"agentscope:admin": "no"}),
        "scope list of objects": issuer.token("alice", scope=[{"agentscope:admin": 1}]),
        "user claim object": issuer.token(None, sub={"id": "alice"}),
        "user claim true": issuer.token(None, sub=True),
        "user claim number": issuer.token(None, sub=42),
        # validly signed, a header or an exp PyJWT lets through but no server can use
        "kid a list": hs256({"alg": "HS256", "kid": [1]}, alice),
        "crit not a list": hs256({"alg": "HS256", "crit": "x"}, alice),
        "alg a list": hs256({"alg": ["HS256"]}, alice),
        "exp past any float": issuer.token("alice", exp=10**400),
        # a user claim that names no user: as a request's user_id would be 422
        "user a control character": issuer.token("al\x00ice"),
        "user over 256 characters": issuer.token("a" * 300),
        "user half a surrogate pair": hs256({"alg": "HS256"}, {**alice, "sub": "\ud800"}),
    }
    apps = [state_app(settings), build_app(echo_app, settings)]
    for app in apps:
        with serve_app(app) as url:
            for why, token in bad.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                resp = httpx.get(f"{url}/v1/users/alice/sessions", headers=headers)
                if resp.status_code == 404:  # the query function: ask it to run instead
                    resp = httpx.post(
                        f"{url}/process",
                        json={"input": [msg("hi")], "stream": False},
                        headers=headers,
                    )
                assert resp.status_code == 401, (why, resp.text)
                assert resp.json()["code"] == "unauthorized"
                assert resp.headers["www-authenticate"].startswith("Bearer"), why
            assert httpx.get(f"{url}/health").status_code == 200  # public without a token


def test_a_user_claim_of_another_name_must_be_a_string(settings, issuer):
    custom = settings.model_copy(update={"auth_user_claim": "uid"})
    with serve_app(state_app(custom)) as url, httpx.Client(base_url=url) as http:
        for odd in (7, {"id": "alice"}, ["alice"], True):
            resp = http.get("/v1/users/alice/sessions", headers=issuer.headers(None, uid=odd))
            assert_error(resp, 401, "unauthorized")
        alice = issuer.headers(None, uid="alice")
        assert http.get("/v1/users/alice/sessions", headers=alice).status_code == 200
        assert_error(http.get("/v1/users/bob/sessions", headers=alice), 403, "forbidden")


def test_a_rotated_signing_key_is_fetched_once_on_first_sight(settings, rsa_keys, jwks_server):
    k1, k2 = (Issuer(rsa_keys[k], "RS256", kid=k) for k in ("k1", "k2"))
    with serve_app(state_app(settings)) as url, httpx.Client(base_url=url) as http:
        jwks_server["published"] = ["k1"]
        before = jwks_server["fetches"]
        for _ in range(3):  # cached after the first
            assert http.get("/v1/users/alice/sessions", headers=k1.headers("alice")).is_success
        assert jwks_server["fetches"] == before + 1
        jwks_server["published"] = ["k1", "k2"]  # the provider rotates in a new key
        assert http.get("/v1/users/alice/sessions", headers=k2.headers("alice")).is_success
        assert jwks_server["fetches"] == before + 2
    jwks_server["published"] = ["k1"]


# --- the query function ---------------------------------------------------------------------


def ask(url: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/process",
        json={"input": [msg(body.pop("text", "hello"))], "stream": False, **body},
        headers=headers,
        timeout=60,
    )


def test_process_acts_for_the_token_s_user_only(settings, issuer):
    alice, mallory = issuer.headers("alice"), issuer.headers("mallory")
    with serve_app(build_app(echo_app, settings)) as url:
        first = ask(url, alice, text="my secret", session_id="s1")
        assert first.status_code == 200 and first.json()["status"] == "completed"
        # naming alice is refused; alice's session id alone is mallory's own, empty session
        assert_error(ask(url, mallory, session_id="s1", user_id="alice"), 403, "forbidden")
        own = ask(url, mallory, text="probe", session_id="s1").json()
        said = own["output"][0]["content"][0]["text"]
        assert said == "turn 1: probe" and "my secret" not in str(own)
        again = ask(url, alice, text="again", session_id="s1").json()
        assert "before: my secret" in again["output"][0]["content"][0]["text"]
        admin = ask(url, issuer.headers("ops", admin=True), session_id="s1", user_id="alice")
        assert "my secret" in str(admin.json())


# --- the sandbox function and the query function's calls to it ------------------------------


@pytest.fixture
def sandbox_functions(settings, docker_client, sandbox_images_built) -> Iterator[dict[str, str]]:
    """The sandbox function (jwt) and a query function whose agent uses it, on 127.0.0.1."""
    with serve_app(sandbox_app(settings)) as sandbox_url:
        sandboxed_agent.sandbox_url = sandbox_url
        with serve_app(build_app(sandboxed_agent, settings)) as query_url:
            yield {"sandbox": sandbox_url, "query": query_url}
    for container in docker_client.containers.list(
        all=True, filters={"label": f"agentscope-faas.owner={owner_of(settings)}"}
    ):
        container.remove(force=True)


def owner_of(settings: Settings) -> str:
    from functions.runtime.sandbox.launchers.docker import owner_id

    return owner_id(settings)


def sandbox_routes(sid: str) -> list[tuple[str, str, Any]]:
    base = f"/v1/sandboxes/{sid}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/tools", None),
        ("POST", f"{base}/tools/run_shell_command", {"command": "id"}),
        ("GET", f"{base}/files", None),
        ("GET", f"{base}/files/notes.txt", None),
        ("POST", f"{base}/files/dir", {"op": "mkdir"}),
        ("DELETE", f"{base}/files/notes.txt", None),
        ("POST", f"{base}/pause", None),
        ("POST", f"{base}/resume", None),
        ("DELETE", base, None),
    ]


def test_sandboxes_belong_to_the_user_the_query_function_acted_for(sandbox_functions):
    issuer = Issuer(SECRET, "HS256")
    alice, mallory = issuer.headers("alice"), issuer.headers("mallory")
    query, sandbox = sandbox_functions["query"], sandbox_functions["sandbox"]
    answer = ask(query, alice, session_id="s1").json()
    assert answer["status"] == "completed", answer
    sid, uid = answer["output"][0]["content"][0]["text"].split()
    assert uid == "1000"
    with httpx.Client(base_url=sandbox) as http:
        mine = http.get("/v1/sandboxes", headers=alice).json()["items"]
        assert [(b["sandbox_id"], b["user_id"], b["session_id"]) for b in mine] == [
            (sid, "alice", "s1")
        ]
        assert http.get("/v1/sandboxes", headers=mallory).json()["items"] == []
        assert_error(
            http.get("/v1/sandboxes", params={"user_id": "alice"}, headers=mallory),
            403,
            "forbidden",
        )
        for method, path, body in sandbox_routes(sid):
            resp = http.request(method, path, json=body, headers=mallory)
            assert_error(resp, 403, "forbidden")
        made = http.post("/v1/sandboxes", json={"user_id": "alice"}, headers=mallory)
        assert_error(made, 403, "forbidden")
        # still alice's, still running, and the same sandbox serves her next turn
        assert http.get(f"/v1/sandboxes/{sid}", headers=alice).json()["user_id"] == "alice"
    again = ask(query, alice, session_id="s1").json()
    assert again["output"][0]["content"][0]["text"].split()[0] == sid
    # mallory's turn on a session of the same name gets a sandbox of her own
    hers = ask(query, mallory, session_id="s1").json()
    assert hers["output"][0]["content"][0]["text"].split()[0] != sid
    admin = issuer.headers("ops", admin=True)
    assert httpx.delete(f"{sandbox}/v1/sandboxes/{sid}", headers=admin).json()["deleted"]


# --- ids as users have them -----------------------------------------------------------------

IDS = ["alice@example.com", "auth0|abc123", "u" * 255 + "é", "ユーザー/東京"]


@pytest.mark.parametrize("user", IDS, ids=["email", "oidc-sub", "256-chars", "unicode"])
def test_any_user_id_works_end_to_end(settings, user, sandbox_functions):
    issuer = Issuer(SECRET, "HS256")
    headers = issuer.headers(user)
    query, sandbox = sandbox_functions["query"], sandbox_functions["sandbox"]
    session = user[:40] + " session"
    resp = ask(query, headers, session_id=session)
    assert urllib.parse.unquote(resp.headers["x-session-id"]) == session
    answer = resp.json()
    assert answer["status"] == "completed", answer
    sid = answer["output"][0]["content"][0]["text"].split()[0]
    box = httpx.get(f"{sandbox}/v1/sandboxes/{sid}", headers=headers).json()
    assert (box["user_id"], box["session_id"]) == (user, session)
    with serve_app(state_app(settings)) as url:
        segment = urllib.parse.quote(user, safe="").replace(".", "%2E")
        listed = httpx.get(f"{url}/v1/users/{segment}/sessions", headers=headers).json()
        assert [s["id"] for s in listed["items"]] == [session]
        quoted = urllib.parse.quote(session, safe="")
        messages = httpx.get(
            f"{url}/v1/users/{segment}/sessions/{quoted}/messages", headers=headers
        ).json()["items"]
        assert [m["role"] for m in messages] == ["user", "assistant"]


# --- local defenses (AUTH_MODE=none) ------------------------------------------------------


@pytest.fixture
def local_functions(tmp_path) -> Iterator[dict[str, str]]:
    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    with (
        serve_app(build_app(echo_app, settings)) as query,
        serve_app(state_app(settings)) as state,
        serve_app(sandbox_app(settings)) as sandbox,
    ):
        yield {"query": query, "state": state, "sandbox": sandbox, "store": str(tmp_path)}


def test_a_cross_site_simple_request_never_runs_the_agent(local_functions, tmp_path):
    query = local_functions["query"]
    body = '{"input": [{"role": "user", "content": [{"type": "text", "text": "pwned"}]}]}'
    attempts: list[Callable[[], httpx.Response]] = [
        # what a page on another site can send without a CORS preflight
        lambda: httpx.post(
            f"{query}/process",
            content=body,
            headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        ),
        lambda: httpx.post(
            f"{query}/process", content=body, headers={"Content-Type": "text/plain"}
        ),
        lambda: httpx.post(
            f"{query}/process",
            content=body,
            headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
        ),
    ]
    for attempt in attempts:
        resp = attempt()
        assert resp.status_code in (403, 415), resp.text
        assert resp.json()["code"] in ("cross_site_request", "unsupported_media_type")
    assert not list((tmp_path / "store").rglob("*history*")), "no session was touched"
    # what curl and the SDK send still works
    ok = httpx.post(f"{query}/process", content=body, headers={"Content-Type": "application/json"})
    assert ok.status_code == 200 and "pwned" in ok.text
    same_site = httpx.post(
        f"{query}/process",
        content=body,
        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:8090"},
    )
    assert same_site.status_code == 200


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_a_rebound_host_name_is_refused(local_functions, function):
    url = local_functions[function]
    for host in ("rebind.example", "rebind.example:8090", "10.0.0.1", "0.0.0.0:8091"):
        resp = httpx.get(f"{url}/health", headers={"Host": host})
        assert_error(resp, 403, "host_not_allowed")
    for host in ("localhost", "127.0.0.1:8091", "[::1]:8092", "app.localhost"):
        assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_a_caller_on_another_machine_is_refused_whatever_host_it_names(local_functions, function):
    """A server bound beyond loopback (HOST=0.0.0.0 in a seed-style config) must not run code
    for the network because a caller wrote ``Host: 127.0.0.1``. The remote peer is made by
    uvicorn's proxy headers: a hop on 127.0.0.1 forwarding for 192.0.2.7."""
    url = local_functions[function]
    remote = {"Host": "127.0.0.1", "X-Forwarded-For": "192.0.2.7"}
    assert_error(httpx.get(f"{url}/health", headers=remote), 403, "remote_caller")
    local = {"Host": "127.0.0.1", "X-Forwarded-For": "127.0.0.1"}
    assert httpx.get(f"{url}/health", headers=local).status_code == 200


# --- a store written before ids could be anything -----------------------------------------


def test_sessions_written_before_still_serve(tmp_path):
    """The store of tests/fixtures/store_v1 was written by the code before this change."""
    import shutil
    from pathlib import Path

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
    shutil.copytree(fixture, tmp_path / "store")
    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    with serve_app(state_app(settings)) as url, httpx.Client(base_url=url) as http:
        listed = http.get("/v1/users/alice/sessions").json()["items"]
        assert [s["id"] for s in listed] == ["s1"]
        got = http.get("/v1/users/alice/sessions/s1/messages").json()["items"]
        assert texts(got) == ["written before", "and its answer"]
        assert http.get("/v1/users/alice/sessions/s1/state").json()["state"] == {"round": "one"}
        mem = http.post("/v1/users/alice/memory/search", json={"query": "before"}).json()
        assert texts(mem["items"]) == ["remembered before"]
    with serve_app(build_app(echo_app, settings)) as url:
        answer = httpx.post(
            f"{url}/process",
            json={"input": [msg("continued")], "session_id": "s1", "user_id": "alice"},
        )
        assert "before: written before" in answer.text


def test_a_remembered_token_is_refused_once_it_expires(settings, issuer):
    # a verified token is remembered (no second signature check), but only until its exp
    settings = settings.model_copy(update={"auth_leeway_s": 0})
    headers = issuer.headers("alice", exp=int(time.time()) + 2)
    with serve_app(state_app(settings)) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            assert http.get("/v1/users/alice/sessions", headers=headers).is_success
        end = time.monotonic() + 15  # a deadline: the token expires within 2 s
        while (resp := http.get("/v1/users/alice/sessions", headers=headers)).is_success:
            assert time.monotonic() < end, "an expired token was still accepted"
            time.sleep(0.1)
        assert_error(resp, 401, "unauthorized")
        assert "expired" in resp.json()["detail"]


async def test_remembered_verifications_are_bounded(settings):
    from functions.runtime.auth.jwt import VERIFIED_TOKENS, JwtVerifier

    verifier = JwtVerifier(settings)
    minter = Issuer(SECRET, "HS256")
    tokens = [minter.token(f"user-{n}") for n in range(VERIFIED_TOKENS + 50)]
    for n, token in enumerate(tokens):
        assert (await verifier.verify(token)).user_id == f"user-{n}"
    assert len(verifier._verified) == VERIFIED_TOKENS  # the oldest were forgotten
    first = await verifier.verify(tokens[0])  # forgotten first: verified again, still good
    assert first.user_id == "user-0"
