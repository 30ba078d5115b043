"""Signing the SDK's calls to the sandbox function, for URLs that only admit signed callers.

A deployment keeps its sandbox API private by putting the platform's own check in front of
it: a Lambda Function URL with ``AWS_IAM`` auth, or an FC HTTP trigger with ``function``
auth. The platform then answers 403 to any request that its caller's role did not sign, so
the query function signs every call with the credentials the platform gave that role.
``SANDBOX_URL_AUTH`` says which scheme (Terraform sets it with the auth type it deploys):

- ``aws_iam``: Signature Version 4 for service ``lambda``, by botocore (AWS's own signer)
  with the role's credentials (``AWS_ACCESS_KEY_ID`` / ``_SECRET_ACCESS_KEY`` /
  ``_SESSION_TOKEN`` in a Lambda function); the region is read from the Function URL's
  host (``<id>.lambda-url.<region>.on.aws``), else ``AWS_REGION``.
- ``fc``: Alibaba Cloud's V3 signature (``ACS3-HMAC-SHA256``), as FC 3.0's HTTP triggers
  check it, with the role's temporary key FC puts in ``ALIBABA_CLOUD_*``.
- ``none``: nothing is added (an open URL, the emulator's default without artifacts).

The canonical request of the V3 scheme is built here once; the local emulators' verifier
(``local_emulator/acs_signature.py``) builds it with the same functions.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Generator, Mapping
from urllib.parse import parse_qsl, quote

import httpx

from ..settings import Settings
from .errors import LaunchError, SigningError

AUTH_SCHEMES = ("none", "aws_iam", "fc")
ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
_LAMBDA_URL_HOST = re.compile(r"\.lambda-url\.([a-z0-9-]+)\.on\.aws$")


def acs3_canonical_query(query_string: str) -> str:
    """Pairs sorted by key, values percent-encoded with only ``~`` safe, joined with ``&``."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(pairs))


def acs3_signature(
    secret: str,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    """Hex HMAC-SHA256 of the V3 string to sign; ``headers`` keyed by lower-case name."""
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    canonical_request = "\n".join(
        [
            method.upper(),
            raw_path or "/",
            acs3_canonical_query(query_string),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )
    to_sign = f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AwsSigV4Auth(httpx.Auth):
    """SigV4 for a Lambda Function URL, with whatever credentials botocore finds."""

    requires_request_body = True

    def __init__(self, region: str | None = None) -> None:
        import botocore.session  # only a query function behind AWS_IAM URLs pays for it

        self._session = botocore.session.Session()
        self._credentials = self._session.get_credentials()
        self._region = (
            region or os.environ.get("AWS_REGION") or self._session.get_config_variable("region")
        )
        if self._credentials is None:
            raise SigningError(
                "SANDBOX_URL_AUTH=aws_iam but no AWS credentials were found (a Lambda "
                "function has its role's in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
            )

    def _region_for(self, host: str) -> str:
        match = _LAMBDA_URL_HOST.search(host)
        region = match.group(1) if match else self._region
        if not region:
            raise SigningError(
                f"SANDBOX_URL_AUTH=aws_iam: no region in {host!r} and AWS_REGION is unset"
            )
        return region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        # sign what no hop between here and Lambda rewrites: the host, the body's type and
        # our own x- headers (not connection, accept-encoding or user-agent)
        kept = {
            name: value
            for name, value in request.headers.items()
            if name in ("host", "content-type") or name.startswith("x-")
        }
        signable = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=kept
        )
        credentials = self._credentials.get_frozen_credentials()  # refreshed when they expire
        SigV4Auth(credentials, "lambda", self._region_for(request.url.host)).add_auth(signable)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signable.headers:
                request.headers[name] = signable.headers[name]
        yield request


class FcSignatureAuth(httpx.Auth):
    """ACS3-HMAC-SHA256 for an FC 3.0 HTTP trigger with ``function`` auth."""

    requires_request_body = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from .launchers.alibaba import alibaba_credentials

        try:
            credentials = alibaba_credentials(self._settings)
        except LaunchError as exc:
            raise SigningError(f"SANDBOX_URL_AUTH=fc: {exc}") from None
        payload_hash = hashlib.sha256(request.content).hexdigest()
        added = {
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": payload_hash,
        }
        if credentials.security_token:
            added["x-acs-security-token"] = credentials.security_token
        request.headers.update(added)
        headers = {name: value for name, value in request.headers.items()}
        signed = sorted(["host", *added])
        signature = acs3_signature(
            credentials.access_key_secret,
            request.method,
            request.url.raw_path.decode("ascii").split("?", 1)[0],
            request.url.query.decode("ascii"),
            headers,
            signed,
            payload_hash,
        )
        request.headers["Authorization"] = (
            f"{ACS3_ALGORITHM} Credential={credentials.access_key_id},"
            f"SignedHeaders={';'.join(signed)},Signature={signature}"
        )
        yield request


# where botocore finds credentials and region: one signer per distinct source, since
# resolving them costs ~5 ms and every sandbox handle asks
_AWS_SOURCE_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_REGION",
)


@functools.lru_cache(maxsize=8)
def _aws_auth(_source: tuple[str | None, ...]) -> AwsSigV4Auth:
    return AwsSigV4Auth()


def sandbox_url_auth(settings: Settings) -> httpx.Auth | None:
    """The signer ``SANDBOX_URL_AUTH`` names, or None for an open URL."""
    scheme = settings.sandbox_url_auth
    if scheme == "aws_iam":
        return _aws_auth(tuple(os.environ.get(name) for name in _AWS_SOURCE_ENV))
    if scheme == "fc":
        return FcSignatureAuth(settings)
    return None
