"""Stored responses of the OpenAI Responses API: what ``previous_response_id`` and
``GET /responses/{id}`` need, kept in the object store so any instance serves either.

One object per response at ``users/{user}/responses/{id}`` (JSON)::

    {"response": <the Response object as sent>, "session_id": <the turn's session>,
     "end": <how many history messages the session had after this turn>,
     "state_round": <the session's state round the turn's agent last loaded or saved>}

``end`` says where in its session the response's conversation stops, so a request that
continues an older response (a branch) can be told apart from one that continues the
latest; ``state_round`` (absent when the agent keeps no state) is the state the branch
starts from. The owner is the key's user: another user's id is simply not there (404).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from ..storage.keys import InvalidId
from .base import StoreService
from .layout import response_key


@dataclass
class StoredResponse:
    """A stored Response object, the session its turn ran on, and that session's length
    after the turn (``end``)."""

    response: dict[str, Any]
    session_id: str
    end: int
    state_round: int | None = None


class ResponseStore(StoreService):
    async def save(
        self,
        user_id: str,
        response: dict[str, Any],
        session_id: str,
        end: int,
        *,
        encoded: bytes | None = None,
        state_round: int | None = None,
    ) -> None:
        """Keep ``response`` (its ``id`` names it); a later save of the same id replaces it.
        ``encoded``: ``response`` as compact UTF-8 JSON already (the stream sent it), not
        encoded again."""
        if encoded is None:
            encoded = to_json(response)
        session = to_json(session_id)
        state = b"" if state_round is None else b',"state_round":%d' % int(state_round)
        record = b'{"response":%b,"session_id":%b,"end":%d%b}' % (
            encoded,
            session,
            int(end),
            state,
        )
        await self.store.put(response_key(user_id, response["id"]), record)

    async def load(self, user_id: str, response_id: str) -> StoredResponse | None:
        """The response ``response_id`` owned by ``user_id``, or None (an id that could not
        be ours - malformed - is None too)."""
        try:
            key = response_key(user_id, response_id)
        except InvalidId:
            return None
        found = await self.store.get(key)
        if found is None:
            return None
        body = json.loads(found[0])
        state_round = body.get("state_round")
        return StoredResponse(
            body["response"],
            body["session_id"],
            int(body["end"]),
            None if state_round is None else int(state_round),
        )
