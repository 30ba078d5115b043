"""A2A tasks in the object store: a2a-sdk's ``VersionedTaskStore`` over ``ObjectStore``.

One object per task, ``users/{owner}/a2a-tasks/{task}`` (``services/layout.py``), holding
the task as A2A 1.0 JSON (protobuf JSON mapping of ``a2a.types.Task``). The owner is the
caller the request was authenticated as (``context.user.user_name``, set by
``a2a_server.py``), so a task is found only by its owner: anyone else gets "not found".

Optimistic concurrency, as ``VersionedTaskStore`` asks: a task's version is the object's
etag. A first write is create-only, every other write is conditional on the etag it was
derived from, and a stale one raises ``ConcurrentTaskModificationError`` - so two instances
never overwrite each other's updates (the SDK reloads and decides). A write that moves a
task to ``canceled`` overwrites any non-terminal task (compare-and-set on whatever etag is
current), and fails on a task that already ended.

Two economies, because every event the agent emits is saved before it is streamed:

* adjacent plain text parts of an artifact are merged before a write (a streamed answer
  arrives as one part per delta; stored it is one text), in the task being saved too;
* a chunk in the middle of an artifact is written at most every ``save_interval_s`` per
  task: the others return the version they were given, so the next write (the artifact's
  last chunk, any status change) carries them. A reader on another instance sees a
  streaming answer at most that much behind; nothing else is ever deferred.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskVersion,
    VersionedTaskStore,
)
from a2a.types.a2a_pb2 import (
    ListTasksRequest,
    ListTasksResponse,
    Part,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
)
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor
from google.protobuf import json_format

from ..services.layout import a2a_task_key, a2a_tasks_prefix
from ..storage.base import PreconditionFailed
from ..storage.keys import InvalidId

if TYPE_CHECKING:
    from a2a.server.context import ServerCallContext
    from a2a.server.events.event_queue import Event

    from ..storage.base import ObjectStore

TERMINAL = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_REJECTED,
    }
)
# reads of a listing in flight at once
LIST_CONCURRENCY = 16
# a cancel that keeps losing to other writers is not racing: the store is broken
CANCEL_ATTEMPTS = 10
# tasks whose last write time is remembered (those streaming now, in practice)
MAX_TRACKED = 4096


def owner_of(context: ServerCallContext) -> str:
    """The user whose tasks a call sees; set on every call by ``a2a_server.py``."""
    owner = context.user.user_name
    if not owner:  # never fall open to one shared namespace
        raise PermissionError("an A2A call reached the task store without an owner")
    return owner


def encode(task: Task) -> bytes:
    return json_format.MessageToJson(task, indent=None).encode()


def decode(data: bytes) -> Task:
    return json_format.Parse(data, Task(), ignore_unknown_fields=True)


def merge_text_parts(task: Task) -> None:
    """Merge adjacent text parts of each artifact that carry nothing but text."""
    for artifact in task.artifacts:
        if len(artifact.parts) < 2:
            continue
        merged: list[Part] = []
        for part in artifact.parts:
            if merged and _plain_text(part) and _plain_text(merged[-1]):
                merged[-1] = Part(text=merged[-1].text + part.text)
            else:
                merged.append(part)
        if len(merged) != len(artifact.parts):
            del artifact.parts[:]
            artifact.parts.extend(merged)


def _plain_text(part: Part) -> bool:
    return (
        part.WhichOneof("content") == "text"
        and not part.filename
        and not part.media_type
        and not part.HasField("metadata")
    )


def sort_key(task: Task) -> tuple[bool, int, str]:
    """ListTasks order (descending): tasks with a status time first, newest first, then id."""
    stamped = task.status.HasField("timestamp")
    return (stamped, task.status.timestamp.ToNanoseconds() if stamped else 0, task.id)


class ObjectTaskStore(VersionedTaskStore):
    """A2A tasks on an ``ObjectStore`` (see the module's docstring)."""

    def __init__(self, store: ObjectStore, save_interval_s: float = 0.5) -> None:
        self.store = store
        self.save_interval_s = save_interval_s
        self._saved_at: dict[str, float] = {}  # task id -> monotonic time of its last write

    # -- VersionedTaskStore ------------------------------------------------------------------

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        key = self._key(owner_of(context), task_id)
        found = await self.store.get(key) if key is not None else None
        if found is None:
            return None
        data, etag = found
        return StoredTask(decode(data), TaskVersion(etag))

    async def save(
        self,
        task: Task,
        *,
        event: Event | None,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        key = a2a_task_key(owner_of(context), task.id)
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            return await self._cancel(key, task)
        if self._may_defer(task, event, prev_version):
            return prev_version
        merge_text_parts(task)
        try:
            if prev_version.is_missing:
                etag = await self.store.put(key, encode(task), if_none_match=True)
            else:
                etag = await self.store.put(key, encode(task), if_match=_etag(prev_version))
        except PreconditionFailed:
            raise ConcurrentTaskModificationError(task.id) from None
        self._written(task)
        return TaskVersion(etag)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """The owner's tasks, filtered and paged as ``ListTasks`` says (newest status first).

        Reads every task of the owner (no index): fine for the tasks one user keeps.
        """
        prefix = a2a_tasks_prefix(owner_of(context))
        keys = await self.store.list(prefix)
        limit = asyncio.Semaphore(LIST_CONCURRENCY)

        async def load(key: str) -> Task | None:
            async with limit:
                found = await self.store.get(key)
            return decode(found[0]) if found is not None else None

        tasks = [t for t in await asyncio.gather(*(load(k) for k in keys)) if t is not None]
        if params.context_id:
            tasks = [t for t in tasks if t.context_id == params.context_id]
        if params.status:
            tasks = [t for t in tasks if t.status.state == params.status]
        if params.HasField("status_timestamp_after"):
            after_ns = params.status_timestamp_after.ToNanoseconds()
            tasks = [
                t
                for t in tasks
                if t.status.HasField("timestamp") and t.status.timestamp.ToNanoseconds() >= after_ns
            ]
        tasks.sort(key=sort_key, reverse=True)
        start = 0
        if params.page_token:
            cursor = decode_list_tasks_cursor(params.page_token)
            if cursor is None:
                raise InvalidParamsError(message=f"invalid page token: {params.page_token}")
            after = cursor.sort_key()
            start = next((i for i, t in enumerate(tasks) if sort_key(t) < after), len(tasks))
        size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        page = tasks[start : start + size]
        more = start + size < len(tasks)
        return ListTasksResponse(
            tasks=page,
            next_page_token=encode_list_tasks_cursor(_cursor(page[-1])) if more else None,
            page_size=size,
            total_size=len(tasks),
        )

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        key = self._key(owner_of(context), task_id)
        if key is not None:
            await self.store.delete(key)
        self._saved_at.pop(task_id, None)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _key(owner: str, task_id: str) -> str | None:
        """The task's key; None for an id no task can have (then it is simply not found)."""
        try:
            return a2a_task_key(owner, task_id)
        except InvalidId:
            return None

    async def _cancel(self, key: str, task: Task) -> TaskVersion:
        """Write ``task`` (canceled) over any non-terminal version; raise if it ended."""
        merge_text_parts(task)
        for _ in range(CANCEL_ATTEMPTS):
            current = await self.store.get(key)
            if current is None or decode(current[0]).status.state in TERMINAL:
                raise ConcurrentTaskModificationError(task.id)
            try:
                etag = await self.store.put(key, encode(task), if_match=current[1])
            except PreconditionFailed:
                continue
            self._written(task)
            return TaskVersion(etag)
        raise ConcurrentTaskModificationError(task.id)

    def _may_defer(self, task: Task, event: Event | None, prev_version: TaskVersion) -> bool:
        if not isinstance(event, TaskArtifactUpdateEvent) or event.last_chunk:
            return False
        if prev_version.is_missing or task.status.state in TERMINAL:
            return False
        saved_at = self._saved_at.get(task.id)
        return saved_at is not None and time.monotonic() - saved_at < self.save_interval_s

    def _written(self, task: Task) -> None:
        if task.status.state in TERMINAL:
            self._saved_at.pop(task.id, None)
            return
        if len(self._saved_at) >= MAX_TRACKED:  # tasks whose instance never ended them
            self._saved_at.clear()
        self._saved_at[task.id] = time.monotonic()


def _etag(version: TaskVersion) -> str:
    # TaskVersion keeps its value private; this store made every version it is handed back
    value: Any = version._value
    return str(value)


def _cursor(task: Task) -> ListTasksCursor:
    stamped, ns, task_id = sort_key(task)
    return ListTasksCursor(timestamp_ns=ns if stamped else None, task_id=task_id)
