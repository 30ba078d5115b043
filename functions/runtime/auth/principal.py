"""Who is calling: the principal a request was authenticated as, and whom it may act for."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ApiError

Kind = Literal["user", "service", "anonymous"]


class Unauthorized(ApiError):
    """No credentials, or credentials that do not verify (RFC 6750: ``WWW-Authenticate``)."""

    status = 401
    code = "unauthorized"

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    """Authenticated, but not allowed to touch what the request names."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """A verified caller.

    ``user_id`` is the end user it is (None for a service or an anonymous local caller);
    ``admin`` may act for any user; ``token`` is the bearer credential it came with,
    forwarded on calls made for it (never logged: ``repr`` hides it).
    """

    kind: Kind
    user_id: str | None = None
    admin: bool = False
    scopes: frozenset[str] = frozenset()
    token: str | None = field(default=None, repr=False)

    def act_for(self, requested: str | None, default: str) -> str:
        """The user a request acts for: the one it names, else its own (else ``default``).

        ``Forbidden`` (403) when it names another user and is not an admin. An anonymous
        local principal (``AUTH_MODE=none``) acts for whoever is named, as before identity.
        """
        if requested is None:
            if self.user_id is not None:
                return self.user_id
            if self.kind == "service" and not self.admin:
                raise Forbidden("a service principal must name the user it acts for")
            return default
        if self.kind == "anonymous" or self.admin or requested == self.user_id:
            return requested
        raise Forbidden(f"this principal may not act for user {requested!r}")

    def require_admin(self, action: str) -> None:
        """``Forbidden`` (403) unless it is an admin (or the anonymous local principal of
        ``AUTH_MODE=none``, which acts for anyone)."""
        if not (self.admin or self.kind == "anonymous"):
            raise Forbidden(f"{action} is for admins only (a token with the admin scope)")

    def may_access(self, owner: str) -> bool:
        """Whether it may touch a resource owned by ``owner`` (a sandbox, a task...)."""
        return self.kind == "anonymous" or self.admin or owner == self.user_id


ANONYMOUS = Principal(kind="anonymous")

# the principal of the request being served: set by the authentication middleware, read by
# code that calls other functions for it (the sandbox SDK forwards its token)
CURRENT: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)


def current_principal() -> Principal:
    return CURRENT.get()
