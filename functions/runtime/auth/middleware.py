"""Authentication of every request, before any route runs (installed by the app factory).

``AUTH_MODE=jwt``: a bearer JWT (``Authorization``, or ``X-Forwarded-Authorization`` when
the platform's signed door uses ``Authorization`` for its own signature) is verified and
becomes the request's :class:`Principal`; none or a bad one is a 401. Public paths
(``/health``, an agent card) pass anonymously. ``AUTH_MODE=none``: every request is the
anonymous local principal, behind the local defenses of ``local.py``.

The principal is in ``scope["state"]["principal"]`` for routes and in
``functions.runtime.auth.CURRENT`` for code that calls other functions on its behalf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ApiError
from ..http_errors import error_response
from .local import check_local_request
from .principal import ANONYMOUS, CURRENT, Principal, Unauthorized

if TYPE_CHECKING:
    from ..settings import Settings

Predicate = Callable[[Scope], bool]

FORWARDED_AUTHORIZATION = b"x-forwarded-authorization"


def bearer_token(scope: Scope) -> str | None:
    """The request's bearer credential: ``X-Forwarded-Authorization`` first (the caller's
    own token, beside a platform signature in ``Authorization``), else ``Authorization``."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in (b"authorization", FORWARDED_AUTHORIZATION):
            found[key] = value.decode("latin-1")
    for header in (FORWARDED_AUTHORIZATION, b"authorization"):
        scheme, _, credential = found.get(header, "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return credential.strip()
    return None


class Authenticate:
    """ASGI middleware giving every HTTP and WebSocket request its principal."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        public: Predicate = lambda scope: False,
        json_route: Predicate = lambda scope: True,
    ) -> None:
        self.app = app
        self.settings = settings
        self.public = public
        self.json_route = json_route
        self._verifier: Any = None

    def verifier(self) -> Any:
        if self._verifier is None:
            from .jwt import JwtVerifier  # PyJWT (and cryptography) only where JWTs are used

            self._verifier = JwtVerifier(self.settings)
        return self._verifier

    async def authenticate(self, scope: Scope) -> Principal:
        if self.settings.auth_mode == "none":
            check_local_request(scope, self.json_route)
            return ANONYMOUS
        token = bearer_token(scope)
        if token is None:
            if self.public(scope):
                return ANONYMOUS
            raise Unauthorized("this function needs a bearer token (Authorization: Bearer <JWT>)")
        principal: Principal = await self.verifier().verify(token)
        return principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticate(scope)
        except ApiError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": exc.code})
                return
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        reset = CURRENT.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT.reset(reset)
