"""A2A events from a turn's events, A2A parts into the seed's content, events applied
to a task, and store diffs."""

from __future__ import annotations

import asyncio

from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore, TaskManager
from a2a.types.a2a_pb2 import Artifact, Message, Part, Task, TaskState, TaskStatus
from google.protobuf import json_format

from functions.runtime import protocol as p
from functions.runtime.protocols.a2a_executor import TaskEvents, to_agent_message
from functions.runtime.protocols.a2a_runs import apply_event, changes
from functions.runtime.protocols.a2a_tasks import merge_text_parts


def turn_events() -> list[p.Event]:
    """A turn that says two words, calls a tool, shows a table and completes."""
    b = p.ResponseBuilder(session_id="s")
    events: list[p.Event] = [b.created(), b.in_progress()]
    answer, opened = b.open_message()
    events += opened
    events += [answer.text_delta("Hello "), answer.text_delta("world")]
    events += answer.add_content(p.DataContent(data={"rows": 2}))
    call, opened = b.open_message(type=p.MessageType.PLUGIN_CALL)
    events += opened
    events += call.add_content(
        p.DataContent(data={"call_id": "c1", "name": "f", "arguments": "{}"})
    )
    events += b.completed()
    return events


def test_a_turn_becomes_artifact_chunks_status_steps_and_an_end():
    mapper = TaskEvents("t1", "c1")
    out = [e for ev in turn_events() for e in mapper.feed(ev)]
    chunks = [e for e in out if e.DESCRIPTOR.name == "TaskArtifactUpdateEvent"]
    assert [(c.append, c.last_chunk) for c in chunks] == [
        (False, False),
        (True, False),
        (True, False),
        (True, True),
    ]
    assert len({c.artifact.artifact_id for c in chunks}) == 1
    assert [x.text for c in chunks[:2] for x in c.artifact.parts] == ["Hello ", "world"]
    assert json_format.MessageToDict(chunks[2].artifact.parts[0].data) == {"rows": 2}
    (step,) = [e for e in out if e.DESCRIPTOR.name == "TaskStatusUpdateEvent"]
    assert step.status.state == TaskState.TASK_STATE_WORKING
    assert json_format.MessageToDict(step.status.message.metadata)["type"] == "plugin_call"
    assert json_format.MessageToDict(step.status.message.parts[0].data)["call_id"] == "c1"
    assert all(e.task_id == "t1" and e.context_id == "c1" for e in out)


