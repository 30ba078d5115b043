"""Signed calls to the sandbox function: SANDBOX_URL_AUTH against a door that refuses.

The doors are the emulator's (``local_emulator/url_auth.py``): SigV4 as a Lambda Function
URL with AWS_IAM auth checks it, ACS3 as an FC HTTP trigger with ``function`` auth checks
it. Each is served by uvicorn on 127.0.0.1 in front of an echo app (the signing itself) or
the real sandbox function (the SDK end to end, on both sandbox backends).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from types import SimpleNamespace

import httpx
import pytest

from functions.runtime.sandbox import BaseSandbox, SandboxError
from functions.runtime.sandbox.url_auth import AwsSigV4Auth, FcSignatureAuth, sandbox_url_auth
from functions.runtime.settings import Settings
from local_emulator.acs_signature import Credential
from local_emulator.triggers import read_body
from local_emulator.url_auth import (
    AwsKey,
    FcTriggerVerifier,
    SignedOnly,
    SigV4Verifier,
    role_keys,
)
from tests.fixtures.servers import serve_app
from tests.sandbox.support import text_of

KEY_ID, SECRET, TOKEN = "ASIAQUERYROLE0001", "query-role-secret", "query-role-session-token"
REGION = "eu-central-1"


async def echo(scope, receive, send) -> None:
    """What reached the function: method, path, query and body."""
    if scope["type"] != "http":
        return
    body = await read_body(receive, None) or b""
    seen = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "body": body.decode(),
    }
    data = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": data})


@pytest.fixture
def aws_role(monkeypatch) -> None:
    """The query function's role credentials, where Lambda puts them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def lambda_url():
    verifier = SigV4Verifier({KEY_ID: AwsKey(SECRET, TOKEN)}, REGION)
    with serve_app(SignedOnly(echo, verifier)) as url:
        yield url


def post(url: str, auth: httpx.Auth | None, **kwargs) -> httpx.Response:
    with httpx.Client(auth=auth, timeout=30) as client:
        return client.post(f"{url}/v1/sandboxes/sbx-1/tools/run?x=1&a=b c", **kwargs)


def test_sigv4_signed_call_passes_with_body_and_query_intact(aws_role, lambda_url):
    resp = post(lambda_url, AwsSigV4Auth(), json={"code": "print(1)"})
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert seen["path"] == "/v1/sandboxes/sbx-1/tools/run"
    assert seen["query"] == "x=1&a=b%20c"
    assert json.loads(seen["body"]) == {"code": "print(1)"}


def test_unsigned_and_wrongly_signed_calls_are_refused(aws_role, lambda_url, monkeypatch):
    unsigned = post(lambda_url, None, json={})
    assert unsigned.status_code == 403 and unsigned.json() == {"Message": "Forbidden"}

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong_secret = post(lambda_url, AwsSigV4Auth(), json={})
    assert wrong_secret.status_code == 403
    assert "signature we calculated does not match" in wrong_secret.json()["Message"]

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "another-session")
    assert post(lambda_url, AwsSigV4Auth(), json={}).status_code == 403

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIASTATEROLE0002")  # a role not granted the URL
    other = post(lambda_url, AwsSigV4Auth(), json={})
    assert other.status_code == 403 and other.json() == {"Message": "Forbidden"}


def test_sigv4_scope_region_and_age_are_checked(aws_role, lambda_url, monkeypatch):
    elsewhere = post(lambda_url, AwsSigV4Auth(region="us-west-2"), json={})
    assert elsewhere.status_code == 403 and "region" in elsewhere.json()["Message"]

    import botocore.auth

    signed_at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    stale = post(lambda_url, AwsSigV4Auth(), json={})
    assert stale.status_code == 403 and "expired" in stale.json()["Message"]


def test_a_body_changed_after_signing_is_refused(aws_role, lambda_url):
    with httpx.Client(timeout=30) as client:
        request = client.build_request("POST", f"{lambda_url}/v1/sandboxes", json={"type": "base"})
        signed = next(AwsSigV4Auth().sync_auth_flow(request))
        headers = {k: v for k, v in signed.headers.items() if k != "content-length"}
        tampered = client.build_request(
            "POST", signed.url, headers=headers, content=b'{"type": "shell"}'
        )
        resp = client.send(tampered)
    assert resp.status_code == 403 and "does not match" in resp.json()["Message"]


def test_the_region_comes_from_a_function_url_host(aws_role):
    request = httpx.Request(
        "GET", "https://abcdefghij.lambda-url.ap-southeast-1.on.aws/v1/sandboxes/sbx-1"
    )
    signed = next(AwsSigV4Auth().sync_auth_flow(request))
    scope = signed.headers["authorization"].split("Credential=")[1].split(",")[0]
    assert scope.split("/")[2:4] == ["ap-southeast-1", "lambda"]
    assert signed.headers["x-amz-security-token"] == TOKEN


