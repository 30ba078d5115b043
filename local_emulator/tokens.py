"""Development JWTs: ``python -m local_emulator token --user alice [--admin]``.

For functions started with ``AUTH_MODE=jwt`` and ``AUTH_JWT_SECRET`` (HS256): the token
carries the claims a real OIDC provider's access token would (``sub``, ``exp``, ``iat``,
``scope``, and ``iss`` / ``aud`` when the functions check them). Never for production:
deployments verify tokens from their identity provider's JWKS (``AUTH_JWKS_URL``).
"""

from __future__ import annotations

import argparse
import time

DEFAULT_TTL_S = 3600


def mint_token(
    secret: str,
    user: str | None,
    *,
    admin: bool = False,
    admin_scope: str = "agentscope:admin",
    ttl_s: float = DEFAULT_TTL_S,
    issuer: str | None = None,
    audience: str | None = None,
    user_claim: str = "sub",
    extra: dict | None = None,
) -> str:
    """An HS256 JWT for ``user`` (None: a service token without a user claim)."""
    import jwt

    now = int(time.time())
    claims: dict = {"iat": now, "exp": now + int(ttl_s), "scope": "openid"}
    if user is not None:
        claims[user_claim] = user
    if admin:
        claims["scope"] += f" {admin_scope}"
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256")


def dev_token(user: str, *, admin: bool = False, ttl_s: float = DEFAULT_TTL_S) -> str:
    """A token the functions configured by this environment accept: signed with its
    ``AUTH_JWT_SECRET``, with its issuer, audience, user claim and admin scope.

    ``ValueError`` when ``AUTH_JWT_SECRET`` is not set."""
    from functions.runtime.settings import Settings, secret_value

    settings = Settings()
    secret = secret_value(settings.auth_jwt_secret)
    if secret is None:
        raise ValueError("set AUTH_JWT_SECRET (the functions' dev secret) to mint a token")
    return mint_token(
        secret,
        user,
        admin=admin,
        admin_scope=settings.auth_admin_scope,
        ttl_s=ttl_s,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        user_claim=settings.auth_user_claim,
    )


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(
        prog="python -m local_emulator token",
        description="Print a development JWT for functions run with AUTH_MODE=jwt and "
        "AUTH_JWT_SECRET (the secret, issuer and audience are read from the environment).",
    )
    parser.add_argument("--user", required=True, help="the user id (the token's sub claim)")
    parser.add_argument("--admin", action="store_true", help="may act for any user")
    parser.add_argument("--ttl", type=float, default=DEFAULT_TTL_S, help="seconds (3600)")
    args = parser.parse_args(argv)
    try:
        print(dev_token(args.user, admin=args.admin, ttl_s=args.ttl))
    except ValueError as exc:
        parser.error(str(exc))
    return 0
