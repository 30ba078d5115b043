"""``SSEResponse``: frames that are ready together go out in one send, a frame that would
wait is never held back for the next, and the stream is closed however it ends."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from functions.runtime.sse import SSEResponse


class Client:
    """An ASGI server's side of one response: the messages sent, a disconnect on demand."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gone = asyncio.Event()
        self.got = asyncio.Event()  # a body was sent

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("more_body"):
            self.bodies.append(message["body"])
            self.got.set()


async def test_frames_that_are_ready_together_are_sent_together():
    queued = [b"a\n\n", b"b\n\n", b"c\n\n"]  # c: the last one ready at once; d comes later
    release = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        while queued:
            yield queued.pop(0)
        await release.wait()
        yield b"d\n\n"

    client = Client()
    response = SSEResponse(frames(), 0, ready=lambda: bool(queued))
    serving = asyncio.ensure_future(response({}, client.receive, client.send))
    await client.got.wait()
    assert client.bodies == [b"a\n\nb\n\nc\n\n"]  # sent before d, which is not ready yet
    release.set()
    await serving
    assert client.bodies == [b"a\n\nb\n\nc\n\n", b"d\n\n"]


async def test_without_ready_each_frame_is_its_own_send():
    async def frames() -> AsyncIterator[bytes]:
        for body in (b"a\n\n", b"b\n\n"):
            yield body

    client = Client()
    await SSEResponse(frames(), 0)({}, client.receive, client.send)
    assert client.bodies == [b"a\n\n", b"b\n\n"]


async def test_a_client_that_leaves_closes_the_stream():
    closed = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"a\n\n"
            await asyncio.Event().wait()  # silent until the client leaves
            yield b"never\n\n"
        finally:
            closed.set()

    client = Client()
    serving = asyncio.ensure_future(SSEResponse(frames(), 0)({}, client.receive, client.send))
    await client.got.wait()
    client.gone.set()
    await serving
    assert closed.is_set() and client.bodies == [b"a\n\n"]


async def test_no_ping_follows_the_last_part_of_the_body():
    # the last part's send waits (a slow client: the server drains first) while a ping
    # falls due: the ping, queued behind it, must not be sent after the response ended
    after_end: list[dict[str, Any]] = []
    ended = False
    release = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        nonlocal ended
        if ended:
            after_end.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            await release.wait()
            ended = True

    async def frames() -> AsyncIterator[bytes]:
        yield b"a\n\n"
        yield b"b\n\n"

    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    response = SSEResponse(frames(), 0.001, ready=lambda: True)  # all held: one last part
    serving = asyncio.ensure_future(response({}, receive, send))
    for _ in range(1000):  # until a ping waits behind the last part (or 10 s)
        waiting = getattr(response._sending, "_waiters", None)
        if response._sending.locked() and waiting:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("no ping came due while the last part was being sent")
    release.set()
    await serving
    assert ended and after_end == []
