"""The FC function role's temporary key, as fresh as the newest request brought it.

FC gives a function with a role that role's STS key twice: in the environment when an
instance starts (``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``_ACCESS_KEY_SECRET``,
``ALIBABA_CLOUD_SECURITY_TOKEN``), and in the ``x-fc-access-key-id``,
``x-fc-access-key-secret`` and ``x-fc-security-token`` headers of every request it sends the
function (FC's "Context and log format" for custom runtimes). A key is valid for 36 hours
("Grant Function Compute permissions to access other Alibaba Cloud services"), so an
instance that lives longer would sign every OSS and FC call with an expired environment
key. :class:`RoleKeyFromRequests`, installed only on FC (``FC_FUNCTION_NAME``, a variable
FC sets and a function may not), keeps the newest key requests brought, and :func:`fresh`
gives it to whatever signs with the role's key. A client cannot send these headers: FC
refuses a request with ``x-fc-`` headers (InvalidArgument), as the emulator does.

The key stays in this process: never logged, never answered (``repr`` hides the secret and
the token), and a2a-sdk's call context leaves ``x-fc-`` headers out (``a2a_server.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

_ID, _SECRET, _TOKEN = b"x-fc-access-key-id", b"x-fc-access-key-secret", b"x-fc-security-token"
# the role's key FC put in the environment: a configured key that is it may be refreshed
ENV_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"


@dataclass(frozen=True)
class RoleKey:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)


_newest: RoleKey | None = None


def note(headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Keep the role key in a request's headers (ASGI's: lower-case names) if it is new."""
    global _newest
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in (_ID, _SECRET, _TOKEN):
            found[name] = value.decode("latin-1")
    if len(found) < 3 or not all(found.values()):
        return
    newest = _newest
    if newest is None or (newest.access_key_id, newest.security_token) != (
        found[_ID],
        found[_TOKEN],
    ):
        _newest = RoleKey(found[_ID], found[_SECRET], found[_TOKEN])


def fresh(key_id: str, secret: str, token: str | None) -> tuple[str, str, str | None]:
    """``(key id, secret, token)`` to sign with: the newest role key a request brought when
    the configured key is the role's key FC put in the environment (a key configured
    otherwise is the operator's and stays); the configured key when none came yet."""
    newest = _newest
    if newest is None or key_id != os.environ.get(ENV_KEY_ID):
        return key_id, secret, token
    return newest.access_key_id, newest.access_key_secret, newest.security_token


def forget() -> None:
    """Drop the key requests brought (tests; an instance never needs to)."""
    global _newest
    _newest = None


class RoleKeyFromRequests:
    """ASGI middleware: every request's role key goes to :func:`note`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            note(scope["headers"])
        await self.app(scope, receive, send)
