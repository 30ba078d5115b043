"""``AgentScopeSessionHistoryMemory``: an agentscope 1.x memory kept in a session history.

The seed's class of that name, for its 1.x example::

    memory=AgentScopeSessionHistoryMemory(
        service=self.session_service, session_id=session_id, user_id=user_id
    )

Messages live in the history service as protocol messages (``message.v1_records``: one per
kind of block, each naming its ``Msg`` in ``metadata.agentscope``), so the state function
and any client read them like any conversation, and a cold instance rebuilds the memory.

Decisions
---------
* The session is read once per memory object (the first call that needs it); later reads
  are served from what this object holds, which is what the seed's agents expect of a
  memory within one reply.
* ``add`` appends unmarked messages to the history at once (one create-only object per
  call). Marked messages (the 1.x agent's transient ``hint`` messages, added and deleted
  around each reasoning step) stay in this object: writing and then erasing them would cost
  two rewrites per step.
* Deleting, re-marking or clearing messages that are already stored rewrites the session
  (delete it, create it, append what remains): the history is an append-only log. The
  1.x agent does this only when compressing its memory. ``clear`` keeps the session.
* Use a history service of its own (the seed's example gives it an
  ``InMemorySessionHistoryService``): the runtime already records each turn's input and
  output in its own history, and sharing one would store every message twice.
"""

from __future__ import annotations

from typing import Any

from .message import META_KEY, to_msgs, v1_records


def _memory_base() -> type:
    from agentscope.memory import MemoryBase

    return MemoryBase


def __getattr__(name: str) -> Any:
    # the class derives from agentscope 1.x's MemoryBase: built on first access, so
    # importing this module does not import agentscope
    if name == "AgentScopeSessionHistoryMemory":
        cls = _build()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _build() -> type:
    base = _memory_base()

    class AgentScopeSessionHistoryMemory(base):  # type: ignore[misc, valid-type]
        """A 1.x working memory whose messages are a session's history (module docstring)."""

        def __init__(self, service: Any, session_id: str, user_id: str) -> None:
            super().__init__()
            self._service = service
            self.session_id = session_id
            self.user_id = user_id
            self._session: Any = None
            self._entries: list[tuple[Any, list[str], bool]] | None = None  # msg, marks, stored

        async def _load(self) -> list[tuple[Any, list[str], bool]]:
            if self._entries is None:
                session = await self._service.get_session(self.user_id, self.session_id)
                if session is None:
                    session = await self._service.create_session(self.user_id, self.session_id)
                self._session = session
                self._entries = []
                marks = _marks_by_msg(session.messages)
                for msg in to_msgs(session.messages):
                    self._entries.append((msg, marks.get(msg.id, []), True))
            return self._entries

        async def size(self) -> int:
            return len(await self._load())

        async def add(
            self,
            memories: Any,
            marks: str | list[str] | None = None,
            allow_duplicates: bool = False,
            **kwargs: Any,
        ) -> None:
            if memories is None:
                return
            entries = await self._load()
            msgs = memories if isinstance(memories, list) else [memories]
            marks = [marks] if isinstance(marks, str) else list(marks or [])
            if not allow_duplicates:
                known = {m.id for m, _, _ in entries}
                msgs = [m for m in msgs if m.id not in known]
            if not msgs:
                return
            store = not marks
            if store:
                records = [r for m in msgs for r in v1_records(m, marks)]
                await self._service.append_message(self._session, records)
            entries.extend((m, list(marks), store) for m in msgs)

        async def delete(self, msg_ids: list[str], **kwargs: Any) -> int:
            return await self._remove(lambda msg, _marks: msg.id in msg_ids)

        async def delete_by_mark(self, mark: str | list[str], **kwargs: Any) -> int:
            wanted = [mark] if isinstance(mark, str) else list(mark)
            return await self._remove(lambda _msg, marks: any(m in marks for m in wanted))

        async def clear(self) -> None:
            entries = await self._load()
            stored = any(s for _, _, s in entries)
            entries.clear()
            if stored:
                await self._rewrite()

        async def get_memory(
            self,
            mark: str | None = None,
            exclude_mark: str | None = None,
            prepend_summary: bool = True,
            **kwargs: Any,
        ) -> list[Any]:
            from agentscope import message

            Msg: Any = message.Msg  # 1.x's Msg(name, content, role)
            msgs = [
                m
                for m, marks, _ in await self._load()
                if (mark is None or mark in marks)
                and (exclude_mark is None or exclude_mark not in marks)
            ]
            if prepend_summary and self._compressed_summary:
                return [Msg("user", self._compressed_summary, "user"), *msgs]
            return msgs

        async def update_messages_mark(
            self,
            new_mark: str | None,
            old_mark: str | None = None,
            msg_ids: list[str] | None = None,
        ) -> int:
            entries = await self._load()
            changed, rewrite = 0, False
            for i, (msg, marks, stored) in enumerate(entries):
                if msg_ids is not None and msg.id not in msg_ids:
                    continue
                if old_mark is not None and old_mark not in marks:
                    continue
                updated = [m for m in marks if m != old_mark] if old_mark else list(marks)
                if new_mark is not None and new_mark not in updated:
                    updated.append(new_mark)
                if updated != marks:
                    entries[i] = (msg, updated, stored)
                    changed += 1
                    rewrite = rewrite or stored
            if rewrite:
                await self._rewrite()
            return changed

        async def _remove(self, doomed: Any) -> int:
            entries = await self._load()
            kept = [e for e in entries if not doomed(e[0], e[1])]
            removed = len(entries) - len(kept)
            rewrite = any(stored for msg, marks, stored in entries if doomed(msg, marks))
            entries[:] = kept
            if rewrite:
                await self._rewrite()
            return removed

        async def _rewrite(self) -> None:
            """Store exactly the stored entries again (the history is append-only)."""
            entries = await self._load()
            await self._service.delete_session(self.user_id, self.session_id)
            self._session = await self._service.create_session(self.user_id, self.session_id)
            records = [r for m, marks, stored in entries if stored for r in v1_records(m, marks)]
            if records:
                await self._service.append_message(self._session, records)

    return AgentScopeSessionHistoryMemory


def _marks_by_msg(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    marks: dict[str, list[str]] = {}
    for record in records:
        identity = (record.get("metadata") or {}).get(META_KEY) or {}
        if identity.get("msg_id"):
            marks.setdefault(identity["msg_id"], list(identity.get("marks") or []))
    return marks
