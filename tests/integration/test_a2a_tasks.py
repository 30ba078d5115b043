"""The A2A task store on real object stores: versions, cancels, held chunks, listing.

Two ``ObjectTaskStore`` s with their own store clients stand for two instances of the query
function; the stores are a local folder and moto's S3 server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from a2a.server.cluster import ConcurrentTaskModificationError, StoredTask, TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    Artifact,
    ListTasksRequest,
    Part,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
)

from functions.runtime.protocols import a2a_tasks
from functions.runtime.protocols.a2a_server import TaskOwner
from functions.runtime.protocols.a2a_tasks import UNANNOUNCED, ObjectTaskStore
from functions.runtime.services import CountingStore
from functions.runtime.storage import ObjectStore
from tests.fixtures.stores import StoreConfig

WORKING, COMPLETED = TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED
CANCELED, FAILED = TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_FAILED
DEADLINE_S = 30.0


def owner(user: str = "alice") -> ServerCallContext:
    return ServerCallContext(user=TaskOwner(user, True))


def unannounced(user: str = "alice") -> ServerCallContext:
    """A blocking SendMessage's call: its caller learns the task's id from the answer."""
    return ServerCallContext(user=TaskOwner(user, True), state={UNANNOUNCED: True})


def new_task(task_id: str = "t1", context_id: str = "c1", state: int = WORKING) -> Task:
    task = Task(id=task_id, context_id=context_id, status=TaskStatus(state=state))
    task.status.timestamp.GetCurrentTime()
    return task


async def first_save(tasks: ObjectTaskStore, task: Task, context: ServerCallContext) -> TaskVersion:
    """``task``'s first save through ``tasks`` (nothing stored for it before)."""
    return await tasks.save(
        task, event=None, prev=None, prev_version=TaskVersion.MISSING, context=context
    )


async def once_written(tasks: ObjectTaskStore, task_id: str = "t1") -> StoredTask:
    """The task as ``tasks`` reads it once something has written it (within the deadline)."""
    end = asyncio.get_running_loop().time() + DEADLINE_S
    while (stored := await tasks.get(task_id, owner())) is None:
        assert asyncio.get_running_loop().time() < end, f"{task_id} was never written"
        await asyncio.sleep(0.02)
    return stored


@pytest.fixture(params=["file", "s3"])
def config(request, store_url_for: Callable[..., StoreConfig]) -> StoreConfig:
    return store_url_for(request.param)


@pytest.fixture
async def stores(config: StoreConfig) -> AsyncIterator[tuple[ObjectStore, ObjectStore]]:
    """Two clients of one store: the object stores of two instances."""
    a, b = config.open(), config.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_two_instances_updating_one_task_lose_no_update(stores):
    a, b = (ObjectTaskStore(s, save_interval_s=0) for s in stores)
    await a.save(
        new_task(), event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
    )
    conflicts = 0
    # Both writers read the same version before either saves its first update, so one of those
    # saves collides whatever the store's latency; later rounds interleave as they happen.
    both_read = asyncio.Barrier(2)

    async def writer(tasks: ObjectTaskStore, name: str, count: int) -> None:
        nonlocal conflicts
        first = True
        for i in range(count):
            while True:
                stored = await tasks.get("t1", owner())
                assert stored is not None
                task = stored.task
                task.artifacts.append(Artifact(artifact_id=f"{name}-{i}", parts=[Part(text=name)]))
                if first:
                    first = False
                    await both_read.wait()
                else:
                    await asyncio.sleep(0)  # let the other instance write in between
                try:
                    await tasks.save(
                        task, event=None, prev=None, prev_version=stored.version, context=owner()
                    )
                    break
                except ConcurrentTaskModificationError:
                    conflicts += 1  # reload and apply this update again

    await asyncio.gather(writer(a, "a", 8), writer(b, "b", 8))
    final = await a.get("t1", owner())
    assert final is not None
    ids = sorted(x.artifact_id for x in final.task.artifacts)
    assert ids == sorted([f"a-{i}" for i in range(8)] + [f"b-{i}" for i in range(8)])
    assert conflicts > 0  # the writers did collide, and nothing was lost to it


async def test_a_stale_version_and_a_second_create_are_refused(stores):
    a, b = (ObjectTaskStore(s) for s in stores)
    first = await a.save(
        new_task(), event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
    )
    with pytest.raises(ConcurrentTaskModificationError):
        await b.save(
            new_task(), event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
        )
    await b.save(
        new_task(state=COMPLETED), event=None, prev=None, prev_version=first, context=owner()
    )
    with pytest.raises(ConcurrentTaskModificationError):
        await a.save(
            new_task(state=FAILED), event=None, prev=None, prev_version=first, context=owner()
        )
    stored = await a.get("t1", owner())
    assert stored is not None and stored.task.status.state == COMPLETED


