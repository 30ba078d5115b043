"""The one shape of a protocol's translation of a turn's events (``protocol.py``: a
``Response``, its ``Message``s and their ``Content`` parts) into its own wire events."""

from __future__ import annotations

from typing import Generic, TypeVar

from ..protocol import Content, Event, Message, Response

T = TypeVar("T")


class EventTranslator(Generic[T]):
    """``feed`` hands each event to the method for its kind; each returns the protocol's
    events for it, often none (a kind a subclass does not override gives none)."""

    def feed(self, event: Event) -> list[T]:
        if isinstance(event, Response):
            return self._response(event)
        if isinstance(event, Message):
            return self._message(event)
        if isinstance(event, Content):
            return self._content(event)
        return []

    def _response(self, event: Response) -> list[T]:
        return []

    def _message(self, event: Message) -> list[T]:
        return []

    def _content(self, event: Content) -> list[T]:
        return []
