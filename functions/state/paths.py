"""Ids with a ``/`` in the state API's paths (``/v1/users/{user_id}/sessions/{session_id}``).

Ids may hold any character but a control character, ``/`` included; a client sends such an
id percent-encoded (``a%2Fb``). The router matches the decoded path, where that ``/`` would
split the id in two, so this middleware routes on a path in which each segment's own
``/`` stands as ``SLASH`` (a control character, which no id may hold), and the routes'
dependencies put the ``/`` back (``path_id``). An encoded control character in the path is
refused as a bad id before anything else, so ``SLASH`` can only have come from here.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from functions.runtime.http_errors import error_response
from functions.runtime.storage.keys import InvalidId

SLASH = "\x1f"


def path_id(value: str) -> str:
    """A path parameter as the id the client sent."""
    return value.replace(SLASH, "/")


class EncodedSlashes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes | None = scope.get("raw_path") if scope["type"] == "http" else None
        if raw is None or b"%" not in raw:
            await self.app(scope, receive, send)
            return
        segments = [unquote(s) for s in raw.split(b"?")[0].decode("latin-1").split("/")]
        if any(unicodedata.category(c) == "Cc" for s in segments for c in s):
            bad = InvalidId("an id in the path has a control character")
            await error_response(bad)(scope, receive, send)
            return
        path = "/".join(s.replace("/", SLASH) for s in segments)
        await self.app({**scope, "path": path}, receive, send)
