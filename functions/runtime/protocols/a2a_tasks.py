"""A2A tasks in the object store: a2a-sdk's ``VersionedTaskStore`` over ``ObjectStore``.

One object per task, ``users/{owner}/a2a-tasks/{task}`` (``services/layout.py``), holding
the task as an A2A 1.0 ``Task`` in the protobuf wire format (``a2a.types.Task``). The
owner is the caller the request was authenticated as (``context.user.user_name``, set by
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
* artifact chunks are written at most every ``save_interval_s`` per task: a chunk soon
  after the last write is held (its save returns the version it was given) and a timer
  writes it when the interval is up, unless a status change - always written at once -
  carries it first. A reader on another instance sees a streaming answer at most that
  much behind. The store remembers the etag the timer wrote, so the version the SDK holds
  stays valid.
* a task nobody knows of yet - a blocking ``SendMessage``, whose caller learns the task's
  id from its answer (the call's context says so: :data:`UNANNOUNCED`) - is first written
  ``save_interval_s`` after it begins, or when it ends, whichever comes first: a turn
  that ends sooner costs one write, not two, and the turn starts without waiting for the
  store. Until then no one can ask for the task by id; ``ListTasks`` on another instance
  lists it from that first write on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor

from ..services.layout import a2a_task_key, a2a_tasks_prefix
from ..storage.base import PreconditionFailed, StoreError
from ..storage.keys import InvalidId

if TYPE_CHECKING:
    from a2a.server.context import ServerCallContext
    from a2a.server.events.event_queue import Event

    from ..storage.base import ObjectStore

log = logging.getLogger("agentscope_faas.a2a")

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
# a call's context state key: True when its caller learns the task's id only from the
# answer (its first write may wait; see the module's docstring)
UNANNOUNCED = "a2a_unannounced"


def owner_of(context: ServerCallContext) -> str:
    """The user whose tasks a call sees; set on every call by ``a2a_server.py``."""
    owner = context.user.user_name
    if not owner:  # never fall open to one shared namespace
        raise PermissionError("an A2A call reached the task store without an owner")
    return owner


def encode(task: Task) -> bytes:
    # the protobuf wire format (A2A 1.0's gRPC binding): a tenth of the JSON mapping's cost
    return task.SerializeToString()


def decode(data: bytes) -> Task:
    return Task.FromString(data)


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


@dataclass
class _Written:
    """A task this instance writes, and what it holds back."""

    key: str
    # the etag handed to the SDK as the task's version (None: ``TaskVersion.MISSING``,
    # handed out for a task held before its first write)
    issued: str | None
    actual: str | None  # the etag in the store (None: not written yet)
    written_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: Task | None = None  # a state not yet written (the timer writes it)
    timer: asyncio.TimerHandle | None = None


class ObjectTaskStore(VersionedTaskStore):
    """A2A tasks on an ``ObjectStore`` (see the module's docstring)."""

    def __init__(self, store: ObjectStore, save_interval_s: float = 0.5) -> None:
        self.store = store
        self.save_interval_s = save_interval_s
        self._written: dict[str, _Written] = {}  # by task id: tasks written here, running
        # an unfinished task as it should stand (``a2a_server.py`` records one whose
        # instance died failed); applied to what ``list`` reads
        self.settle: Callable[[StoredTask, ServerCallContext], Awaitable[StoredTask]] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

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
        mine = self._written.get(task.id)
        unwritten = mine is not None and mine.actual is None  # held since it began
        if task.status.state == TaskState.TASK_STATE_CANCELED and not unwritten:
            self._forget(task.id)
            return await self._cancel(key, task)
        if_match = None if prev_version.is_missing else _etag(prev_version)
        if (
            mine is None
            and if_match is None
            and task.status.state not in TERMINAL
            and context.state.get(UNANNOUNCED)
            and self.save_interval_s > 0
        ):
            self._hold(self._remember(task.id, key, None), task)
            return TaskVersion.MISSING
        ours = mine is not None and if_match == mine.issued  # derived from our last write
        if ours and mine is not None and self._may_hold(mine, task, event):
            self._hold(mine, task)
            return prev_version
        lock = mine.lock if mine is not None else contextlib.nullcontext()
        async with lock:  # not while the timer writes this task
            if ours and mine is not None:
                if_match = mine.actual  # the timer may have written since: its etag
            merge_text_parts(task)
            try:
                if if_match is None:
                    etag = await self.store.put(key, encode(task), if_none_match=True)
                else:
                    etag = await self.store.put(key, encode(task), if_match=if_match)
            except PreconditionFailed:
                raise ConcurrentTaskModificationError(task.id) from None
        self._forget(task.id)
        if task.status.state not in TERMINAL:
            self._remember(task.id, key, etag)
        return TaskVersion(etag)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """The owner's tasks, filtered and paged as ``ListTasks`` says (newest status first).

        Reads every task of the owner (no index): fine for the tasks one user keeps. An
        unfinished task of the context asked for is listed as :attr:`settle` has it, before
        the state and time filters apply (one gone meanwhile is not listed).
        """
        prefix = a2a_tasks_prefix(owner_of(context))
        keys = await self.store.list(prefix)
        limit = asyncio.Semaphore(LIST_CONCURRENCY)
        settle = self.settle

        async def load(key: str) -> Task | None:
            async with limit:
                found = await self.store.get(key)
                if found is None:
                    return None
                task = decode(found[0])
                if params.context_id and task.context_id != params.context_id:
                    return None
                if settle is None or task.status.state in TERMINAL:
                    return task
                try:
                    return (await settle(StoredTask(task, TaskVersion(found[1])), context)).task
                except TaskNotFoundError:
                    return None

        tasks = [t for t in await asyncio.gather(*(load(k) for k in keys)) if t is not None]
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
        self._forget(task_id)

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
            return TaskVersion(etag)
        raise ConcurrentTaskModificationError(task.id)

    def _may_hold(self, mine: _Written, task: Task, event: Event | None) -> bool:
        """Whether this save may wait: a chunk of an artifact, soon after the last write."""
        if not isinstance(event, TaskArtifactUpdateEvent) or task.status.state in TERMINAL:
            return False
        return time.monotonic() - mine.written_at < self.save_interval_s

    def _hold(self, mine: _Written, task: Task) -> None:
        mine.held = task
        if mine.timer is None:
            delay = max(0.0, mine.written_at + self.save_interval_s - time.monotonic())
            loop = asyncio.get_running_loop()
            mine.timer = loop.call_later(delay, self._start_flush, task.id)

    def _start_flush(self, task_id: str) -> None:
        flush = asyncio.ensure_future(self._flush(task_id))
        self._flushes.add(flush)
        flush.add_done_callback(self._flushes.discard)

    async def _flush(self, task_id: str) -> None:
        """Write the state held back for a task (unless a save wrote it meanwhile)."""
        mine = self._written.get(task_id)
        if mine is None:
            return
        async with mine.lock:
            task, mine.held, mine.timer = mine.held, None, None
            if task is None or self._written.get(task_id) is not mine:
                return
            merge_text_parts(task)
            data = encode(task)
            try:
                if mine.actual is None:  # its first write
                    etag = await self.store.put(mine.key, data, if_none_match=True)
                else:
                    etag = await self.store.put(mine.key, data, if_match=mine.actual)
            except PreconditionFailed:
                return  # another writer (a cancel): the task's next save learns of it
            except StoreError as exc:  # the next save carries this state
                log.warning("could not write A2A task %s: %s", task_id, exc)
                return
            mine.actual, mine.written_at = etag, time.monotonic()

    def _remember(self, task_id: str, key: str, etag: str | None) -> _Written:
        if len(self._written) >= MAX_TRACKED:  # tasks whose runs never ended
            # never one whose SDK version is MISSING (issued None): its later saves need the
            # etag kept here
            for stale in [
                k for k, w in self._written.items() if w.held is None and w.issued is not None
            ]:
                del self._written[stale]
        now = time.monotonic()
        mine = self._written[task_id] = _Written(key=key, issued=etag, actual=etag, written_at=now)
        return mine

    def release(self, task_id: str) -> None:
        """The run of ``task_id`` here has ended: what is held for it is dropped (its end,
        written or not, is newer) and it is no longer tracked."""
        self._forget(task_id)

    def _forget(self, task_id: str) -> None:
        mine = self._written.pop(task_id, None)
        if mine is not None and mine.timer is not None:
            mine.timer.cancel()

    async def close(self) -> None:
        """Write what is held back, now (the instance is shutting down)."""
        for task_id, mine in list(self._written.items()):
            if mine.timer is not None:
                mine.timer.cancel()
                await self._flush(task_id)
        await asyncio.gather(*self._flushes, return_exceptions=True)


def _etag(version: TaskVersion) -> str:
    # TaskVersion keeps its value private; this store made every version it is handed back
    value: Any = version._value
    return str(value)


def _cursor(task: Task) -> ListTasksCursor:
    stamped, ns, task_id = sort_key(task)
    return ListTasksCursor(timestamp_ns=ns if stamped else None, task_id=task_id)
