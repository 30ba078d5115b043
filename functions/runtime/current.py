"""The request a query handler is serving, for code that runs on its behalf without being
handed it: a tool registered once with an agent framework (the seed's
``execute_python_code`` finds the conversation's sandbox through it).

``AgentApp`` sets it around every step of the handler, so it holds in the handler, in tools
it calls, and in tasks the handler starts (they copy it when created).
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
