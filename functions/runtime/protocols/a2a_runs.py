"""Running A2A tasks on this instance, and following tasks that run on another one.

A :class:`TaskRun` is the ``EventQueue`` the executor writes one task's events to: each
event is applied to the task (:func:`apply_event`, as a2a-sdk's ``TaskManager`` applies
it) and saved to the task store before anyone hears of it, then handed to whoever listens
here (the streaming caller, local subscribers). It replaces the SDK's in-process task
machinery, whose queues and tasks cost several times what the turn itself does, and which
a stateless function does not need: the store is where every instance sees a task.

When another writer ended the task first (a ``CancelTask`` on another instance that gave
up waiting), the save fails on the version; the run then takes the stored task as the
truth, stops its turn and tells its listeners.

:func:`follow` serves a task running elsewhere: the task as stored, then what changed in
it at each read of the store, until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from a2a.server.cluster import ConcurrentTaskModificationError, StoredTask, TaskVersion
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Part, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent
from a2a.utils.errors import InvalidAgentResponseError, TaskNotFoundError

from ..protocol import Error
from .a2a_executor import TaskEvents
from .a2a_tasks import TERMINAL

if TYPE_CHECKING:
    from a2a.server.agent_execution import RequestContext
    from a2a.server.context import ServerCallContext
    from a2a.server.events import Event

    from ..turn import Turn
    from .a2a_executor import TurnExecutor
    from .a2a_tasks import ObjectTaskStore

log = logging.getLogger("agentscope_faas.a2a")

# how long a run that is being shut down may take to record its task failed
SHUTDOWN_SAVE_S = 5.0


def copy_task(task: Task) -> Task:
    result = Task()
    result.CopyFrom(task)
    return result


def apply_event(task: Task, event: TaskStatusUpdateEvent | TaskArtifactUpdateEvent) -> None:
    """Apply an update to ``task`` in place, as a2a-sdk's ``TaskManager`` does: a new
    status moves the status message it replaces into the history and merges the event's
    metadata into the task's; an artifact update adds or replaces its artifact or, with
    ``append``, extends its parts and metadata (``InvalidAgentResponseError`` when there
    is none to extend, as the SDK raises)."""
    if isinstance(event, TaskStatusUpdateEvent):
        if task.status.HasField("message"):
            task.history.append(task.status.message)
        if event.metadata:
            task.metadata.MergeFrom(event.metadata)
        task.status.CopyFrom(event.status)
        return
    artifact = event.artifact
    for existing in task.artifacts:
        if existing.artifact_id == artifact.artifact_id:
            break
    else:
        existing = None
    if not event.append:
        if existing is None:
            task.artifacts.append(artifact)
        else:
            existing.CopyFrom(artifact)
    elif existing is not None:
        existing.parts.extend(artifact.parts)
        existing.metadata.update(dict(artifact.metadata.items()))
    else:
        raise InvalidAgentResponseError(
            f"append=True for nonexistent artifact_id={artifact.artifact_id!r} in task {task.id!r}"
        )


class TaskRun(EventQueue):
    """One task executing here (see the module's docstring): the begun ``turn`` run by
    the executor."""

    def __init__(
        self,
        tasks: ObjectTaskStore,
        executor: TurnExecutor,
        request: RequestContext,
        turn: Turn,
    ) -> None:
        assert request.task_id and request.context_id
        self.task_id, self.context_id = request.task_id, request.context_id
        self.tasks = tasks
        self.executor = executor
        self.request = request
        self.turn = turn  # begun: the task is created as it starts
        self.task: Task | None = None  # as last saved (or being saved: updates apply in place)
        self.version = TaskVersion.MISSING  # the store's version of it
        self.stored_state: int | None = None  # its state in the store, as far as known here
        # its first event is saved (for a blocking call's task maybe only held: a2a_tasks.py)
        self.created = asyncio.Event()
        self.done = asyncio.Event()
        self.error: BaseException | None = None
        self._listeners: list[asyncio.Queue[Event | None]] = []
        self._superseded = False

    async def enqueue_event(self, event: Event) -> None:
        """Save ``event``'s effect on the task, then tell the listeners."""
        if self._superseded:
            return
        try:
            task = await self._save(event)
        except ConcurrentTaskModificationError:
            stored = await self.tasks.get(self.task_id, self.request.call_context)
            self.task = None if stored is None else stored.task
            self.version = TaskVersion.MISSING if stored is None else stored.version
            self.stored_state = None if stored is None else stored.task.status.state
            if self.task is not None and self.task.status.state in TERMINAL:
                self._superseded = True
                self.executor.stop(self.task_id)
                self._publish(copy_task(self.task), self.task)
                return
            task = await self._save(event)  # a write we did not expect: once more, on it
        self._publish(copy_task(task) if isinstance(event, Task) else event, task)

    async def _save(self, event: Event) -> Task:
        """``event`` applied to the task and saved on the version last seen."""
        if isinstance(event, Task):
            task = event
        elif isinstance(event, TaskStatusUpdateEvent | TaskArtifactUpdateEvent):
            if self.task is None:  # the executor's first event is the task itself
                raise TaskNotFoundError(f"task {self.task_id} has no state to update")
            task = self.task
            apply_event(task, event)
        else:
            raise TypeError(f"an A2A task takes no {type(event).__name__}")
        self.version = await self.tasks.save(
            task,
            event=event,
            prev=self.task,
            prev_version=self.version,
            context=self.request.call_context,
        )
        self.task, self.stored_state = task, task.status.state
        return task

    def _publish(self, event: Event, task: Task) -> None:
        self.task = task
        self.created.set()
        for queue in self._listeners:
            queue.put_nowait(event)

    async def run(self) -> None:
        """Execute the task to its end (the executor records every end but a bug's)."""
        try:
            await self.executor.run(self.turn, self.request, self)
        except asyncio.CancelledError:  # the instance is shutting down
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.shield(self._fail("instance_stopped")), SHUTDOWN_SAVE_S
                )
            raise
        except Exception as exc:
            log.exception("A2A task %s broke", self.task_id)
            self.error = exc
            with contextlib.suppress(Exception):
                await self._fail("internal_error")
        finally:
            self.tasks.release(self.task_id)  # also a run another instance's cancel ended
            self.done.set()
            for queue in self._listeners:
                queue.put_nowait(None)

    async def _fail(self, code: str) -> None:
        """Record the task failed unless the store has its end: an end whose write failed
        is not one (the task applied it in memory all the same)."""
        if self.task is None or self.stored_state in TERMINAL or self._superseded:
            return
        error = Error(code=code, message="the task stopped before it ended")
        await self.enqueue_event(TaskEvents(self.task_id, self.context_id).failed(error))

    async def events(self, initial: bool = False) -> AsyncGenerator[Event, None]:
        """The run's events from now on (after the task as it is, if ``initial``), until
        it ends."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            if initial and self.task is not None:
                yield copy_task(self.task)
            if self.done.is_set():
                return
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._listeners.remove(queue)


# -- following a task in the store ------------------------------------------------------------


async def follow(
    tasks: ObjectTaskStore,
    stored: StoredTask,
    context: ServerCallContext,
    interval_s: float,
    settle: Callable[[StoredTask], Awaitable[StoredTask]] | None = None,
    settle_every_s: float = 10.0,
) -> AsyncGenerator[Event, None]:
    """The task as stored now, then its changes as its instance saves them, until it ends
    (reads the store every ``interval_s``). ``settle``: given the task when it has not
    changed for ``settle_every_s``, the task as it should stand (``a2a_server.py``
    records a task whose instance died failed)."""
    task, version = stored.task, stored.version
    yield task
    loop = asyncio.get_running_loop()
    settle_at = loop.time() + settle_every_s
    while task.status.state not in TERMINAL:
        await asyncio.sleep(interval_s)
        latest = await tasks.get(task.id, context)
        if latest is None:
            raise TaskNotFoundError
        if latest.version == version and settle is not None and loop.time() >= settle_at:
            latest = await settle(latest)
            settle_at = loop.time() + settle_every_s
        if latest.version == version:
            continue
        settle_at = loop.time() + settle_every_s
        for event in changes(task, latest.task):
            yield event
        task, version = latest.task, latest.version


def changes(old: Task, new: Task) -> list[Event]:
    """The events that take a subscriber from ``old`` to ``new`` (the same task, later)."""
    events: list[Event] = []
    before = {a.artifact_id: a for a in old.artifacts}
    for artifact in new.artifacts:
        prior = before.get(artifact.artifact_id)
        if prior == artifact:
            continue
        added = _appended(prior.parts, artifact.parts) if prior is not None else None
        update = TaskArtifactUpdateEvent(task_id=new.id, context_id=new.context_id)
        if added is None:
            update.artifact.CopyFrom(artifact)
        else:
            update.artifact.artifact_id = artifact.artifact_id
            update.artifact.parts.extend(added)
            update.append = True
        events.append(update)
    if new.status != old.status:
        events.append(
            TaskStatusUpdateEvent(task_id=new.id, context_id=new.context_id, status=new.status)
        )
    return events


def _appended(old: Any, new: Any) -> list[Part] | None:
    """The parts that, appended to ``old``, make ``new`` (a last text part that grew gives
    its new text); None when ``new`` is not ``old`` plus something."""
    n = len(old)
    if n == 0:
        return list(new)
    if len(new) < n or list(old[: n - 1]) != list(new[: n - 1]):
        return None
    last_old, last_new = old[n - 1], new[n - 1]
    if last_old == last_new:
        return list(new[n:])
    texts = last_old.WhichOneof("content") == last_new.WhichOneof("content") == "text"
    if texts and last_new.text.startswith(last_old.text):
        return [Part(text=last_new.text[len(last_old.text) :]), *new[n:]]
    return None