async def test_canceling_overwrites_a_running_task_but_never_an_ended_one(stores):
    a, b = (ObjectTaskStore(s) for s in stores)
    first = await a.save(
        new_task(), event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
    )
    grown = new_task()
    grown.metadata.update({"step": 2})
    await a.save(grown, event=None, prev=None, prev_version=first, context=owner())
    # b's copy is stale, yet a cancel lands: it overwrites whatever non-terminal state is there
    await b.save(
        new_task(state=CANCELED), event=None, prev=None, prev_version=first, context=owner()
    )
    stored = await a.get("t1", owner())
    assert stored is not None and stored.task.status.state == CANCELED
    with pytest.raises(ConcurrentTaskModificationError):  # ended: no second end
        await a.save(
            new_task(state=CANCELED), event=None, prev=None, prev_version=first, context=owner()
        )
    with pytest.raises(ConcurrentTaskModificationError):  # absent
        await a.save(
            new_task("nope", state=CANCELED),
            event=None,
            prev=None,
            prev_version=TaskVersion.MISSING,
            context=owner(),
        )


async def test_streamed_chunks_are_held_briefly_then_written(stores):
    a, b = ObjectTaskStore(stores[0], save_interval_s=0.2), ObjectTaskStore(stores[1])
    task = new_task()
    version = await a.save(
        task, event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
    )
    for piece in ("Hel", "lo"):
        chunk = TaskArtifactUpdateEvent(
            task_id="t1",
            context_id="c1",
            artifact=Artifact(artifact_id="answer", parts=[Part(text=piece)]),
            append=bool(task.artifacts),
        )
        if task.artifacts:
            task.artifacts[0].parts.extend(chunk.artifact.parts)
        else:
            task.artifacts.append(chunk.artifact)
        held = await a.save(task, event=chunk, prev=None, prev_version=version, context=owner())
        assert held == version  # not written yet: the version the caller holds stays valid

    async def written() -> Task | None:
        stored = await b.get("t1", owner())
        return stored.task if stored is not None and stored.task.artifacts else None

    end = asyncio.get_running_loop().time() + DEADLINE_S
    while (seen := await written()) is None:
        assert asyncio.get_running_loop().time() < end, "the held chunks were never written"
        await asyncio.sleep(0.05)
    assert [p.text for p in seen.artifacts[0].parts] == ["Hello"]  # merged into one text
    # the caller's version still works after the timer's write: the store tracks it
    task.status.state = COMPLETED
    await a.save(task, event=None, prev=None, prev_version=version, context=owner())
    final = await b.get("t1", owner())
    assert final is not None and final.task.status.state == COMPLETED


async def test_an_unannounced_task_that_ends_soon_is_written_once_when_it_ends(stores):
    counted = CountingStore(stores[0])
    a, b = ObjectTaskStore(counted, save_interval_s=30), ObjectTaskStore(stores[1])
    task = new_task()
    version = await first_save(a, task, unannounced())
    assert version.is_missing and await b.get("t1", owner()) is None  # held, not written
    task.artifacts.append(Artifact(artifact_id="answer", parts=[Part(text="done")]))
    chunk = TaskArtifactUpdateEvent(task_id="t1", context_id="c1", artifact=task.artifacts[0])
    assert await a.save(task, event=chunk, prev=None, prev_version=version, context=unannounced())
    task.status.state = COMPLETED
    await a.save(task, event=None, prev=None, prev_version=version, context=unannounced())
    assert counted.counts == {"put": 1}
    stored = await b.get("t1", owner())
    assert stored is not None and stored.task.status.state == COMPLETED
    assert [p.text for p in stored.task.artifacts[0].parts] == ["done"]


async def test_an_unannounced_task_still_running_is_written_after_the_interval(stores):
    a, b = ObjectTaskStore(stores[0], save_interval_s=0.05), ObjectTaskStore(stores[1])
    task = new_task()
    version = await first_save(a, task, unannounced())
    stored = await once_written(b)
    assert stored.task.status.state == WORKING  # another instance lists it from now on
    # the version handed out before that write still works: the store tracks the etag
    task.status.state = COMPLETED
    await a.save(task, event=None, prev=None, prev_version=version, context=unannounced())
    final = await b.get("t1", owner())
    assert final is not None and final.task.status.state == COMPLETED


