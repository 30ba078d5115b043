"""An OpenAI-compatible Chat Completions endpoint on 127.0.0.1, and the offline model behind it.

``make local`` serves the offline demo model here when no model is configured and points
``MODEL_BASE_URL`` at it, so any OpenAI-compatible client (the runtime's own model client,
agentscope's ``OpenAIChatModel``, the ``openai`` SDK) runs with no key. The tests' scripted
fake model (tests/fakes/openai_server.py) is this same endpoint with replies pushed by the
test, so there is one implementation of the wire format.

Wire format (OpenAI's Chat Completions, as the official SDK parses it):

* ``POST /v1/chat/completions`` with ``stream: true`` answers ``text/event-stream``: one
  ``data: <chat.completion.chunk JSON>`` line per chunk and ``data: [DONE]`` last. Chunks
  follow what providers send, quirks included: an empty ``content`` delta first, tool-call
  ids and names only in a call's first fragment (later ones carry ``id: ""`` as DashScope
  does), the finish reason in its own chunk, and the usage in a final chunk with empty
  ``choices`` only when ``stream_options.include_usage`` asks for it.
* ``stream: false`` (or absent) answers one ``chat.completion`` object with ``usage``.
* ``GET /v1/models`` lists the model.
* Errors are OpenAI's JSON ``{"error": {"message", "type", "param", "code"}}``: 400 for an
  unreadable body, 401 for a wrong bearer token when a key is required.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CREATED = 1_700_000_000
OFFLINE_MODEL = "offline-demo"
# the offline endpoint ignores keys; clients that insist on one are given this
OFFLINE_API_KEY = "offline"


@dataclass
class Reply:
    """One answer: a stream of chunks (status 200) or an error body."""

    status: int = 200
    chunks: list[dict[str, Any]] = field(default_factory=list)
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # send the chunks, then stall until the server stops: a model that stops talking
    hang: bool = False
    # hold the stream before chunk ``pause_at`` until ``resume`` is set: a test paces the
    # model (another thread sets it) and sees what a client shows in between
    pause_at: int | None = None
    resume: threading.Event | None = None


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
        "id": "chatcmpl-offline",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def text_reply(
    text: str | list[str],
    *,
    piece_chars: int = 4,
    reasoning: str | None = None,
    usage: tuple[int, int] | None = (11, 7),
    finish_reason: str = "stop",
) -> Reply:
    """A plain answer, optionally after reasoning: ``text`` as pieces of ``piece_chars``
    characters, or as the given list of pieces."""
    chunks = [choice_chunk({"role": "assistant", "content": ""})]
    if reasoning:
        for piece in split(reasoning, piece_chars):
            chunks.append(choice_chunk({"content": None, "reasoning_content": piece}))
    chunks.append(choice_chunk({"content": ""}))  # keep-alive deltas some servers send
    pieces = text if isinstance(text, list) else split(text, piece_chars)
    for piece in pieces:
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


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_of(reply: Reply, model: str) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` the chunks of ``reply`` add up to."""
    content: str | None = None
    reasoning: str | None = None
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    for chunk in reply.chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                content = (content or "") + delta["content"]
            if delta.get("reasoning_content"):
                reasoning = (reasoning or "") + delta["reasoning_content"]
            for fragment in delta.get("tool_calls") or ():
                call = calls.setdefault(
                    fragment["index"],
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                call["id"] = call["id"] or fragment.get("id") or ""
                function = fragment.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
            finish_reason = choice.get("finish_reason") or finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    body = {
        "id": "chatcmpl-offline",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if reply.usage is not None:
        body["usage"] = _usage(*reply.usage)
    return body


Answer = Callable[[dict[str, Any]], "Reply | Awaitable[Reply | None] | None"]


class ChatCompletions:
    """The endpoint as an ASGI app; ``answer(body)`` decides each reply.

    ``api_key``: when set, any other bearer token gets OpenAI's 401, whose message quotes
    the presented key as some providers do (clients must not leak it).
    ``reject_stream_options``: answer 400 to requests carrying that field, as some older
    servers do. An ``answer`` returning None echoes the last user message.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        api_key: str | None = None,
        reject_stream_options: bool = False,
        model: str = OFFLINE_MODEL,
    ) -> None:
        self.answer = answer
        self.api_key = api_key
        self.reject_stream_options = reject_stream_options
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.started = threading.Event()
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        self.started.set()
        try:
            yield
        finally:
            self._release.set()

    def release(self) -> None:
        """End every stalled (``hang``) stream: the server is stopping."""
        if self._loop is not None and self._release is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._release.set)

    async def _models(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": self.model, "object": "model", "created": CREATED, "owned_by": "local"}
                ],
            }
        )

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return _error(error_reply(400, "We could not parse the JSON body."))
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
                return _error(
                    error_reply(
                        401,
                        f"Incorrect API key provided: {presented}. You can find your API key "
                        "at https://platform.openai.com/account/api-keys.",
                        code="invalid_api_key",
                    )
                )
        if self.reject_stream_options and "stream_options" in body:
            return _error(
                error_reply(
                    400,
                    "Unrecognized request argument supplied: stream_options",
                    param="stream_options",
                )
            )
        messages = body.get("messages")
        invalid = invalid_messages(messages) if isinstance(messages, list) else None
        if invalid is not None:
            return _error(error_reply(400, invalid, param="messages"))
        reply = self.answer(body)
        if inspect.isawaitable(reply):
            reply = await reply
        if reply is None:
            reply = text_reply(f"Echo: {last_user_text(body.get('messages') or [])}")
        if reply.status != 200:
            return _error(reply)
        model = str(body.get("model") or self.model)
        if body.get("stream") is not True:
            return JSONResponse(completion_of(reply, model), headers=reply.headers)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._events(reply, model, include_usage),
            media_type="text/event-stream",
            headers=reply.headers,
        )

    async def _events(self, reply: Reply, model: str, include_usage: bool) -> AsyncIterator[str]:
        for i, chunk in enumerate(reply.chunks):
            if i == reply.pause_at and reply.resume is not None:
                if not await self._held(reply.resume):
                    return
            yield f"data: {json.dumps({**chunk, 'model': model})}\n\n"
        if reply.hang:
            assert self._release is not None
            await self._release.wait()
            return
        if include_usage and reply.usage is not None:
            usage_chunk = {
                "id": "chatcmpl-offline",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [],
                "usage": _usage(*reply.usage),
            }
            yield f"data: {json.dumps(usage_chunk)}\n\n"
        yield "data: [DONE]\n\n"

    async def _held(self, resume: threading.Event) -> bool:
        """Wait for ``resume`` (set by another thread); False when the server stops first."""
        assert self._release is not None
        while not resume.is_set():
            if self._release.is_set():
                return False
            await asyncio.sleep(0.01)  # a threading.Event: polled, so no thread is left waiting
        return True


def invalid_messages(messages: list[dict[str, Any]]) -> str | None:
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


def _error(reply: Reply) -> Response:
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


async def offline_answer(body: dict[str, Any]) -> Reply:
    """The offline demo model's turn as chunks: the same text, tool calls and usage the
    runtime's built-in offline client streams, so both give the same conversation."""
    from functions.runtime.models import OfflineDemoModel, TextDelta, ToolCall, Usage

    messages = body.get("messages")
    tools = body.get("tools")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return error_reply(400, "'messages' must be a list of message objects.", param="messages")
    pieces: list[str] = []
    calls: list[tuple[str, str, str]] = []
    usage: tuple[int, int] | None = None
    async for item in OfflineDemoModel().stream(messages, tools=tools if tools else None):
        if isinstance(item, TextDelta):
            pieces.append(item.text)
        elif isinstance(item, ToolCall):
            calls.append((item.id, item.name, item.arguments))
        elif isinstance(item, Usage):
            usage = (item.input_tokens, item.output_tokens)
    if calls:
        return tool_calls_reply(calls, usage=usage)
    return text_reply(pieces, usage=usage)


def offline_model_app() -> ChatCompletions:
    """The offline demo model as an OpenAI-compatible endpoint (any key, any model name)."""
    return ChatCompletions(offline_answer)
