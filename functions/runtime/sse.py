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
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


PING = comment("ping")


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

    Each ``__anext__`` runs as its own task so a ping can be sent while it is pending and a
    disconnect can cancel it; cancelling it runs the producer's ``finally`` (a turn then
    persists and releases its session).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        ping_interval: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.frames = frames
        self.ping_interval = ping_interval if ping_interval > 0 else None
        self.extra_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]

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
        agen = self.frames.__aiter__()
        disconnected = asyncio.ensure_future(wait_disconnect(receive))
        pending: asyncio.Future[bytes] | None = None
        finished = False
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(agen.__anext__())
                done, _ = await asyncio.wait(
                    (pending, disconnected),
                    timeout=self.ping_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if pending in done:
                    task, pending = pending, None
                    try:
                        body = task.result()
                    except StopAsyncIteration:
                        finished = True
                        break
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                elif disconnected in done:
                    break
                else:
                    await send({"type": "http.response.body", "body": PING, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we were writing
            pass
        finally:
            disconnected.cancel()
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
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
