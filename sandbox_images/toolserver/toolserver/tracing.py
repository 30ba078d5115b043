"""The tool server's span of a tool run, handed back to the caller in a response header.

The tool server is standard-library Python and a sandbox may have no way out, so it exports
nothing itself. When a call carries a sampled W3C ``traceparent``, the answer carries
``X-Toolserver-Span``: a compact JSON object with the span's ``name``, ``start`` and ``end``
(Unix time in ns), ``attributes``, ``error`` and this server's ``service`` name
(``OTEL_SERVICE_NAME``, when set). The sandbox function exports it as a child of its own
span, under that name, clamped into the time it waited for the answer.
"""

from __future__ import annotations

import json
import os
import re
import time

SPAN_HEADER = "X-Toolserver-Span"
# W3C Trace Context: version-trace_id-parent_id-flags
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-([0-9a-f]{2})(?:-.*)?")
_SERVICE = os.environ.get("OTEL_SERVICE_NAME", "")


def sampled(traceparent: str | None) -> bool:
    """Whether the caller records this call's trace (a valid ``traceparent``, flag 01)."""
    found = _TRACEPARENT.fullmatch((traceparent or "").strip().lower())
    return found is not None and bool(int(found.group(1), 16) & 1)


def tool_span(traceparent: str | None, tool: str, start_ns: int, error: str | None) -> dict:
    """The header of a tool run begun at ``start_ns`` (``time.time_ns()``), ending now;
    none when the call is not traced."""
    if not sampled(traceparent):
        return {}
    span: dict = {
        "name": f"execute_tool {tool}",
        "start": start_ns,
        "end": time.time_ns(),
        "attributes": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
    }
    if _SERVICE:
        span["service"] = _SERVICE
    if error:
        span["error"] = error
    return {SPAN_HEADER: json.dumps(span, separators=(",", ":"))}
