"""Stored responses of the OpenAI Responses API: what ``previous_response_id`` and
``GET /responses/{id}`` need, kept in the object store so any instance serves either.

A stored response is written with its turn: it is a field of the turn's commit in the
session's history (``log.SegmentLog.commit``'s ``extra``, named ``response``), so keeping
it costs no request of its own and it is exactly as durable as the turn. Its id names its
session, where it is found::

    resp_<32 hex>_<session>     the session id itself when it is made of [A-Za-z0-9-]
    resp_<32 hex>_~<base64url>  otherwise: the session id's UTF-8, unpadded base64url

Where in its session the response's conversation stops (``end``: the history's length up
to and including its turn) is where its commit is, so a request that continues an older
response (a branch) can be told apart from one that continues the latest. The owner is
the session's user: another user's id is simply not there (404). Deleting a session
deletes its responses.

Responses stored before this layout (``resp_<32 hex>``: one object each at
``users/{user}/responses/{id}``, ``{"response", "session_id", "end"}``) are still read.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol import uuid4_hex
from ..storage.keys import InvalidId, validate_id
from .layout import response_key

if TYPE_CHECKING:
    from ..storage.base import ObjectStore
    from .history import Session, SessionHistoryService
    from .log import Extra

FIELD = "response"  # the commit's field holding the Response object
_ID = re.compile(r"resp_([0-9a-f]{32})(?:_(~?)(.+))?", re.ASCII | re.DOTALL)
_PLAIN_SESSION = re.compile(r"[A-Za-z0-9-]+", re.ASCII)


def new_response_id(session_id: str) -> str:
    """A fresh id for a response of the turn on ``session_id``."""
    if _PLAIN_SESSION.fullmatch(session_id):
        return f"resp_{uuid4_hex()}_{session_id}"
    encoded = base64.urlsafe_b64encode(session_id.encode("utf-8")).rstrip(b"=").decode()
    return f"resp_{uuid4_hex()}_~{encoded}"


def session_of(response_id: str) -> str | None:
    """The session ``response_id`` names; None for an id of the layout before (its own
    object) or one that names none (``InvalidId``: no response has it)."""
    found = _ID.fullmatch(response_id)
    if found is None:
        raise InvalidId(f"not a response id: {response_id!r}")
    _, encoded, session = found.groups()
    if session is None:
        return None
    if encoded:
        try:
            raw = base64.urlsafe_b64decode(session + "=" * (-len(session) % 4))
            session = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidId(f"not a response id: {response_id!r}") from None
    return validate_id(session, "session_id")


def record(encoded: bytes) -> Extra:
    """The commit field that stores a Response object (``encoded``: its compact JSON)."""
    return {FIELD: encoded}


@dataclass
class StoredResponse:
    """A stored Response object, its session, and its session's length after its turn.
    ``session``: that session as loaded to find it (None for a response stored before)."""

    response: dict[str, Any]
    session_id: str
    end: int
    session: Session | None = None


class ResponseStore:
    """Finds stored responses in their sessions' histories (see the module's docstring)."""

    def __init__(self, store: ObjectStore, history: SessionHistoryService) -> None:
        self.store, self.history = store, history

    async def load(self, user_id: str, response_id: str) -> StoredResponse | None:
        """The response ``response_id`` of ``user_id``, or None (an id that could not be
        ours - malformed - is None too)."""
        try:
            session_id = session_of(response_id)
            if session_id is None:
                return await self._load_before(user_id, response_id)
            found = await self.history.find_committed(user_id, session_id, FIELD, response_id)
        except InvalidId:
            return None
        if found is None:
            return None
        session, response, end = found
        return StoredResponse(response, session_id, end, session)

    def find(self, session: Session, response_id: str) -> tuple[dict[str, Any], int] | None:
        """In ``session`` as loaded (a turn's, say): the response ``response_id`` and the
        session's length up to and including its turn; None when it is not there."""
        found = self.history.committed(session, FIELD, response_id)
        return None if found is None else (found[0], found[1])

    async def _load_before(self, user_id: str, response_id: str) -> StoredResponse | None:
        found = await self.store.get(response_key(user_id, response_id))
        if found is None:
            return None
        body = json.loads(found[0])
        return StoredResponse(body["response"], body["session_id"], int(body["end"]))
