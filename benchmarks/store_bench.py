"""State and session-history costs on the file and S3 (moto server on 127.0.0.1) backends.

For each backend: p50/p99 latency of ``save_state`` and ``export_state`` on one session,
and the number of store requests and the time to load a session after 10, 100 and 1,000
turns (a turn = one append of the user and assistant messages), counted by wrapping the
store in ``CountingStore``.

Budgets: file backend save p50 + export p50 <= 2 ms; loading a 1,000-turn session costs
<= 10 store requests (every backend). Request counts are the portable figure; moto's
latencies say little about real S3 and are printed for scale only.

Run: .venv/bin/python benchmarks/store_bench.py [--state-ops 300] [--time-limit 120]
Writes benchmarks/results/store_bench.txt as well as printing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from support import publish

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.runtime.services import (  # noqa: E402
    CountingStore,
    SessionHistoryService,
    StateService,
)
from functions.runtime.settings import Settings  # noqa: E402
from functions.runtime.storage import open_store  # noqa: E402

TURN_STEPS = (10, 100, 1000)
LOAD_SAMPLES = 5
FILE_SAVE_EXPORT_P50_BUDGET_MS = 2.0
LOAD_1000_REQUESTS_BUDGET = 10


class Deadline:
    """Keeps the run bounded: loops stop early (and say so) once the time is spent."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.hit = False

    def over(self) -> bool:
        if time.monotonic() > self.end:
            self.hit = True
        return self.hit


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def turn(i: int) -> list[dict[str, Any]]:
    def message(role: str, text: str) -> dict[str, Any]:
        return {
            "id": f"msg_{role}_{i}",
            "type": "message",
            "role": role,
            "status": "completed",
            "content": [{"type": "text", "text": text}],
        }

    return [
        message("user", f"question {i}: what should I do about item {i}?"),
        message("assistant", f"answer {i}: " + "a reasonably sized reply, " * 6),
    ]


async def timed(samples: list[float], op: Callable[[], Awaitable[Any]]) -> Any:
    t = time.perf_counter()
    out = await op()
    samples.append((time.perf_counter() - t) * 1000)
    return out


async def bench_backend(name: str, settings: Settings, ops: int, deadline: Deadline) -> dict:
    store = CountingStore(open_store(settings.store_url, settings))
    result: dict[str, Any] = {"backend": name}
    try:
        state = StateService(store)
        saves: list[float] = []
        exports: list[float] = []
        for i in range(3):  # warm the client / page cache
            await state.save_state("bench", {"warm": i}, "warm")
            await state.export_state("bench", "warm")
        for i in range(ops):
            if deadline.over():
                break
            body = {"step": i, "notes": ["x" * 40] * 5}
            await timed(saves, lambda body=body: state.save_state("bench", body, "state"))
            await timed(exports, lambda: state.export_state("bench", "state"))
        result["state_ops"] = len(saves)
        store.reset()
        await state.save_state("bench", {"count": 1}, "state")
        result["save_requests"] = store.total
        store.reset()
        await state.export_state("bench", "state")
        result["export_requests"] = store.total
        for label, samples in (("save", saves), ("export", exports)):
            result[f"{label}_p50"] = pct(samples, 0.5)
            result[f"{label}_p99"] = pct(samples, 0.99)

        history = SessionHistoryService(store)
        session = await history.create_session("bench", "history")
        done = 0
        loads: dict[int, dict[str, Any]] = {}
        for target in TURN_STEPS:
            while done < target and not deadline.over():
                await history.append_message(session, turn(done))
                done += 1
            if done < target:
                break
            times: list[float] = []
            for _ in range(LOAD_SAMPLES):
                store.reset()
                loaded = await timed(times, lambda: history.get_session("bench", "history"))
                requests = store.total
                assert loaded is not None and len(loaded.messages) == 2 * target
            loads[target] = {"requests": requests, "ms": statistics.median(times)}
        if 1000 in loads:
            # the tail left uncompacted varies with the turn count: take the worst of 8
            worst = loads[1000]["requests"]
            for _ in range(1, history.compact_after):
                await history.append_message(session, turn(done))
                done += 1
                store.reset()
                await history.get_session("bench", "history")
                worst = max(worst, store.total)
            loads[1000]["worst"] = worst
        result["loads"] = loads
        store.reset()
        assert await history.get_session("bench", "missing") is None
        result["missing_requests"] = store.total
    finally:
        await store.close()
    return result


def report(results: list[dict[str, Any]], deadline: Deadline) -> tuple[str, bool]:
    lines = ["store_bench: state save/export latency, session load cost", ""]
    ok = True
    for r in results:
        lines.append(f"[{r['backend']}]  ({r['state_ops']} save+export pairs)")
        for label in ("save", "export"):
            lines.append(
                f"  {label}_state   p50 {r[f'{label}_p50']:7.3f} ms   "
                f"p99 {r[f'{label}_p99']:7.3f} ms   {r[f'{label}_requests']} requests"
            )
        for turns, load in r["loads"].items():
            worst = (
                f"; worst over {turns}..{turns + 7} turns: {load['worst']}"
                if "worst" in load
                else ""
            )
            lines.append(
                f"  load {turns:>4}-turn session: {load['requests']:>2} requests, "
                f"{load['ms']:8.3f} ms (median of {LOAD_SAMPLES}){worst}"
            )
        lines.append(f"  load of a missing session: {r['missing_requests']} request(s)")
        budgets = []
        if r["backend"] == "file":
            total = r["save_p50"] + r["export_p50"]
            limit = FILE_SAVE_EXPORT_P50_BUDGET_MS
            budgets.append(
                (f"save p50 + export p50 = {total:.3f} ms <= {limit} ms", total <= limit)
            )
        worst = r["loads"].get(1000, {}).get("worst")
        budgets.append(
            (
                f"1000-turn load = {worst if worst is not None else 'n/a'} requests (worst) "
                f"<= {LOAD_1000_REQUESTS_BUDGET}",
                worst is not None and worst <= LOAD_1000_REQUESTS_BUDGET,
            )
        )
        for text, passed in budgets:
            ok &= passed
            lines.append(f"  {'PASS' if passed else 'FAIL'}  {text}")
        lines.append("")
    if deadline.hit:
        lines.append("NOTE: the time limit cut the run short; figures cover what ran.")
    lines.append(f"overall: {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines), ok


async def run(args: argparse.Namespace) -> tuple[str, bool]:
    deadline = Deadline(args.time_limit)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        file_settings = Settings(store_url=f"file://{tmp}/store")
        results.append(await bench_backend("file", file_settings, args.state_ops, deadline))

    import boto3

    from local_emulator.moto_s3 import start_moto_s3

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with start_moto_s3() as server:
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(
            Bucket="bench"
        )
        s3_settings = Settings(
            store_url="s3://bench/store", s3_endpoint_url=server.url, s3_region="us-east-1"
        )
        ops = max(1, args.state_ops // 3)
        results.append(await bench_backend("s3 (moto server)", s3_settings, ops, deadline))
    return report(results, deadline)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-ops", type=int, default=300)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds, whole run")
    args = parser.parse_args()
    text, ok = asyncio.run(run(args))
    publish("store_bench", text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