async def test_an_unannounced_task_canceled_before_its_first_write_is_stored_canceled(stores):
    a, b = ObjectTaskStore(stores[0], save_interval_s=30), ObjectTaskStore(stores[1])
    task = new_task()
    version = await first_save(a, task, unannounced())
    task.status.state = CANCELED  # its turn was stopped here before anything was written
    await a.save(task, event=None, prev=None, prev_version=version, context=unannounced())
    stored = await b.get("t1", owner())
    assert stored is not None and stored.task.status.state == CANCELED


async def test_a_task_whose_version_is_missing_is_never_dropped_from_tracking(stores, monkeypatch):
    # after the timer's first write the SDK still holds MISSING: only the etag this store
    # keeps lets its later saves go through, however many other tasks it tracks
    a, b = ObjectTaskStore(stores[0], save_interval_s=0.05), ObjectTaskStore(stores[1])
    task = new_task()
    version = await first_save(a, task, unannounced())
    await once_written(b)
    await first_save(a, new_task("t0"), owner())  # written at once, tracked: evictable
    monkeypatch.setattr(a2a_tasks, "MAX_TRACKED", 2)  # full: the next one evicts
    await first_save(a, new_task("t2"), owner())
    assert sorted(a._written) == ["t1", "t2"]  # t0 made room; t1 stays, t2 is tracked
    task.artifacts.append(Artifact(artifact_id="answer", parts=[Part(text="later words")]))
    chunk = TaskArtifactUpdateEvent(task_id="t1", context_id="c1", artifact=task.artifacts[0])
    version = await a.save(
        task, event=chunk, prev=None, prev_version=version, context=unannounced()
    )
    task.status.state = COMPLETED
    await a.save(task, event=None, prev=None, prev_version=version, context=unannounced())
    stored = await b.get("t1", owner())
    assert stored is not None and stored.task.status.state == COMPLETED
    assert [p.text for p in stored.task.artifacts[0].parts] == ["later words"]


async def test_a_held_first_write_is_written_when_the_instance_closes(stores):
    a, b = ObjectTaskStore(stores[0], save_interval_s=30), ObjectTaskStore(stores[1])
    await first_save(a, new_task(), unannounced())
    await a.close()
    stored = await b.get("t1", owner())
    assert stored is not None and stored.task.status.state == WORKING


async def test_a_write_from_elsewhere_beats_a_held_chunk(stores):
    a, b = ObjectTaskStore(stores[0], save_interval_s=30), ObjectTaskStore(stores[1])
    task = new_task()
    version = await a.save(
        task, event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
    )
    task.artifacts.append(Artifact(artifact_id="answer", parts=[Part(text="partial")]))
    chunk = TaskArtifactUpdateEvent(task_id="t1", context_id="c1", artifact=task.artifacts[0])
    assert await a.save(task, event=chunk, prev=None, prev_version=version, context=owner())
    await b.save(
        new_task(state=CANCELED), event=None, prev=None, prev_version=version, context=owner()
    )
    task.status.state = COMPLETED
    with pytest.raises(ConcurrentTaskModificationError):
        await a.save(task, event=None, prev=None, prev_version=version, context=owner())
    await a.close()


async def test_listing_filters_pages_and_keeps_to_the_owner(stores):
    tasks = ObjectTaskStore(stores[0])
    for i in range(5):
        task = new_task(f"t{i}", context_id="even" if i % 2 == 0 else "odd")
        task.status.timestamp.FromSeconds(1_800_000_000 + i)
        await tasks.save(
            task, event=None, prev=None, prev_version=TaskVersion.MISSING, context=owner()
        )
    await tasks.save(
        new_task("bobs"),
        event=None,
        prev=None,
        prev_version=TaskVersion.MISSING,
        context=owner("bob"),
    )
    first = await tasks.list(ListTasksRequest(page_size=2), owner())
    assert [t.id for t in first.tasks] == ["t4", "t3"] and first.total_size == 5
    second = await tasks.list(
        ListTasksRequest(page_size=2, page_token=first.next_page_token), owner()
    )
    third = await tasks.list(
        ListTasksRequest(page_size=2, page_token=second.next_page_token), owner()
    )
    assert [t.id for t in [*second.tasks, *third.tasks]] == ["t2", "t1", "t0"]
    assert not third.next_page_token
    even = await tasks.list(ListTasksRequest(context_id="even"), owner())
    assert [t.id for t in even.tasks] == ["t4", "t2", "t0"]
    assert [t.id for t in (await tasks.list(ListTasksRequest(), owner("bob"))).tasks] == ["bobs"]
    assert await tasks.get("t1", owner("bob")) is None
    assert await tasks.get("no/such\x00id", owner()) is None
