"""A fake OpenAI-compatible chat-completions server, served for real over loopback.

It speaks the wire format the official SDK parses (``text/event-stream`` of
``data: <chat.completion.chunk>`` lines ending in ``data: [DONE]``, OpenAI's error JSON),
so a client is tested through its real HTTP stack rather than a mock. Tests script replies
with ``push()`` and read back what the client sent from ``requests``. Chunk shapes follow
what providers actually send, quirks included: an empty ``content`` delta, tool-call ids and
names only in the first fragment (later ones carry ``id: ""`` as DashScope does), and usage
in a final chunk with empty ``choices`` only when ``stream_options.include_usage`` asks.

Use the ``fake_openai`` fixture (import ``fake_openai_fixture``), or
``with FakeOpenAIServer() as server:`` outside pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FAKE_API_KEY = "sk-fake-0123456789abcdefSECRET"
CREATED = 1_700_000_000


@dataclass
class Reply:
    """One scripted answer: a stream of chunks (status 200) or an error body."""

    status: int = 200
    chunks: list[dict[str, Any]] = field(default_factory=list)
    usage: tuple[int, int] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Send the chunks, then stall until the server stops: a model that stops talking.
    hang: bool = False


@dataclass
class RecordedRequest:
    """What one client request carried, for tests to assert on."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def choice_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice; ``model`` is filled in when served."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def text_reply(
    text: str,
    *,
    piece_chars: int = 4,
    reasoning: str | None = None,
    usage: tuple[int, int] | None = (11, 7),
    finish_reason: str = "stop",
) -> Reply:
    """A plain answer streamed a few characters at a time, optionally after reasoning."""
    chunks = [choice_chunk({"role": "assistant", "content": ""})]
    if reasoning:
        for piece in split(reasoning, piece_chars):
            chunks.append(choice_chunk({"content": None, "reasoning_content": piece}))
    chunks.append(choice_chunk({"content": ""}))  # keep-alive deltas some servers send
    for piece in split(text, piece_chars):
        chunks.append(choice_chunk({"content": piece}))
    chunks.append(choice_chunk({}, finish_reason))
    return Reply(chunks=chunks, usage=usage)


def tool_calls_reply(
    calls: list[tuple[str, str, str]],
    *,
    piece_chars: int = 5,
    interleave: bool = False,
    usage: tuple[int, int] | None = (42, 19),
    finish_reason: str = "tool_calls",
) -> Reply:
    """Parallel tool calls ``(id, name, arguments)``: id and name in each call's first
    fragment, arguments spread over many; ``interleave`` alternates the calls' fragments."""
    opening = [
        {
            "index": i,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        for i, (call_id, name, _) in enumerate(calls)
    ]
    pieces = [
        [
            {"index": i, "id": "", "type": "function", "function": {"arguments": piece}}
            for piece in split(arguments, piece_chars)
        ]
        for i, (_, _, arguments) in enumerate(calls)
    ]
    fragments: list[dict[str, Any]] = []
    if interleave:
        fragments += opening
        longest = max((len(p) for p in pieces), default=0)
        fragments += [p[n] for n in range(longest) for p in pieces if n < len(p)]
    else:
        for first, rest in zip(opening, pieces, strict=True):
            fragments += [first, *rest]
    chunks = [choice_chunk({"role": "assistant", "content": None})]
    chunks += [choice_chunk({"tool_calls": [fragment]}) for fragment in fragments]
    chunks.append(choice_chunk({}, finish_reason))
    return Reply(chunks=chunks, usage=usage)


def error_reply(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(status=status, body=body, headers=headers or {})


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a background thread.

    With ``api_key`` set, a request with any other bearer token gets OpenAI's 401 (whose
    message quotes the presented key, as some providers do, to test that clients don't
    leak it). ``reject_stream_options`` answers 400 to requests carrying that field, as
    some older servers do. With nothing scripted it echoes the last user message.
    """

    def __init__(self, api_key: str | None = None, *, reject_stream_options: bool = False):
        self.api_key = api_key
        self.reject_stream_options = reject_stream_options
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])],
            lifespan=self._lifespan,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # --- lifecycle -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        self._started.set()
        yield

    def start(self) -> FakeOpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # connections queue from here on, before uvicorn accepts them
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._release is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._release.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the endpoint ------------------------------------------------------------------

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._error(error_reply(400, "We could not parse the JSON body."))
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        if self.api_key is not None:
            presented = request.headers.get("authorization", "").removeprefix("Bearer ")
            if presented != self.api_key:
                return self._error(
                    error_reply(
                        401,
                        f"Incorrect API key provided: {presented}. You can find your API key "
                        "at https://platform.openai.com/account/api-keys.",
                        code="invalid_api_key",
                    )
                )
        if self.reject_stream_options and "stream_options" in body:
            return self._error(
                error_reply(
                    400,
                    "Unrecognized request argument supplied: stream_options",
                    param="stream_options",
                )
            )
        invalid = _invalid_messages(body.get("messages") or [])
        if invalid is not None:
            return self._error(error_reply(400, invalid, param="messages"))
        with self._lock:
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            reply = text_reply(f"Echo: {_last_user_text(body.get('messages') or [])}")
        if reply.status != 200:
            return self._error(reply)
        if body.get("stream") is not True:
            return self._error(error_reply(400, "This fake server only answers stream=true."))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._events(reply, str(body.get("model", "")), include_usage),
            media_type="text/event-stream",
            headers=reply.headers,
        )

    async def _events(self, reply: Reply, model: str, include_usage: bool) -> AsyncIterator[str]:
        for chunk in reply.chunks:
            yield f"data: {json.dumps({**chunk, 'model': model})}\n\n"
        if reply.hang:
            assert self._release is not None
            await self._release.wait()
            return
        if include_usage and reply.usage is not None:
            prompt, completion = reply.usage
            usage_chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
            yield f"data: {json.dumps(usage_chunk)}\n\n"
        yield "data: [DONE]\n\n"

    @staticmethod
    def _error(reply: Reply) -> Response:
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _invalid_messages(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's refusal of a tool message without its call, or a call without its answer
    (the 400 every later turn of a session got when history held an orphan output)."""
    pending: set[str] = set()
    for i, message in enumerate(messages):
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in pending:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceeding message with 'tool_calls' (messages.[{i}].role)."
                )
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}"
            )
        pending = {c.get("id") for c in message.get("tool_calls") or ()}
    if pending:
        return f"tool_call_ids without response messages: {', '.join(sorted(pending))}"
    return None


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def closed_port_url() -> str:
    """A base URL on a loopback port nothing listens on (connections are refused)."""
    from local_emulator.serve import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAIServer]:
    """``fake_openai``: a running fake server that requires ``FAKE_API_KEY``.

    Import ``fake_openai_fixture`` into a test module (or list this module in
    ``pytest_plugins``) to use it; the alias keeps the import from shadowing the argument.
    """
    with FakeOpenAIServer(api_key=FAKE_API_KEY) as server:
        yield server