def test_aws_iam_without_credentials_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    settings = Settings(sandbox_url="http://127.0.0.1:9", sandbox_url_auth="aws_iam")
    box = BaseSandbox(settings=settings)  # a handle is cheap: the client comes on first use
    with pytest.raises(SandboxError, match="no AWS credentials"):
        box.start()


def fc_settings(secret: str = SECRET, token: str | None = TOKEN) -> Settings:
    return Settings(
        alibaba_cloud_access_key_id="STS.QUERYROLE",
        alibaba_cloud_access_key_secret=secret,
        alibaba_cloud_security_token=token,
        sandbox_url_auth="fc",
    )


@pytest.fixture
def fc_trigger():
    verifier = FcTriggerVerifier({"STS.QUERYROLE": Credential(SECRET, TOKEN)})
    with serve_app(SignedOnly(echo, verifier)) as url:
        yield url


def test_fc_signed_call_passes_and_bad_ones_get_fc_errors(fc_trigger):
    ok = post(fc_trigger, FcSignatureAuth(fc_settings()), json={"code": "1"})
    assert ok.status_code == 200, ok.text
    assert json.loads(ok.json()["body"]) == {"code": "1"}

    unsigned = post(fc_trigger, None, json={})
    # FC answers 403 to a trigger call without a valid signature, missing ones included
    assert unsigned.status_code == 403 and unsigned.json()["Code"] == "AccessDenied"
    wrong = post(fc_trigger, FcSignatureAuth(fc_settings(secret="nope")), json={})
    assert wrong.status_code == 403 and wrong.json()["Code"] == "SignatureNotMatch"
    no_token = post(fc_trigger, FcSignatureAuth(fc_settings(token=None)), json={})
    assert no_token.status_code == 403


def test_fc_replayed_request_is_refused(fc_trigger):
    with httpx.Client(timeout=30) as client:
        request = client.build_request("POST", f"{fc_trigger}/v1/sandboxes", json={})
        signed = next(FcSignatureAuth(fc_settings()).sync_auth_flow(request))
        assert client.send(signed).status_code == 200
        again = client.send(signed)
    assert again.status_code == 403 and again.json()["Code"] == "SignatureNonceUsed"


def test_fc_signature_matches_the_official_sdks(fc_trigger):
    """The same canonical request and signature as tea-openapi's own V3 signer."""
    from alibabacloud_tea_openapi.utils import Utils

    request = httpx.Request("POST", f"{fc_trigger}/v1/sandboxes/a%20b?z=1&a=x y", json={"k": 1})
    signed = next(FcSignatureAuth(fc_settings()).sync_auth_flow(request))
    names = signed.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    theirs = Utils.get_authorization(
        SimpleNamespace(
            method="POST",
            pathname="/v1/sandboxes/a%20b",
            query={"z": "1", "a": "x y"},
            headers={name: signed.headers[name] for name in names},
        ),
        "ACS3-HMAC-SHA256",
        hashlib.sha256(signed.content).hexdigest(),
        "STS.QUERYROLE",
        SECRET,
    )
    assert signed.headers["authorization"] == theirs


def test_fc_without_credentials_is_a_clear_error(fc_trigger):
    settings = Settings(sandbox_url_auth="fc", alibaba_cloud_credentials_secret=None)
    with pytest.raises(SandboxError, match="no Alibaba Cloud credentials"):
        post(fc_trigger, sandbox_url_auth(settings), json={})


def test_the_sdk_through_a_door_that_demands_the_role_s_signature(serve, settings, aws_role):
    """A sandbox made and called through an AWS_IAM-style door, on each sandbox backend."""
    _, verifier = role_keys("aws", REGION)  # a door that admits a role, not ours
    other_door = str(serve(settings, front=lambda app: SignedOnly(app, verifier)).base_url)
    with pytest.raises(SandboxError) as refused:
        BaseSandbox(base_url=other_door, settings=settings).start()
    assert refused.value.status == 403 and "Forbidden" in str(refused.value)

    ours = SigV4Verifier({KEY_ID: AwsKey(SECRET, TOKEN)}, REGION)
    url = str(serve(settings, front=lambda app: SignedOnly(app, ours)).base_url)
    signing = settings.model_copy(update={"sandbox_url_auth": "aws_iam"})
    with BaseSandbox(base_url=url, settings=signing) as box:
        assert text_of(box.run_ipython_cell(code="6 * 7")) == "42\n"
        assert text_of(box.run_shell_command(command="echo signed")) == "signed\n"
