"""Caller identity, one way for all functions: a request becomes a :class:`Principal`.

See ``middleware.py`` (how a request is authenticated), ``jwt.py`` (``AUTH_MODE=jwt``) and
``local.py`` (the defenses of ``AUTH_MODE=none``). Routes read the principal with the
``PrincipalDep`` dependency (the turn routes, which take the request alone to skip FastAPI's
dependency solving, with ``get_principal``) and resolve whom they act for with
``Principal.act_for``.
"""

from typing import Annotated

from fastapi import Depends, Request

from .principal import (
    ANONYMOUS,
    CURRENT,
    Forbidden,
    Principal,
    Unauthorized,
    current_principal,
)


def get_principal(request: Request) -> Principal:
    """The principal the authentication middleware gave this request (it always does)."""
    found = request.scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):  # never fall open to "anyone"
        raise Unauthorized("the request was not authenticated")
    return found


async def _principal(request: Request) -> Principal:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request
    return get_principal(request)


PrincipalDep = Annotated[Principal, Depends(_principal)]

__all__ = [
    "ANONYMOUS",
    "CURRENT",
    "Forbidden",
    "Principal",
    "PrincipalDep",
    "Unauthorized",
    "current_principal",
    "get_principal",
]
