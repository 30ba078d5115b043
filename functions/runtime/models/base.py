"""The one streaming interface every chat model client offers the agent.

Agents only ever stream: the query function turns each item into protocol events as it
arrives, so a client that buffered whole replies would add the model's full latency to the
time to first byte. Items are plain dataclasses so adapters can pattern-match on them without
importing any provider SDK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

# Generation parameters forwarded to the provider under their OpenAI names. They are the
# ones AgentRequest carries; anything else a caller passes goes through as-is so
# provider-specific switches (DashScope's ``enable_thinking``, vLLM's ``top_k``) still work.
GENERATION_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's visible text."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (``reasoning_content``), kept apart from the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call; ``arguments`` is the JSON text exactly as the model wrote it.

    Yielded only once the model has finished the call, because a half-streamed argument
    string is not JSON and nothing useful can be done with it.
    """

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict[str, Any]:
        """The entry for an assistant message's ``tool_calls``, so the next turn can cite it."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the provider billed for this call (0 when it did not say)."""

    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


StreamItem = TextDelta | ReasoningDelta | ToolCall | Usage


class ModelError(Exception):
    """A model call failed in a way the caller can report as ``{code, message}``.

    ``code`` is one of: ``model_auth_error`` (key missing/rejected), ``model_bad_request``
    (the provider refused the request: unknown model, bad messages), ``model_rate_limited``,
    ``model_unavailable`` (cannot connect, 5xx), ``model_timeout``, ``model_error`` (the
    provider failed mid-stream or sent something unreadable). The message is meant to be
    shown to end users, so it never carries the API key.
    """

    CODES: ClassVar[frozenset[str]] = frozenset(
        {
            "model_auth_error",
            "model_bad_request",
            "model_rate_limited",
            "model_unavailable",
            "model_timeout",
            "model_error",
        }
    )

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"ModelError(code={self.code!r}, message={self.message!r}, status={self.status!r})"


def generation_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values: a request that says ``temperature: null`` means "provider default",
    and several providers reject an explicit null instead of ignoring it."""
    return {key: value for key, value in params.items() if value is not None}


class ChatModel(ABC):
    """A chat model the agent can stream from.

    ``messages`` are OpenAI chat-format dicts (system / user / assistant with ``tool_calls`` /
    tool with ``tool_call_id``), ``tools`` are OpenAI function tools, and ``params`` are
    generation parameters (see ``GENERATION_PARAMS``; ``None`` values are dropped).

    The stream yields text and reasoning deltas as they arrive, then each complete
    ``ToolCall`` in call order, then at most one ``Usage``. Failures raise ``ModelError``.
    """

    name: str

    @abstractmethod
    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamItem]:
        """Stream one assistant turn."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most models hold nothing
        """Release connections; a no-op for models that hold none."""
