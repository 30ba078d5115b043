"""When tracing is on, and what spans may carry: read from ``Settings`` (no OpenTelemetry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

# the header in which the tool server answers with its span (a compact JSON object)
SPAN_HEADER = "x-toolserver-span"

_CAPTURE = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})


def enabled(settings: Settings) -> bool:
    """Whether ``settings`` configure an exporter (and nothing switches it off)."""
    if settings.otel_sdk_disabled or settings.otel_traces_exporter.strip().lower() == "none":
        return False
    return bool(settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint)


def capture_content(settings: Settings) -> bool:
    """Whether spans may carry messages, tool arguments and results (opt-in)."""
    return settings.otel_instrumentation_genai_capture_message_content.strip().lower() in _CAPTURE
