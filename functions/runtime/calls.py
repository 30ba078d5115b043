"""The model and tool calls of one turn: counted, and shown to whoever watches the turn.

A :class:`~.turn.Turn` owns one :class:`TurnCalls` and binds it to the task its agent runs
in. Model clients wrap each call in ``with model_call(...) as call:`` and toolkits each tool
run in ``with tool_call(...) as run:``. Outside a turn (a script, a unit test) both are
``nullcontext()`` and yield None: one context-variable read, nothing else.

Inside a turn every call is counted on the turn (``model_calls``, ``tool_calls``,
``input_tokens``, ``output_tokens``: the request log prints them) and shown to the turn's
watchers (:class:`CallWatcher`), each of which gets a context manager around the call:

* tracing (``tracing/genai.py``) opens a ``chat`` / ``execute_tool`` span in it and puts
  the span's W3C ``traceparent`` in ``call.headers``, which the model client sends;
* a turn budget can raise in ``__enter__`` to refuse a call before it is made (the model
  or the tool is then never called, and not counted), and read the running totals on
  ``TurnCalls``: in ``__enter__`` they count the calls made before this one; after the
  call (``__exit__``) its tokens are in them too.

A watcher is added per turn by a :class:`~.turn.TurnObserver` in its ``started(turn)``:
``turn.calls.watchers.append(...)``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

# the calls of the turn whose agent is running in this task (set by TurnCalls.bind)
CURRENT: ContextVar[TurnCalls | None] = ContextVar("turn_calls", default=None)


@dataclass(eq=False)
class ModelCall:
    """One streamed model call, filled in by the model client while it runs.

    ``params`` are the generation parameters sent (OpenAI names: temperature, top_p,
    max_tokens, stop, seed, ...); ``messages`` the chat messages sent (read only by a
    watcher that captures content). Times are ``time.perf_counter_ns()``.
    """

    model: str
    provider: str = "openai"  # gen_ai.provider.name
    server: str | None = None  # the endpoint's URL, without credentials
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with the request
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    output_text: str = ""  # kept only while ``capture`` is set
    output_tool_calls: list[dict[str, Any]] = field(default_factory=list)  # likewise
    capture: bool = False  # a watcher wants the output's content
    started_ns: int = field(default_factory=time.perf_counter_ns)
    first_chunk_ns: int | None = None

    def chunk(self) -> None:
        """Mark a chunk's arrival (the first one sets the time to first chunk)."""
        if self.first_chunk_ns is None:
            self.first_chunk_ns = time.perf_counter_ns()

    @property
    def time_to_first_chunk_s(self) -> float | None:
        if self.first_chunk_ns is None:
            return None
        return (self.first_chunk_ns - self.started_ns) / 1e9


@dataclass(eq=False)
class ToolExecution:
    """One tool run: what the model asked for and what the tool answered (text)."""

    name: str
    arguments: str
    call_id: str | None = None
    description: str | None = None
    result: str | None = None
    is_error: bool = False
    # False: reported from a framework's events while the tool runs elsewhere (another
    # task, or already done): a watcher must not make anything current in this task
    in_task: bool = True


class CallWatcher(Protocol):
    """Sees each call of a turn as a context manager around it (tracing, budgets)."""

    def model_call(self, call: ModelCall) -> contextlib.AbstractContextManager[object]: ...

    def tool_call(self, run: ToolExecution) -> contextlib.AbstractContextManager[object]: ...

    def bound(self) -> None:
        """Called in the agent's task when the turn starts running there."""


class TurnCalls:
    """The calls of one turn: running totals and the watchers every call is shown to."""

    def __init__(self) -> None:
        self.watchers: list[CallWatcher] = []
        self.model_calls = 0
        self.tool_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def bind(self) -> None:
        """Make these the current task's calls (the task the agent runs in)."""
        CURRENT.set(self)
        for watcher in self.watchers:
            watcher.bound()

    @contextlib.contextmanager
    def model_call(self, call: ModelCall) -> Iterator[ModelCall]:
        with contextlib.ExitStack() as stack:
            for watcher in self.watchers:  # any may refuse: then the call is not made
                stack.enter_context(watcher.model_call(call))
            self.model_calls += 1
            try:
                yield call
            finally:
                self.input_tokens += call.input_tokens
                self.output_tokens += call.output_tokens

    @contextlib.contextmanager
    def tool_call(self, run: ToolExecution) -> Iterator[ToolExecution]:
        with contextlib.ExitStack() as stack:
            for watcher in self.watchers:
                stack.enter_context(watcher.tool_call(run))
            self.tool_calls += 1
            yield run


def model_call(model: str, **fields: Any) -> contextlib.AbstractContextManager[ModelCall | None]:
    """``with model_call(model, server=..., params=...) as call:`` around one model call;
    ``call`` is None outside a turn. ``fields`` are :class:`ModelCall`'s."""
    calls = CURRENT.get()
    if calls is None:
        return contextlib.nullcontext()
    return calls.model_call(ModelCall(model, **fields))


def tool_call(
    name: str, arguments: str, **fields: Any
) -> contextlib.AbstractContextManager[ToolExecution | None]:
    """``with tool_call(name, arguments, call_id=...) as run:`` around one tool run; ``run``
    is None outside a turn. Set ``run.result`` / ``run.is_error`` before leaving."""
    calls = CURRENT.get()
    if calls is None:
        return contextlib.nullcontext()
    return calls.tool_call(ToolExecution(name, arguments, **fields))


class ReportedCalls:
    """Calls a framework makes itself, reported to the turn from the events it streams.

    agentscope's agents call their model and tools with their own clients, which never pass
    through :func:`model_call` / :func:`tool_call`; their adapters say when each call
    starts and ends, and this holds the call open in between, so the turn counts it, its
    watchers see it (a budget may refuse it: the exception propagates from ``*_started``)
    and tracing spans it. Outside a turn every method does nothing. :meth:`close` ends
    what is still open (a stream cut off mid-call).
    """

    def __init__(self) -> None:
        self._model: tuple[contextlib.ExitStack, ModelCall] | None = None
        self._tools: dict[str, tuple[contextlib.ExitStack, ToolExecution]] = {}

    def model_started(self, model: str, **fields: Any) -> None:
        self.model_ended()
        stack = contextlib.ExitStack()
        call = stack.enter_context(model_call(model, **fields))
        if call is not None:
            self._model = (stack, call)

    def model_ended(self, input_tokens: int = 0, output_tokens: int = 0) -> None:
        if self._model is None:
            return
        (stack, call), self._model = self._model, None
        call.input_tokens, call.output_tokens = input_tokens, output_tokens
        stack.close()

    def tool_started(self, call_id: str, name: str, arguments: str = "") -> None:
        stack = contextlib.ExitStack()
        run = stack.enter_context(tool_call(name, arguments, call_id=call_id, in_task=False))
        if run is not None:
            self._tools[call_id] = (stack, run)

    def tool_ended(self, call_id: str, result: str | None = None, is_error: bool = False) -> None:
        found = self._tools.pop(call_id, None)
        if found is None:
            return
        stack, run = found
        run.result, run.is_error = result, is_error
        stack.close()

    def close(self) -> None:
        self.model_ended()
        for call_id in list(self._tools):
            self.tool_ended(call_id)
