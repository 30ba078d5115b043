"""What a long job is doing and how far it is: step lines, and a live bar on a terminal.

``Steps(total)`` numbers the steps of a job (building sandbox images, packaging zips):

* in a log (CI, a pipe, a file): plain lines on stderr, one when a step starts and one when
  it ends with its time, readable as they are::

      [2/4] building the filesystem image agentscope/runtime-sandbox-filesystem:latest ...
      [2/4] built the filesystem image in 41.2 s

* on a terminal: the same end lines, above a live bar (rich's) that shows the overall
  count and each running step with its elapsed time;
* quiet: nothing (the job still says what failed).

Steps may run in parallel threads (packaging builds zips at once); each has its number.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO


class Step:
    """A running step: ``done(note)`` says what the end line reports besides the time."""

    def __init__(self, number: int, what: str) -> None:
        self.number = number
        self.what = what
        self.note = ""
        self.started = time.monotonic()

    def done(self, note: str) -> None:
        self.note = note


class Steps:
    """Numbered steps of one job; ``with steps.step("building x") as s: ...``."""

    def __init__(
        self,
        total: int,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        live: bool | None = None,
        title: str = "steps",
    ) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.count = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        if not quiet and (self.stream.isatty() if live is None else live):
            with contextlib.suppress(ImportError):  # without rich: the plain lines
                self._bar = _LiveBar(total, self.stream, title)

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def echo(self, text: str) -> None:
        """A line of a step's own output (a build log), kept clear of the bar."""
        self._line(text.rstrip("\n"))

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[Step]:
        with self._lock:
            self.count += 1
            step = Step(self.count, what)
        prefix = f"[{step.number}/{self.total}]"
        if self._bar is not None:
            task = self._bar.start(f"{prefix} {what}")
        else:
            self._line(f"{prefix} {what} ...")
        try:
            yield step
        except BaseException:
            self._line(f"{prefix} {what}: failed after {_seconds(step)}")
            if self._bar is not None:
                self._bar.finish(task)
            raise
        note = f"{step.note}, " if step.note else ""
        self._line(f"{prefix} {what}: {note}done in {_seconds(step)}")
        if self._bar is not None:
            self._bar.finish(task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seconds(step: Step) -> str:
    return f"{time.monotonic() - step.started:.1f} s"


class _LiveBar:
    """rich's live progress display: the job's bar, a spinner and a clock per running step."""

    def __init__(self, total: int, stream: TextIO, title: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Overall(ProgressColumn):
            """``column`` for the job's own row only (a step has no total)."""

            def __init__(self, column: ProgressColumn) -> None:
                super().__init__()
                self.column = column

            def render(self, task: Any) -> Any:
                return self.column.render(task) if task.total is not None else Text("")

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            Overall(BarColumn()),
            Overall(MofNCompleteColumn()),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self.overall = self.progress.add_task(title, total=total)
        self.progress.start()

    def print(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def start(self, description: str) -> Any:
        return self.progress.add_task(description, total=None)

    def finish(self, task: Any) -> None:
        self.progress.remove_task(task)
        self.progress.advance(self.overall)

    def stop(self) -> None:
        self.progress.stop()
