"""A chat model behind any OpenAI-compatible endpoint: OpenAI, DashScope, vLLM, Ollama, ...

Built on the official ``openai`` package, imported on first use only: the SDK costs a
noticeable slice of a cold start, and a function answering ``/health`` or using the offline
model should never pay for it.

The stream is normalised here so the agent sees one behaviour whatever the provider:
empty ``choices`` in the usage chunk, ``content: ""`` keep-alive deltas, tool-call ids and
names only in the first fragment (DashScope repeats ``id: ""`` afterwards), parallel calls
interleaved by ``index``, ``finish_reason: "stop"`` even though tools were called, and
reasoning as ``reasoning_content`` (DashScope, DeepSeek, vLLM) or ``reasoning`` (Ollama,
newer vLLM).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..calls import ModelCall, model_call
from .base import (
    GENERATION_PARAMS,
    ChatModel,
    ModelError,
    ReasoningDelta,
    StreamItem,
    TextDelta,
    ToolCall,
    Usage,
    generation_kwargs,
)

_MAX_DETAIL_CHARS = 400
# Key-shaped tokens some providers echo back in error messages ("Incorrect API key
# provided: sk-abc..."): masked or not, they have no place in a user-facing message.
_KEYLIKE = re.compile(r"\b(?:sk|ak|key)-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+", re.IGNORECASE)
# a word of an error text that shares this many characters in a row with the API key is
# taken for a piece of it (a masked echo such as "MODELK...4321" keeps six)
_FRAGMENT = 6


def _random_looking(key: str) -> bool:
    """A key made to be secret: long, letters and digits mixed (a placeholder is neither)."""
    return len(key) >= 16 and any(c.isdigit() for c in key) and any(c.isalpha() for c in key)


_WORD = re.compile(rf"[A-Za-z0-9_\-.+/=]{{{_FRAGMENT},}}")


def _import_openai() -> Any:
    import openai

    return openai


@dataclass
class _PendingCall:
    index: int
    order: int
    id: str = ""
    name: str = ""
    # fragments, joined once the call is complete (``str +=`` per fragment is quadratic)
    arguments: list[str] = field(default_factory=list)


class _ToolCallAssembler:
    """Joins streamed tool-call fragments into complete calls.

    Fragments are keyed by ``index``. A fragment that reuses an index but brings a new id
    *and* a name starts a new call, since some servers number every parallel call 0; a new
    id without a name is taken as a continuation, since others re-stamp every fragment.
    """

    def __init__(self) -> None:
        self._calls: list[_PendingCall] = []
        self._by_index: dict[int, _PendingCall] = {}

    def add(self, fragment: Any) -> None:
        index = getattr(fragment, "index", None)
        frag_id = getattr(fragment, "id", None) or ""
        function = getattr(fragment, "function", None)
        name = (getattr(function, "name", None) or "") if function is not None else ""
        arguments = (getattr(function, "arguments", None) or "") if function is not None else ""

        if index is None:
            index = self._index_without_index(frag_id)
        call = self._by_index.get(index)
        if call is None or (name and frag_id and call.id and frag_id != call.id):
            call = _PendingCall(index=index, order=len(self._calls))
            self._calls.append(call)
            self._by_index[index] = call
        if frag_id and not call.id:
            call.id = frag_id
        if name and not call.name:
            call.name = name
        call.arguments.append(arguments)

    def _index_without_index(self, frag_id: str) -> int:
        """Servers that omit ``index`` send one call at a time: a fragment belongs to the call
        with its id, or to the latest call when it has none; a new id opens a new call."""
        if frag_id:
            for call in self._calls:
                if call.id == frag_id:
                    return call.index
        elif self._calls:
            return self._calls[-1].index
        return max((c.index for c in self._calls), default=-1) + 1

    def flush(self) -> list[ToolCall]:
        """Complete calls in index order; calls without a name are dropped as unusable."""
        calls = sorted(self._calls, key=lambda c: (c.index, c.order))
        self._calls, self._by_index = [], {}
        return [
            ToolCall(
                id=c.id or f"call_{uuid.uuid4().hex[:24]}",
                name=c.name,
                arguments="".join(c.arguments) or "{}",
            )
            for c in calls
            if c.name
        ]


_SDK_PREFIX = re.compile(r"^Error code: \d+ - ")


def _bearer_of(exc: Any) -> str | None:
    """The key the failed request was sent with (its ``Authorization: Bearer``): what an
    agent framework's own model client used, which the runtime is not told."""
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None)
    auth = headers.get("authorization", "") if headers is not None else ""
    scheme, _, key = str(auth).partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def _redact(text: str, secret: str | None) -> str:
    """A provider's error text as ours may carry it: without the key in any form a provider
    may repeat it in (whole; and for a random-looking key, without its ``sk-``, cut or
    masked around a fragment: every word sharing :data:`_FRAGMENT` characters in a row with
    it), nor anything key-like. A placeholder key of a local server (``ollama``,
    ``sk-no-key-required``) shares words with its errors: only its whole is masked."""
    text = _SDK_PREFIX.sub("", text)
    if secret and len(secret) >= _FRAGMENT + 2:  # "ollama" is a word, not a secret
        text = text.replace(secret, "***")
    if secret and _random_looking(secret):
        pieces = {secret[i : i + _FRAGMENT] for i in range(len(secret) - _FRAGMENT + 1)}

        def masked(word: re.Match[str]) -> str:
            w = word.group(0)
            if any(w[i : i + _FRAGMENT] in pieces for i in range(len(w) - _FRAGMENT + 1)):
                return "***"
            return w

        text = _WORD.sub(masked, text)
    text = _KEYLIKE.sub("***", text)
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "..."
    return text


