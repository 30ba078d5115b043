"""Bearer JWTs verified with PyJWT: OIDC signing keys from a JWKS URL, or a dev HS256 secret.

``AUTH_JWKS_URL`` is any OIDC provider's key set (Cognito, Auth0, Alibaba IDaaS...): keys are
fetched once and cached by ``kid``; a token signed with an unknown ``kid`` (the provider
rotated its keys) refetches the set, at most every ``AUTH_JWKS_MIN_REFRESH_S``.
``AUTH_JWT_SECRET`` accepts HS256 tokens for development (``python -m local_emulator token``).
``AUTH_ISSUER`` / ``AUTH_AUDIENCE`` are checked when set; ``exp`` is required. The user is the
claim ``AUTH_USER_CLAIM`` (``sub``); a token whose ``scope`` / ``scp`` holds
``AUTH_ADMIN_SCOPE`` may act for any user. A token without the user claim is a service.

A client sends the same token with every request until it expires, so a verified token's
principal is remembered (the last ``VERIFIED_TOKENS`` tokens, each only until its ``exp``,
leeway included): verifying a signature costs more than the rest of a short request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import jwt

from ..settings import secret_value
from ..storage.keys import InvalidId, validate_id
from .principal import Principal, Unauthorized

if TYPE_CHECKING:
    from ..settings import Settings

VERIFIED_TOKENS = 1024  # remembered verifications: bounded, so many callers cannot grow it
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class JwtVerifier:
    def __init__(self, settings: Settings) -> None:
        self.secret = secret_value(settings.auth_jwt_secret)
        self.jwks_url = settings.auth_jwks_url
        if not self.secret and not self.jwks_url:
            raise RuntimeError("AUTH_MODE=jwt needs AUTH_JWKS_URL (or AUTH_JWT_SECRET in dev)")
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.user_claim = settings.auth_user_claim
        self.admin_scope = settings.auth_admin_scope
        self.leeway = settings.auth_leeway_s
        self.min_refresh_s = settings.auth_jwks_min_refresh_s
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._fetching = asyncio.Lock()
        # token -> (its principal, the time.time() until which it is good)
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The principal ``token`` proves; ``Unauthorized`` (401) saying why otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                self._verified.move_to_end(token)
                return known[0]
            del self._verified[token]  # expired since: verified again, and refused
        principal, good_until = await self._verify(token)
        self._verified[token] = (principal, good_until)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)  # its kid, crit... checked as well
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(
                f"the bearer token is not a JWT: {exc}", invalid_token=True
            ) from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Unauthorized("the bearer token's alg is not a name", invalid_token=True)
        if alg == "HS256" and self.secret:
            key: Any = self.secret
        elif alg in ASYMMETRIC and self.jwks_url:
            key = await self._signing_key(header.get("kid"))
        else:
            raise Unauthorized(f"tokens signed with {alg!r} are not accepted", invalid_token=True)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bearer token has expired", invalid_token=True) from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                "the bearer token is for another audience", invalid_token=True
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(
                "the bearer token is from another issuer", invalid_token=True
            ) from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the bearer token is invalid: {exc}", invalid_token=True) from None
        try:  # PyJWT takes any integer: 10**400 is no time a float holds
            good_until = float(claims["exp"]) + self.leeway
        except (OverflowError, TypeError, ValueError):
            good_until = math.nan
        if not math.isfinite(good_until):
            raise Unauthorized("the bearer token's exp is not a time", invalid_token=True)
        return self.principal(claims, token), good_until

    def principal(self, claims: dict[str, Any], token: str) -> Principal:
        """The token's principal. ``scope`` is a space-separated string (RFC 8693) and
        ``scp`` a string or a list of strings (as Azure AD and Okta issue it); the user
        claim a user id (``storage/keys.py: validate_id``). Any other is ``Unauthorized``:
        read loosely, a dict's keys would count as scopes."""
        scopes = claims.get("scope")
        if scopes is None:
            scopes = claims.get("scp") or ""
        if isinstance(scopes, str):
            granted = frozenset(scopes.split())
        elif isinstance(scopes, list) and all(isinstance(scope, str) for scope in scopes):
            granted = frozenset(scopes)
        else:
            raise Unauthorized(
                "the bearer token's scope must be a string or a list of strings",
                invalid_token=True,
            )
        user = claims.get(self.user_claim)
        admin = self.admin_scope in granted
        if user is None or user == "":
            return Principal("service", None, admin, granted, token)
        try:  # a string (PyJWT refuses any other ``sub``; so do we any claim) and an id
            validate_id(user, f"the bearer token's {self.user_claim!r} claim")
        except InvalidId as exc:
            raise Unauthorized(str(exc.detail), invalid_token=True) from None
        return Principal("user", user, admin, granted, token)

    async def _signing_key(self, kid: str | None) -> Any:
        if kid in self._keys:
            return self._keys[kid]
        async with self._fetching:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self.min_refresh_s:
                self._keys = await asyncio.to_thread(self._fetch)
                self._fetched_at = time.monotonic()
        if kid not in self._keys:
            raise Unauthorized(f"no signing key {kid!r} in the issuer's keys", invalid_token=True)
        return self._keys[kid]

    def _fetch(self) -> dict[str | None, Any]:
        assert self.jwks_url is not None
        try:
            found = jwt.PyJWKClient(self.jwks_url, cache_jwk_set=False, timeout=10).get_jwk_set()
        except jwt.PyJWKClientError as exc:
            raise Unauthorized(f"the issuer's keys could not be fetched: {exc}") from None
        keys: dict[str | None, Any] = {k.key_id: k.key for k in found.keys}
        if len(found.keys) == 1:
            keys.setdefault(None, found.keys[0].key)  # a token without kid, one key: that one
        return keys
