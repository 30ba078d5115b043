"""Step lines of long jobs (local_emulator/progress.py): plain in logs, nothing when quiet,
a live bar (rich) on a terminal with the same end lines above it."""

from __future__ import annotations

import io
import re
import threading

import pytest

from local_emulator.progress import Steps


def test_plain_lines_number_each_step_and_give_its_time_and_note():
    out = io.StringIO()
    with Steps(2, stream=out) as steps:
        with steps.step("building the base image") as step:
            step.done("1.2 MB")
        with steps.step("zipping query"):
            pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] building the base image ..."
    assert re.fullmatch(r"\[1/2\] building the base image: 1\.2 MB, done in \d+\.\d s", lines[1])
    assert lines[2] == "[2/2] zipping query ..."
    assert re.fullmatch(r"\[2/2\] zipping query: done in \d+\.\d s", lines[3])
    assert len(lines) == 4


def test_a_failing_step_says_so_and_the_error_goes_on():
    out = io.StringIO()
    steps = Steps(1, stream=out)
    with pytest.raises(RuntimeError), steps.step("building the gui image"):
        raise RuntimeError("docker build failed")
    assert re.fullmatch(
        r"\[1/1\] building the gui image: failed after \d+\.\d s", out.getvalue().splitlines()[1]
    )


def test_quiet_prints_nothing():
    out = io.StringIO()
    with Steps(1, stream=out, quiet=True) as steps, steps.step("building"):
        steps.echo("Step 1/4 : FROM debian")
    assert out.getvalue() == ""


def test_parallel_steps_get_distinct_numbers():
    out = io.StringIO()
    steps = Steps(8, stream=out)

    def one(i: int) -> None:
        with steps.step(f"zip {i}"):
            pass

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = re.findall(r"^\[(\d)/8\] zip \d \.\.\.$", out.getvalue(), re.M)
    numbers = sorted(int(n) for n in started)
    assert numbers == list(range(1, 9))


def test_a_terminal_gets_the_live_bar_and_keeps_the_end_lines():
    out = io.StringIO()
    with Steps(2, stream=out, live=True, title="sandbox images") as steps:
        assert steps._bar is not None  # rich is installed with the cli extra
        with steps.step("building the base image"):
            steps.echo("Step 1/4 : FROM debian")
    text = out.getvalue()
    assert "Step 1/4 : FROM debian" in text
    assert re.search(r"\[1/2\] building the base image: done in \d+\.\d s", text)