def test_events_change_a_task_as_the_sdks_task_manager_changes_it():
    # the task a run stores is the one the SDK would: same artifacts, history, status
    mapper = TaskEvents("t1", "c1")
    updates = [e for ev in turn_events() for e in mapper.feed(ev)]
    updates.append(mapper.final(p.Response(status=p.RunStatus.Completed, usage={"n": 1})))
    assert {e.DESCRIPTOR.name for e in updates} == {
        "TaskArtifactUpdateEvent",
        "TaskStatusUpdateEvent",
    }
    first = Task(id="t1", context_id="c1", status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    first.history.append(Message(message_id="m0", parts=[Part(text="hi")]))

    async def by_the_sdk() -> Task:
        manager = TaskManager(InMemoryTaskStore(), ServerCallContext(), "t1", "c1", None)
        task = Task()
        task.CopyFrom(first)
        await manager.save_task_event(task)
        for update in updates:
            saved = await manager.save_task_event(update)
        assert saved is not None
        return saved

    ours = Task()
    ours.CopyFrom(first)
    for update in updates:
        apply_event(ours, update)
    expected = asyncio.run(by_the_sdk())
    assert ours == expected
    assert len(ours.history) == 2  # the tool step's status message, moved there by the end
    assert json_format.MessageToDict(ours.metadata) == {"usage": {"n": 1.0}}


def test_the_final_response_decides_the_end():
    mapper = TaskEvents("t1", "c1")
    done = p.Response(status=p.RunStatus.Completed, usage={"output_tokens": 3})
    end = mapper.final(done)
    assert end.status.state == TaskState.TASK_STATE_COMPLETED
    assert json_format.MessageToDict(end.metadata) == {"usage": {"output_tokens": 3.0}}
    assert mapper.final(p.Response(status=p.RunStatus.Canceled)).status.state == (
        TaskState.TASK_STATE_CANCELED
    )
    failed = mapper.final(
        p.Response(status=p.RunStatus.Failed, error=p.Error(code="model_error", message="down"))
    )
    assert failed.status.state == TaskState.TASK_STATE_FAILED
    assert failed.status.message.parts[0].text == "down"
    assert json_format.MessageToDict(failed.status.message.metadata) == {
        "error": {"code": "model_error", "message": "down"}
    }
    cut = mapper.final(p.Response(status=p.RunStatus.Incomplete))
    assert cut.status.state == TaskState.TASK_STATE_FAILED
    assert json_format.MessageToDict(cut.status.message.metadata)["error"]["code"] == "incomplete"
    assert mapper.final(None).status.state == TaskState.TASK_STATE_FAILED


def test_a2a_parts_become_the_seeds_content():
    message = Message(
        message_id="m1",
        parts=[
            Part(text="look"),
            Part(data=json_format.ParseDict({"k": [1]}, Part().data)),
            Part(data=json_format.ParseDict("just a string", Part().data)),
            Part(url="https://x/y.png", media_type="image/png"),
            Part(raw=b"%PDF", filename="a.pdf", media_type="application/pdf"),
        ],
    )
    converted = to_agent_message(message)
    assert converted.id == "m1" and converted.role == "user"
    dumped = [c.model_dump(exclude_none=True, include={"type", "text", "data", "image_url",
                                                       "file_data", "filename"})
              for c in converted.content]  # fmt: skip
    assert dumped == [
        {"type": "text", "text": "look"},
        {"type": "data", "data": {"k": [1.0]}},
        {"type": "data", "data": {"value": "just a string"}},
        {"type": "image", "image_url": "https://x/y.png"},
        {"type": "file", "file_data": "JVBERg==", "filename": "a.pdf"},
    ]


def task_with(parts: list[str], state: int = TaskState.TASK_STATE_WORKING) -> Task:
    task = Task(id="t", context_id="c", status=TaskStatus(state=state))
    if parts:
        task.artifacts.append(Artifact(artifact_id="a", parts=[Part(text=x) for x in parts]))
    return task


def test_changes_in_the_store_become_the_events_a_subscriber_missed():
    assert changes(task_with(["Hi"]), task_with(["Hi"])) == []
    (new,) = changes(task_with([]), task_with(["Hi"]))
    assert not new.append and [x.text for x in new.artifact.parts] == ["Hi"]
    (grown,) = changes(task_with(["Hi"]), task_with(["Hi there"]))  # merged when stored
    assert grown.append and [x.text for x in grown.artifact.parts] == [" there"]
    (more,) = changes(task_with(["Hi"]), task_with(["Hi", "!"]))
    assert more.append and [x.text for x in more.artifact.parts] == ["!"]
    (rewritten,) = changes(task_with(["Hi"]), task_with(["Bye"]))
    assert not rewritten.append and [x.text for x in rewritten.artifact.parts] == ["Bye"]
    chunk, end = changes(task_with(["Hi"]), task_with(["Hi!"], TaskState.TASK_STATE_COMPLETED))
    assert chunk.append and end.status.state == TaskState.TASK_STATE_COMPLETED


def test_adjacent_plain_text_parts_are_merged_before_a_write():
    task = task_with(["Hel", "lo"])
    task.artifacts[0].parts.append(Part(url="https://x/y.png"))
    task.artifacts[0].parts.extend([Part(text=" a"), Part(text="nd", media_type="text/markdown")])
    merge_text_parts(task)
    kinds = [(x.WhichOneof("content"), x.text) for x in task.artifacts[0].parts]
    assert kinds == [("text", "Hello"), ("url", ""), ("text", " a"), ("text", "nd")]
