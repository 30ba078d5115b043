"""Verify Alibaba Cloud V3 request signatures (``ACS3-HMAC-SHA256``) in the local emulators.

The official SDKs built on ``alibabacloud-tea-openapi`` (FC 3.0, AgentRun, ...) sign every
ROA request with the V3 scheme; an emulator that checks it refuses a wrong key pair the way
the cloud does, so tests prove the SDK is configured, not merely pointed somewhere. Shared by
every emulator of an OpenAPI product (``local_emulator/agentrun``, ``local_emulator/fc``):
each maps ``SignatureError`` to its own error body.

The canonical request and signature are computed by the same functions the sandbox SDK
signs FC HTTP trigger calls with (``functions/runtime/sandbox/url_auth.py``); the scheme, as
Alibaba Cloud documents it ("Request syntax and signature method V3",
https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature)
and as tea-openapi 0.4 implements it:

* ``Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,
  Signature=<hex>``
* canonical request = method, the path as sent (``/`` when empty), the canonical query
  (keys sorted, values percent-encoded with only ``~`` safe, ``k=v`` joined with ``&``), one
  ``name:value`` line per signed header (lower-case names, sorted, values trimmed), the
  signed header list, and the hex SHA-256 of the body (also sent as ``x-acs-content-sha256``)
* signature = hex HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n" + hex SHA-256(canonical request))
* ``host``, ``x-acs-date``, ``x-acs-signature-nonce`` and ``x-acs-content-sha256`` must be
  signed; ``x-acs-date`` (ISO 8601 UTC) may be at most 15 minutes off, and a nonce is
  accepted once within that window; STS credentials add ``x-acs-security-token``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from functions.runtime.sandbox.url_auth import ACS3_ALGORITHM, acs3_signature

REQUIRED_SIGNED = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
MAX_SKEW_S = 900.0


class SignatureError(Exception):
    """Why a request was refused, with the code and status Alibaba Cloud's gateway uses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Credential:
    secret: str
    security_token: str | None = None  # set: requests must carry it (an STS credential)


class NonceCache:
    """Nonces seen within the clock-skew window; a replayed request is refused."""

    def __init__(self, window_s: float = MAX_SKEW_S, limit: int = 100_000) -> None:
        self.window_s, self.limit = window_s, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, nonce: str, now: float) -> bool:
        with self._lock:
            while self._seen and (
                len(self._seen) >= self.limit or next(iter(self._seen.values())) < now
            ):
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now + self.window_s
            return True


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ACS3_ALGORITHM:
        raise SignatureError(400, "IncompleteSignature", f"unsupported algorithm {algorithm!r}")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    try:
        return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError as missing:
        raise SignatureError(
            400, "IncompleteSignature", f"the Authorization header has no {missing.args[0]}"
        ) from None


def _timestamp(value: str) -> float:
    try:
        return (
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        )
    except ValueError:
        raise SignatureError(
            400, "InvalidTimeStamp.Format", f"x-acs-date {value!r} is not ISO 8601 UTC"
        ) from None


def verify(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, Credential],
    *,
    nonces: NonceCache | None = None,
    now: float | None = None,
) -> str:
    """The AccessKey id that signed the request; ``SignatureError`` when it is not valid.

    ``headers`` must have lower-case names (as ASGI gives them); ``raw_path`` is the path as
    it came over the wire, still percent-encoded, which is what the SDK signs.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureError(400, "MissingAuthorization", "the request is not signed")
    key_id, signed, signature = _parse_authorization(authorization)
    missing = [h for h in REQUIRED_SIGNED if h not in signed or h not in headers]
    if missing:
        raise SignatureError(
            400, "IncompleteSignature", f"these headers must be sent and signed: {missing}"
        )
    credential = credentials.get(key_id)
    if credential is None:
        raise SignatureError(
            403, "InvalidAccessKeyId.NotFound", f"AccessKeyId {key_id!r} does not exist"
        )
    now = time.time() if now is None else now
    if abs(now - _timestamp(headers["x-acs-date"])) > MAX_SKEW_S:
        raise SignatureError(
            400, "InvalidTimeStamp.Expired", "x-acs-date is more than 15 minutes off"
        )
    payload_hash = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(headers["x-acs-content-sha256"], payload_hash):
        raise SignatureError(
            400, "ContentSHA256Mismatch", "x-acs-content-sha256 does not match the body"
        )
    if credential.security_token is not None and not hmac.compare_digest(
        headers.get("x-acs-security-token", ""), credential.security_token
    ):
        raise SignatureError(403, "InvalidSecurityToken.Mismatch", "the STS token is not valid")
    expected = acs3_signature(
        credential.secret, method, raw_path, query_string, headers, signed, payload_hash
    )
    if not hmac.compare_digest(signature, expected):
        raise SignatureError(
            403,
            "SignatureDoesNotMatch",
            "the request signature does not match; check the AccessKey secret",
        )
    if nonces is not None and not nonces.claim(headers["x-acs-signature-nonce"], now):
        raise SignatureError(400, "SignatureNonceUsed", "x-acs-signature-nonce was used before")
    return key_id


async def verify_request(
    request: object,
    credentials: Mapping[str, Credential],
    *,
    nonces: NonceCache | None = None,
) -> str:
    """``verify`` for a Starlette ``Request`` (reads its body, which Starlette caches)."""
    from starlette.requests import Request

    assert isinstance(request, Request)
    scope = request.scope
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    return verify(
        request.method,
        raw_path.split("?", 1)[0],
        scope.get("query_string", b"").decode("latin-1"),
        {k.lower(): v for k, v in request.headers.items()},
        await request.body(),
        credentials,
        nonces=nonces,
    )
