"""The request a query handler is serving, for code that runs on its behalf without being
handed it: a tool registered once with an agent framework (the seed's
``execute_python_code`` finds the conversation's sandbox through it).

``AgentApp`` sets it around every step of the handler, so it holds in the handler, in tools
it calls, and in tasks the handler starts (they copy it when created).

Also the state rounds the running turn's agent loaded or saved (``STATE_ROUNDS``, bound by
the turn to the task its agent runs in): the Responses API keeps the round with the
response, so that a branch from that response starts from the state its turn left.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import AgentRequest

CURRENT_REQUEST: ContextVar[AgentRequest | None] = ContextVar("current_request", default=None)


def current_request() -> AgentRequest | None:
    """The request being served, or None outside a query."""
    return CURRENT_REQUEST.get()


# (user id, session id) -> the state round of that session the turn's agent last loaded or
# saved (``services/state.py`` notes it); None outside a turn
STATE_ROUNDS: ContextVar[dict[tuple[str, str], int] | None] = ContextVar(
    "state_rounds", default=None
)


def note_state_round(user_id: str, session_id: str, round_id: int) -> None:
    """Tell the running turn (if any) that its agent loaded or saved ``round_id``."""
    rounds = STATE_ROUNDS.get()
    if rounds is not None:
        rounds[(user_id, session_id)] = round_id