def _safe_url(url: str) -> str:
    """The base URL without any ``user:password@`` part, for error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _mentions_stream_options(exc: Any) -> bool:
    if getattr(exc, "param", None) == "stream_options":
        return True
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}"
    return "stream_options" in text or "include_usage" in text


def _record_chunk(call: ModelCall, chunk: Any) -> None:
    """What a raw chunk tells the turn's watchers: its arrival, ids, finish reasons."""
    call.chunk()
    call.response_id = call.response_id or getattr(chunk, "id", None)
    call.response_model = call.response_model or getattr(chunk, "model", None)
    for choice in getattr(chunk, "choices", None) or ():
        reason = getattr(choice, "finish_reason", None)
        if reason and getattr(choice, "index", 0) in (0, None):
            call.finish_reasons.append(str(reason))


def _record_item(call: ModelCall, item: StreamItem) -> None:
    if isinstance(item, Usage):
        call.input_tokens, call.output_tokens = item.input_tokens, item.output_tokens
    elif call.capture and isinstance(item, TextDelta):
        call.output_text += item.text
    elif call.capture and isinstance(item, ToolCall):
        call.output_tool_calls.append(item.to_openai())


class OpenAICompatModel(ChatModel):
    """Streams chat completions from an OpenAI-compatible ``base_url`` (ending in ``/v1``).

    ``max_retries`` is the SDK's own retry of connection errors, 408/409/429 and 5xx before
    any byte is streamed; once the reply has started nothing is retried, since the caller
    has already forwarded part of it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float = 120.0,
        *,
        max_retries: int = 2,
        name: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.name = name or model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._api_key = api_key
        # Flipped off for good after a server refuses the field, so later turns do not pay
        # for a failed request each time.
        self._send_stream_options = True
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatModel(base_url={_safe_url(self.base_url)!r}, model={self.model!r})"

    def _get_client(self, openai: Any) -> Any:
        # The SDK's connection pool belongs to the event loop that opened it; a warm function
        # instance or a test suite may run successive requests on new loops.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            await client.close()

    def _request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, params: Any
    ) -> dict[str, Any]:
        params = generation_kwargs(params)
        known = {k: params.pop(k) for k in GENERATION_PARAMS if k in params}
        request: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if tools:
            request["tools"] = tools
        request.update(known)
        if params:
            # Unknown to the SDK's signature but meaningful to some provider.
            request["extra_body"] = params
        if self._send_stream_options:
            request["stream_options"] = {"include_usage": True}
        return request

    async def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamItem]:
        """Stream one turn; see ``ChatModel.stream`` for the order of items.

        The call is reported to the turn's watchers (``calls.model_call``: tracing, budgets),
        and the headers they give (the W3C ``traceparent``) go with the request.
        """
        sent = {k: v for k, v in params.items() if k in GENERATION_PARAMS and v is not None}
        server = _safe_url(self.base_url)
        with model_call(self.model, server=server, params=sent, messages=messages) as call:
            items = self._stream(messages, tools, params, call)
            try:
                async for item in items:
                    if call is not None:
                        _record_item(call, item)
                    yield item
            finally:
                await items.aclose()

    async def _stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        params: dict[str, Any],
        call: ModelCall | None,
    ) -> AsyncGenerator[StreamItem, None]:
        openai = _import_openai()
        client = self._get_client(openai)
        request = self._request(messages, tools, params)
        if call is not None and call.headers:
            request["extra_headers"] = call.headers
        try:
            try:
                chunks = await client.chat.completions.create(**request)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if "stream_options" not in request or not _mentions_stream_options(exc):
                    raise
                self._send_stream_options = False
                request.pop("stream_options")
                chunks = await client.chat.completions.create(**request)
            items = self._items(chunks, call)
            try:
                async for item in items:
                    yield item
            finally:  # also when the caller stops early: free the connection right away
                await items.aclose()
                await chunks.close()
        except openai.APIError as exc:
            raise self._model_error(openai, exc) from None
        except json.JSONDecodeError:
            raise ModelError(
                "model_error", f"model {self.model!r} sent a malformed event stream"
            ) from None

    async def _items(
        self, chunks: Any, report: ModelCall | None
    ) -> AsyncGenerator[StreamItem, None]:
        assembler = _ToolCallAssembler()
        usage: Any = None
        async for chunk in chunks:
            if report is not None:
                _record_chunk(report, chunk)
            usage = getattr(chunk, "usage", None) or usage
            for choice in getattr(chunk, "choices", None) or ():
                if getattr(choice, "index", 0) not in (0, None):
                    continue  # we never ask for n > 1
                delta = getattr(choice, "delta", None)
                if delta is not None:
                    reasoning = getattr(delta, "reasoning_content", None) or getattr(
                        delta, "reasoning", None
                    )
                    if isinstance(reasoning, str) and reasoning:
                        yield ReasoningDelta(reasoning)
                    content = getattr(delta, "content", None)
                    if isinstance(content, str) and content:
                        yield TextDelta(content)
                    for fragment in getattr(delta, "tool_calls", None) or ():
                        assembler.add(fragment)
                if getattr(choice, "finish_reason", None):
                    for call in assembler.flush():
                        yield call
        for call in assembler.flush():  # streams that end without a finish_reason
            yield call
        if usage is not None:
            yield Usage(
                input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            )

    def _model_error(self, openai: Any, exc: Any) -> ModelError:
        where = f"model {self.model!r} at {_safe_url(self.base_url)}"
        return model_error(openai, exc, where, api_key=self._api_key, timeout_s=self.timeout_s)


def model_error(
    openai: Any, exc: Any, where: str, *, api_key: str | None = None, timeout_s: float | None = None
) -> ModelError:
    """An ``openai`` SDK exception as a ``ModelError`` (codes in ``ModelError``'s docstring).

    ``where`` names the model for the message; the key (and anything key-like) is masked.
    Also used for errors the SDK raises inside agent frameworks (agentscope).
    """
    if isinstance(exc, openai.APITimeoutError):
        limit = f"within the {timeout_s}s timeout" if timeout_s is not None else "in time"
        return ModelError("model_timeout", f"{where} did not respond {limit}")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        reason = f": {type(cause).__name__}" if cause is not None else ""
        return ModelError("model_unavailable", f"cannot reach {where}{reason}")
    detail = _redact(str(getattr(exc, "message", "") or exc), api_key or _bearer_of(exc))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            # The provider's text often quotes the key (masked or not); say nothing of it.
            return ModelError(
                "model_auth_error",
                f"{where} rejected the API key (HTTP {status}); check MODEL_API_KEY",
                status=status,
            )
        if status == 408:
            return ModelError("model_timeout", f"{where} timed out: {detail}", status=status)
        if status == 429:
            return ModelError(
                "model_rate_limited", f"{where} is rate limited: {detail}", status=status
            )
        if 400 <= status < 500:
            return ModelError(
                "model_bad_request", f"{where} refused the request: {detail}", status=status
            )
        return ModelError(
            "model_unavailable", f"{where} failed (HTTP {status}): {detail}", status=status
        )
    return ModelError("model_error", f"{where} reported an error mid-stream: {detail}")
