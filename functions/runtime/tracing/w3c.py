"""Trace ids as callers send them, read without OpenTelemetry: W3C ``traceparent`` and AWS
X-Ray's ``X-Amzn-Trace-Id``.

The request log uses these to name a request's trace even when tracing is off; the tracing
middleware uses :func:`xray` to link a server span to the platform's X-Ray trace.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header):
# version "-" trace-id (32 hex, not all 0) "-" parent-id (16 hex, not all 0) "-" flags
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
# X-Ray (https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader):
# Root=1-{8 hex epoch}-{24 hex};Parent={16 hex};Sampled={0|1|?}[;...]
_XRAY_ROOT = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
_XRAY_PARENT = re.compile(r"[0-9a-f]{16}")


class TraceParent(NamedTuple):
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    sampled: bool


def traceparent(value: str | None) -> TraceParent | None:
    """A ``traceparent`` header's ids, or None when it is missing or malformed."""
    if not value:
        return None
    found = _TRACEPARENT.fullmatch(value.strip().lower())
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"}:
        return None
    if set(span_id) == {"0"}:
        return None
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


class XRayTrace(NamedTuple):
    trace_id: str  # the root as an OpenTelemetry trace id: epoch and random part, 32 hex
    parent_id: str | None  # 16 hex, when the header names a parent segment
    sampled: bool | None


def xray(value: str | None) -> XRayTrace | None:
    """An ``X-Amzn-Trace-Id`` header's (or ``_X_AMZN_TRACE_ID``'s) trace, or None."""
    if not value:
        return None
    fields = {}
    for part in value.split(";"):
        key, _, item = part.strip().partition("=")
        fields[key.strip().lower()] = item.strip().lower()
    root = _XRAY_ROOT.fullmatch(fields.get("root", ""))
    if root is None:
        return None
    parent = fields.get("parent")
    sampled = {"1": True, "0": False}.get(fields.get("sampled", ""))
    return XRayTrace(
        root.group(1) + root.group(2),
        parent if parent and _XRAY_PARENT.fullmatch(parent) else None,
        sampled,
    )
