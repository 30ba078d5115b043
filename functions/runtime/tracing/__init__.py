"""OpenTelemetry traces: one trace per turn, across the functions, the model and the sandbox.

Configured by the SDK's standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, ``OTEL_RESOURCE_ATTRIBUTES``, ...: see
``Settings``) and off when no exporter is configured. Off, nothing of ``opentelemetry`` is
imported: the app gets no tracing middleware and :func:`inject` / :func:`force_flush` return
at once. On, :func:`setup` (called by the app factory, so at app build, never per request)
imports the SDK and the OTLP/HTTP exporter and returns the function's :class:`~.otel.Tracing`.

What is traced (``otel.py``, ``genai.py``; names and attributes from the OTel HTTP and GenAI
semantic conventions):

* every request: a server span ``{method} {route}``, child of the caller's W3C
  ``traceparent`` when it sends one, linked to the AWS X-Ray trace when the platform gives one;
* in a turn: ``invoke_agent {app}``, under it each model call (``chat {model}``: tokens, time
  to first chunk, finish reasons) and tool run (``execute_tool {tool}``); contents (messages,
  tool arguments and results) only with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``;
* outgoing calls carry ``traceparent`` (the model endpoint, the sandbox function, the tool
  server), and the tool server's own span comes back in a response header
  (:data:`SPAN_HEADER`) for the sandbox function to export (it cannot export by itself:
  it is standard-library Python, and a sandbox may have no way out).

Spans leave before the platform may freeze the instance: ``lambda_handler`` flushes at the
end of each invocation; a served function (FC, the Lambda Web Adapter) flushes whenever its
last request in flight has sent its last byte, in a background thread so no response waits.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from .config import SPAN_HEADER, capture_content, enabled

if TYPE_CHECKING:
    from ..settings import Settings
    from .otel import Tracing

__all__ = [
    "SPAN_HEADER",
    "capture_content",
    "enabled",
    "force_flush",
    "idle_flush",
    "inject",
    "setup",
    "shutdown",
]

_active = False  # some function of this process traces: inject/flush have work to do


def setup(settings: Settings, function: str) -> Tracing | None:
    """The tracing of one function (``query``, ``state``, ``sandbox``), or None when off.

    Imports OpenTelemetry (only here). The service is ``OTEL_SERVICE_NAME``, else
    ``agentscope-<function>`` (Terraform's default names).
    """
    global _active
    if not enabled(settings):
        return None
    from .otel import Tracing

    tracing = Tracing(settings, settings.otel_service_name or f"agentscope-{function}")
    _active = True
    return tracing


def inject(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """``headers`` plus the current span's W3C ``traceparent`` (and ``tracestate``).

    For calls to other parts of the turn (the sandbox function, a tool server); nothing is
    added when tracing is off or no span is current.
    """
    headers = {} if headers is None else headers
    if _active:
        from .otel import inject_current

        inject_current(headers)
    return headers


def force_flush(timeout_s: float = 10.0) -> None:
    """Export every span ended so far, now (Lambda: before the invocation returns)."""
    if _active:
        from .otel import flush_all

        flush_all(timeout_s)


class _IdleFlush:
    """Flushes when the last request in flight has finished: a platform freezes only an idle
    instance, and a busy one flushes on the batch processor's own schedule."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def finished(self, flush: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            idle = self._in_flight == 0
            if flush and idle and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="agentscope-trace-flush", daemon=True
                )
                self._thread.start()
        if flush and idle:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            force_flush()


idle_flush = _IdleFlush()


def shutdown() -> None:
    """Flush and stop every exporter of this process (its exit; tests)."""
    global _active
    if _active:
        from .otel import shutdown_all

        shutdown_all()
    _active = False
