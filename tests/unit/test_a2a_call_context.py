"""The call context a2a-sdk's handler gets holds the request's headers but its secrets."""

from __future__ import annotations

from starlette.requests import Request

from functions.runtime.auth.principal import Principal
from functions.runtime.protocols.a2a_server import OWNER_KEY, PrincipalContextBuilder


def test_credentials_and_the_platforms_headers_stay_out_of_the_sdks_context():
    headers = {
        "a2a-version": "1.0",
        "authorization": "Bearer user-token",
        "x-forwarded-authorization": "Bearer other",
        "cookie": "session=s",
        # FC's own: the function role's temporary key comes with every request
        "x-fc-access-key-id": "STS.key",
        "x-fc-access-key-secret": "role-secret",
        "x-fc-security-token": "role-token",
        "x-fc-request-id": "r-1",
    }
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/a2a",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "state": {OWNER_KEY: "alice", "principal": Principal(kind="user", user_id="alice")},
    }
    context = PrincipalContextBuilder().build(Request(scope))
    assert context.state["headers"] == {"a2a-version": "1.0"}
    assert context.user.user_name == "alice"
