"""The platform's check in front of a function URL: Lambda's ``AWS_IAM``, FC's ``function``.

With those auth types the cloud refuses a request before the function sees it unless a
principal allowed to invoke the function signed it. The emulator does the same in front of
the sandbox function in artifact mode, so the query function's signing (the SDK's
``SANDBOX_URL_AUTH``) is proven against a refusing door, not an open one:

- :class:`SigV4Verifier`: Signature Version 4 as a Function URL checks it - service
  ``lambda``, the URL's region, ``host`` and ``x-amz-date`` signed, at most 5 minutes of
  clock skew, the body's hash, the session token of temporary credentials - and only keys
  of roles granted ``lambda:InvokeFunctionUrl``. A refusal is Lambda's ``403
  {"Message": ...}``. The canonical request is botocore's, AWS's reference signer.
- :class:`FcTriggerVerifier`: the ACS3-HMAC-SHA256 signature (``acs_signature.verify``)
  with FC's trigger refusal: 403 ``{Code, Message, RequestId}``
  (``fc.exceptions.TriggerSignatureRefused``, as the FC emulator's sandbox triggers answer).
- :func:`role_keys`: the temporary credentials the platform gives a function's role
  (``AWS_*`` on Lambda, ``ALIBABA_CLOUD_*`` on FC), made up per run and never printed.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from local_emulator.acs_signature import Credential, NonceCache, SignatureError, verify
from local_emulator.triggers import read_body, send_json

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_MAX_SKEW_S = 300.0


class Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


class Verifier(Protocol):
    def __call__(
        self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> str: ...


@dataclass(frozen=True)
class AwsKey:
    secret: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _forbidden(message: str) -> Refused:
    return Refused(403, {"Message": message})


class SigV4Verifier:
    """Who may call a Function URL with ``AWS_IAM`` auth: the holders of these keys."""

    def __init__(self, keys: Mapping[str, AwsKey], region: str, service: str = "lambda") -> None:
        self.keys, self.region, self.service = dict(keys), region, service

    def __call__(
        self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> str:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        algorithm, _, rest = headers.get("authorization", "").partition(" ")
        if algorithm != SIGV4_ALGORITHM:
            raise _forbidden("Forbidden")  # what a Function URL says to an unsigned request
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        try:
            key_id, day, region, service, terminator = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            raise _forbidden(
                "Authorization header requires Credential, SignedHeaders and Signature"
            ) from None
        if service != self.service or terminator != "aws4_request":
            raise _forbidden(f"Credential should be scoped to correct service: '{self.service}'.")
        if region != self.region:
            raise _forbidden(
                f"Credential should be scoped to a valid region, not '{region}'; "
                f"this URL is in '{self.region}'."
            )
        missing = [h for h in ("host", "x-amz-date") if h not in signed or h not in headers]
        if missing:
            raise _forbidden(f"these headers must be sent and signed: {missing}")
        stamp = headers["x-amz-date"]
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise _forbidden(f"x-amz-date {stamp!r} is not a SigV4 timestamp") from None
        if abs(time.time() - signed_at.timestamp()) > SIGV4_MAX_SKEW_S or day != stamp[:8]:
            raise _forbidden("Signature expired: the request was signed more than 5 minutes ago")
        key = self.keys.get(key_id)
        if key is None:  # unknown, or a role without lambda:InvokeFunctionUrl on this function
            raise _forbidden("Forbidden")
        if key.session_token is not None and not hmac.compare_digest(
            headers.get("x-amz-security-token", ""), key.session_token
        ):
            raise _forbidden("The security token included in the request is invalid.")
        url = f"http://{headers['host']}{raw_path}" + (f"?{query}" if query else "")
        request = AWSRequest(
            method=method, url=url, data=body, headers={h: headers.get(h, "") for h in signed}
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(key_id, key.secret, key.session_token), service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(signature, expected):
            raise _forbidden(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."
            )
        return key_id


class FcTriggerVerifier:
    """Who may call an HTTP trigger with ``function`` auth: the holders of these keys."""

    def __init__(self, keys: Mapping[str, Credential]) -> None:
        self.keys = dict(keys)
        self.nonces = NonceCache()

    def __call__(
        self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> str:
        from local_emulator.fc.exceptions import TriggerSignatureRefused

        try:
            return verify(method, raw_path, query, headers, body, self.keys, nonces=self.nonces)
        except SignatureError as exc:
            refused = TriggerSignatureRefused(exc.status, exc.code, exc.message)
            raise Refused(refused.status, refused.body(str(uuid.uuid4()))) from None


class SignedOnly:
    """An ASGI front that lets through only requests ``verifier`` accepts."""

    def __init__(self, app: Any, verifier: Verifier) -> None:
        self.app, self.verifier = app, verifier

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, None) or b""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            self.verifier(
                scope["method"],
                raw_path.split("?", 1)[0],
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
            )
        except Refused as exc:
            await send_json(send, exc.status, exc.body)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def role_keys(platform: str, region: str) -> tuple[dict[str, str], Verifier]:
    """A role's temporary key as the platform hands it to a function, and a verifier that
    admits that role (and no other) at a URL which demands signed calls."""
    key_id = ("ASIA" if platform == "aws" else "STS.") + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    token = secrets.token_urlsafe(48)
    if platform == "aws":
        env = {
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": token,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        return env, SigV4Verifier({key_id: AwsKey(secret, token)}, region)
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": token,
    }
    return env, FcTriggerVerifier({key_id: Credential(secret, token)})
