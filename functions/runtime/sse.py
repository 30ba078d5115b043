"""Server-sent events: the frame encoder and the streaming response every protocol uses.

Frames follow the WHATWG HTML "server-sent events" format: optional ``event:`` and ``id:``
fields, one ``data:`` line per line of data, a blank line to end the frame; a line that
starts with ``:`` is a comment (our keep-alive ping). The seed's ``/process`` sends bare
``data:`` frames; the OpenAI Responses API names each frame with ``event:``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


def frame(data: str | bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """One SSE frame. ``data`` may hold newlines: each line gets its own ``data:`` field."""
    if isinstance(data, bytes):
        if event is not None and id is None and b"\n" not in data and b"\r" not in data:
            # the usual frame (one line of JSON, named): no round trip through str
            return b"event: " + _field(event).encode() + b"\ndata: " + data + b"\n\n"
        data = data.decode("utf-8")
    head = ""
    if event is not None:
        head += f"event: {_field(event)}\n"
    if id is not None:
        head += f"id: {_field(id)}\n"
    if "\n" in data or "\r" in data:
        body = "".join(f"data: {line}\n" for line in data.splitlines())
    else:
        body = f"data: {data}\n"
    return (head + body + "\n").encode("utf-8")


def comment(text: str = "") -> bytes:
    """A comment line (ignored by clients): keeps proxies from closing a silent stream."""
    return f": {_field(text)}\n\n".encode() if text else b":\n\n"


def _field(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("an SSE field value cannot contain a line break")
    return value


def sse_encode(event: BaseModel) -> bytes:
    """The seed's frame: a ``data:`` line with the event's JSON (``None`` fields left out)."""
    # the model's serializer called directly: model_dump_json's wrapper costs as much again
    json = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    return b"data: " + json + b"\n\n"


PING = comment("ping")
# how long a stream runs before the client's leaving is watched for (seconds): a client gone
# sooner is noticed this much later, or at the next frame written to it
WATCH_AFTER_S = 0.05


def stream_answer(description: str, json_model: Any = None) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for a route that answers with an event stream (and,
    with ``json_model``, with that JSON instead when the caller asked for no stream).

    OpenAPI 3.1 reads an event stream's schema as one event's SSE fields.
    """
    answer: dict[str, Any] = {
        "description": description,
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {"type": "string", "contentMediaType": "application/json"},
                        "event": {"type": "string"},
                        "id": {"type": "string"},
                    },
                }
            }
        },
    }
    if json_model is not None:
        answer["model"] = json_model
    return answer


async def encoded(events: AsyncIterator[T], encode: Callable[[T], bytes]) -> AsyncIterator[bytes]:
    """``encode`` over ``events``, closing ``events`` however this stream ends (so a turn is
    persisted and released even when the client leaves between two frames)."""
    try:
        async for event in events:
            yield encode(event)
    finally:
        aclose: Any = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


class SSEResponse(Response):
    """Streams ``frames``, pinging while they are silent, stopping when the client leaves.

    One task pumps the frames to the client as they come (no task or timer per frame); this
    one waits for the pump to finish, for the client to leave, or for ``ping_interval`` of
    silence, when it sends a ping (sends are serialised, so a ping never splits a frame).
    ``ready()`` (``Turn.ready``) says the next frame, or the stream's end, comes without
    waiting on the agent: frames that come together go out in one send (with the end of
    the body, when they are the last); a frame is never held back for one the agent has
    yet to make.
    A client that leaves (watched for from ``WATCH_AFTER_S`` on) cancels the pump, which
    closes ``frames`` (a turn then persists and releases its session).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        ping_interval: float,
        headers: dict[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.frames = frames
        self.ping_interval = ping_interval if ping_interval > 0 else None
        self.extra_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self._sent_at = 0.0  # loop time of the last frame or ping sent
        self._sending = asyncio.Lock()
        self._ready = ready
        self._ended = False  # the body's last part is sent (or being sent)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *self.extra_headers,
                ],
            }
        )
        loop = asyncio.get_running_loop()
        self._sent_at = loop.time()
        pump = asyncio.ensure_future(self._pump(send))
        # one future woken by whichever comes first (the pump's end, the client leaving, a
        # ping due): cheaper per request than asyncio.wait's set of waiters
        woken = loop.create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        # the client is watched from WATCH_AFTER_S on: a timer, not a task, so a stream
        # that ends sooner (a turn that needs no model) makes none
        disconnected: asyncio.Future[None] | None = None

        def watch() -> None:
            nonlocal disconnected
            disconnected = asyncio.ensure_future(wait_disconnect(receive))
            disconnected.add_done_callback(wake)

        pump.add_done_callback(wake)
        watching = loop.call_later(WATCH_AFTER_S, watch)
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                if self.ping_interval is not None:
                    due = max(0.0, self._sent_at + self.ping_interval - loop.time())
                    timer = loop.call_later(due, wake)
                await woken
                if timer is not None:
                    timer.cancel()
                if pump.done() or (disconnected is not None and disconnected.done()):
                    break
                woken = loop.create_future()
                if loop.time() - self._sent_at >= (self.ping_interval or 0.0):
                    await self._send(send, PING)
            if pump.done():
                pump.result()  # the stream's own error, if it broke
            await self._send(send, b"", more_body=False)  # unless the pump ended the body
        except OSError:  # the client went away while we were writing
            pass
        finally:
            watching.cancel()
            if timer is not None:
                timer.cancel()
            pump.remove_done_callback(wake)
            if disconnected is not None:
                disconnected.remove_done_callback(wake)
                disconnected.cancel()
            if not pump.done():
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump

    async def _send(self, send: Send, body: bytes, more_body: bool = True) -> None:
        async with self._sending:
            if self._ended:
                return  # a ping queued behind the body's last part: the response is over
            self._ended = not more_body
            await send({"type": "http.response.body", "body": body, "more_body": more_body})
            self._sent_at = asyncio.get_running_loop().time()

    async def _pump(self, send: Send) -> None:
        """Every frame to the client; ``frames`` closed however this ends."""
        agen = self.frames.__aiter__()
        ready = self._ready
        held: list[bytes] = []
        finished = False
        try:
            async for body in agen:
                if ready is not None and ready():
                    held.append(body)  # the next frame comes without a wait: send both
                    continue
                if held:
                    held.append(body)
                    body = b"".join(held)
                    held.clear()
                await self._send(send, body)
            finished = True
            if held:  # what came with the end: sent as the body's last part
                await self._send(send, b"".join(held), more_body=False)
        except OSError:  # the client went away while we were writing
            pass
        finally:
            if not finished:
                aclose: Any = getattr(agen, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client has gone (``http.disconnect``)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class ClientDisconnected(Exception):
    """The client hung up before the answer was ready; the work for it was cancelled."""


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, for a request whose body has been read.

    Starlette does not cancel an endpoint whose client has gone; one that waits long on
    something else's work (a call to a sandbox) wraps it here. When the client hangs up
    first (``http.disconnect``), ``work`` is cancelled and awaited (its cleanup done), then
    ``ClientDisconnected`` is raised.
    """
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(wait_disconnect(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():  # the client left (or this request is cancelled itself)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise ClientDisconnected
    return task.result()
