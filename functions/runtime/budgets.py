"""What one turn may spend, and the platform's deadline: a turn that reaches either ends cleanly.

Every turn of the query function, whatever its framework or protocol, is bounded by

==========================  ===================================================  =========
setting                     what is counted                                      default
==========================  ===================================================  =========
``TURN_MAX_SECONDS``        wall-clock seconds since the turn started            900
``TURN_MAX_MODEL_CALLS``    model calls (``calls.model_call``)                   100
``TURN_MAX_TOOL_CALLS``     tool runs (``calls.tool_call``)                      200
``TURN_MAX_OUTPUT_TOKENS``  output tokens the model calls reported, summed       200000
``TURN_MAX_OUTPUT_CHARS``   characters of text the turn's messages stream        33554432
==========================  ===================================================  =========

A call that would go past a count is refused before it is made (the model or the tool is
never called): the turn ends ``incomplete`` with ``error {code: "budget_exceeded", message}``,
the message naming the setting. The token budget refuses the next call once the calls
made have reported that many tokens (a provider reports them at a call's end). Time is
a timer: the turn is stopped where it stands. Either way the turn ends as a stop does
(``Turn.stop``): its output so far persisted, an unfinished message kept ``incomplete``,
the session's lease released, the final event sent. Output is counted as the agent makes it
(``Turn``), not as a client reads it, so a turn whose reader falls behind, or whose agent
never stops talking, holds at most that much text in the instance and in its session.

The platform's deadline (``deadlines.py``: Lambda's time left, FC's ``FUNCTION_TIMEOUT_S``)
ends a turn the same way ``TURN_DEADLINE_MARGIN_S`` before it (at most half the time left),
with ``error.code`` ``deadline_exceeded``, so the instance is never killed mid-turn.

Counts come from the turn's call hooks (``calls.py``): the runtime's model clients and
toolkit report there, and so does the agentscope adapter for agentscope's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .deadlines import current_deadline
from .protocol import Error, RunStatus

if TYPE_CHECKING:
    from .calls import ModelCall, ToolExecution
    from .protocol import Response
    from .settings import Settings
    from .turn import Turn

log = logging.getLogger("agentscope_faas.query")

BUDGET_EXCEEDED = "budget_exceeded"
DEADLINE_EXCEEDED = "deadline_exceeded"


class BudgetExceeded(asyncio.CancelledError):
    """Raised in the agent's task when a budget refuses one of its calls.

    The turn is stopped first (``incomplete``, ``budget_exceeded``); this unwinds the agent
    the way a stop's cancellation does, so no ``except Exception`` in an agent turns it
    into a failure of its own.
    """


def budget_error(setting: str, limit: float, unit: str) -> Error:
    """The error a turn ends with when ``setting`` (``limit`` ``unit``) is reached."""
    shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
    return Error(
        code=BUDGET_EXCEEDED,
        message=f"{setting}: the turn reached its budget of {shown} {unit}; "
        "what it produced is kept and the session can continue",
    )


def output_budget_error(limit: int) -> Error:
    """The error of a turn whose messages reached ``TURN_MAX_OUTPUT_CHARS``."""
    return budget_error("TURN_MAX_OUTPUT_CHARS", limit, "characters of output")


def exceeded_budget(error: Error | None) -> str | None:
    """The setting a ``budget_exceeded`` error names (``TURN_MAX_OUTPUT_TOKENS``...), or None."""
    if error is None or error.code != BUDGET_EXCEEDED:
        return None
    setting, colon, _ = error.message.partition(":")
    return setting if colon and setting.startswith("TURN_MAX_") else None


def deadline_error(left_s: float) -> Error:
    return Error(
        code=DEADLINE_EXCEEDED,
        message=f"the function's time limit was {left_s:.1f} s away (Lambda's time left, or "
        "FUNCTION_TIMEOUT_S on FC): the turn was ended before the platform stops the "
        "instance; what it produced is kept and the session can continue",
    )


class _Limits:
    """One turn's watcher (a ``calls.CallWatcher``) and its timers."""

    def __init__(self, turn: Turn, settings: Settings) -> None:
        self.turn = turn
        self.settings = settings
        self.timers: list[asyncio.TimerHandle] = []

    def bound(self) -> None:
        pass

    def _refuse(self, error: Error) -> None:
        log.info("turn of session %s ends: %s", self.turn.session_id, error.message)
        self.turn.stop(RunStatus.Incomplete, error)
        raise BudgetExceeded(error.message)

    def _check(self, *, model: bool = False, tool: bool = False) -> None:
        calls, settings = self.turn.calls, self.settings
        if model and calls.model_calls >= settings.turn_max_model_calls:
            self._refuse(
                budget_error("TURN_MAX_MODEL_CALLS", settings.turn_max_model_calls, "model calls")
            )
        if tool and calls.tool_calls >= settings.turn_max_tool_calls:
            self._refuse(
                budget_error("TURN_MAX_TOOL_CALLS", settings.turn_max_tool_calls, "tool calls")
            )
        if calls.output_tokens >= settings.turn_max_output_tokens:
            # spent: neither another model call nor a tool run whose result needs one
            limit = settings.turn_max_output_tokens
            self._refuse(budget_error("TURN_MAX_OUTPUT_TOKENS", limit, "output tokens"))

    @contextlib.contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        self._check(model=True)
        yield

    @contextlib.contextmanager
    def tool_call(self, run: ToolExecution) -> Iterator[None]:
        self._check(tool=True)
        yield

    def start_timers(self) -> None:
        loop = asyncio.get_running_loop()
        seconds = self.settings.turn_max_seconds
        # the errors are made when a timer fires: nearly every turn ends before
        self.timers.append(loop.call_later(seconds, self._out_of_time, seconds))
        deadline = current_deadline()
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            margin = min(self.settings.turn_deadline_margin_s, left / 2)
            if left - margin < seconds:
                timer = loop.call_later(left - margin, self._near_deadline, margin)
                self.timers.append(timer)

    def _out_of_time(self, seconds: float) -> None:
        self._stop(budget_error("TURN_MAX_SECONDS", seconds, "seconds"))

    def _near_deadline(self, margin: float) -> None:
        self._stop(deadline_error(margin))

    def _stop(self, error: Error) -> None:
        if self.turn.final is None:
            log.info("turn of session %s ends: %s", self.turn.session_id, error.message)
        self.turn.stop(RunStatus.Incomplete, error)

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class TurnBudgets:
    """The turn observer (``turn.TurnObserver``) that bounds every turn of an instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        most = settings.turn_max_output_chars
        # made once: a turn that reaches the cap ends with a copy of it (``Turn._produce``)
        self.output_cap = (most, output_budget_error(most))

    def started(self, turn: Turn) -> None:
        limits = _Limits(turn, self.settings)
        # first: a refused call is never shown to the other watchers (no span for it)
        turn.calls.watchers.insert(0, limits)
        limits.start_timers()
        turn.output_cap = self.output_cap

    def event(self, turn: Turn, event: Any) -> None:
        pass

    def finished(self, turn: Turn, final: Response | None) -> None:
        for watcher in turn.calls.watchers:
            if isinstance(watcher, _Limits):
                watcher.cancel_timers()
