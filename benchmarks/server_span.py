"""What a server span per request costs, three ways: ours, FastAPI's own, the OTel contrib one.

A one-route FastAPI app is called in-process through its ASGI interface (no sockets, so
the figure is the middleware's CPU and nothing else), N requests each, with spans going
to a BatchSpanProcessor whose exporter drops them (building and ending spans is measured,
not shipping them: that cost is the same whichever makes the span):

* none: no tracing (the floor);
* ours: ``functions.runtime.telemetry.RequestTelemetry`` with a ``Tracing``;
* fastapi native: ``FastAPI(telemetry={...})``, FastAPI's built-in server span (>= 0.160),
  operation spans, metrics and logs off;
* contrib: ``opentelemetry-instrumentation-fastapi`` (pre-release only; measured when it
  is importable, e.g. ``PYTHONPATH=<dir with it>``), send/receive spans excluded.

Run: .venv/bin/python benchmarks/server_span.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

from support import publish

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout


def build(kind: str) -> Any:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    off = {"tracing": False, "metrics": False, "logs": False}
    if kind == "fastapi native":
        telemetry = {
            "tracer_provider": provider,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        }
        app = FastAPI(telemetry=telemetry)  # type: ignore[arg-type]
    else:
        app = FastAPI(telemetry=off)  # type: ignore[arg-type]

    @app.get("/items/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item}

    if kind == "ours":
        from functions.runtime.telemetry import RequestTelemetry
        from functions.runtime.tracing.otel import Tracing

        tracing = Tracing.__new__(Tracing)
        tracing.tracer = provider.get_tracer("bench")
        app.add_middleware(RequestTelemetry, tracer=tracing, log=False)
    elif kind == "contrib":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, exclude_spans=["receive", "send"]
        )
    return app


async def drive(app: Any, requests: int) -> float:
    """CPU seconds per request, best of 3 rounds."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/a",
        "raw_path": b"/items/a",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    rounds = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        rounds.append((time.process_time() - started) / requests)
    return min(rounds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    kinds = ["none", "ours", "fastapi native"]
    if importlib.util.find_spec("opentelemetry.instrumentation") is not None:
        kinds.append("contrib")
    results = {kind: asyncio.run(drive(build(kind), args.requests)) for kind in kinds}
    floor = results["none"]
    lines = [
        f"server span per request, in-process ASGI, CPU per request (best of 3 x {args.requests})"
    ]
    for kind, seconds in results.items():
        extra = f"  (+{(seconds - floor) * 1e6:6.1f} us)" if kind != "none" else ""
        lines.append(f"  {kind:<15} {seconds * 1e6:7.1f} us{extra}")
    if "contrib" not in results:
        lines.append("  contrib         not installed (opentelemetry-instrumentation-fastapi)")
    publish("server_span", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
