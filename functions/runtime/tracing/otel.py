"""The OpenTelemetry SDK as the functions use it; imported only when tracing is on.

One ``BatchSpanProcessor`` with the OTLP/HTTP (protobuf) exporter per endpoint, shared by
every ``TracerProvider`` of the process: one provider per service, because a resource
(``service.name``) belongs to a provider and one process may speak for several services -
the local emulator serves three functions, and the sandbox function exports the tool
servers' spans under their own names. A flush therefore sends every service's spans.
Propagation is W3C Trace Context.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..redact import loggable_path
from . import w3c
from .config import capture_content

if TYPE_CHECKING:
    from ..settings import Settings
    from .genai import TurnTracing

log = logging.getLogger("agentscope_faas.tracing")
PROPAGATOR = TraceContextTextMapPropagator()
INSTRUMENTATION = "agentscope-faas"

_lock = threading.Lock()
_processors: dict[tuple[str, tuple[tuple[str, str], ...], bool], BatchSpanProcessor] = {}
_providers: dict[tuple[int, str], TracerProvider] = {}
_global_set = False

# what a tool server's span may say about itself (it runs beside the user's code)
_REMOTE_ATTRIBUTES = frozenset(
    {"gen_ai.operation.name", "gen_ai.tool.name", "gen_ai.tool.type", "error.type"}
)
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# what an error's text may hold (a key a provider quotes, a URL's ?api_key=): never exported
_ERROR_TEXT = frozenset({"exception.message", "exception.stacktrace"})
# the GenAI semantic conventions' opt-in content (prompts, completions, tool arguments and
# results), as attributes and, in their older form, as events: exported only with
# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, whoever's span holds it
_CONTENT = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
_CONTENT_EVENTS = frozenset(
    {
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)
_MAX_REMOTE_SERVICES = 16  # tool server names a process keeps providers for
_MAX_SPAN_HEADER = 4096


def traces_endpoint(settings: Settings) -> str:
    """The OTLP/HTTP traces URL: the signal's own variable, else the base URL + /v1/traces."""
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    assert settings.otel_exporter_otlp_endpoint
    return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"


def _headers(settings: Settings) -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers

    secret = settings.otel_exporter_otlp_headers
    raw = secret.get_secret_value() if secret is not None else ""
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _exporter(endpoint: str, headers: dict[str, str]) -> Any:
    """The OTLP/HTTP exporter, on urllib3 rather than requests where the SDK allows it.

    Both are the exporter's own transports; urllib3's takes half the CPU per export (an
    export follows every Lambda invocation) and spares the cold start importing requests.
    The SDK (1.45) selects it with a keyword it still calls private, so a release that
    changes it gets the default transport instead of failing. CA and client certificates
    come from the SDK's variables either way.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    try:
        from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport

        def env(name: str) -> str | None:
            return os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(
                f"OTEL_EXPORTER_OTLP_{name}"
            )

        key, cert = env("CLIENT_KEY"), env("CLIENT_CERTIFICATE")
        transport = Urllib3HTTPTransport(
            verify=env("CERTIFICATE") or True, cert=(cert, key) if cert and key else cert
        )
        return OTLPSpanExporter(endpoint=endpoint, headers=headers or None, _transport=transport)
    except (ImportError, TypeError):
        return OTLPSpanExporter(endpoint=endpoint, headers=headers or None)


class Scrubbed(SpanExporter):
    """An exporter that sends every span without what the functions never export.

    The global provider is ours, so spans of anyone else in the process - an agent
    framework's (agentscope's ``TracingMiddleware``), an agent's own - go out through here
    too, and are held to the rules our own spans keep:

    * errors by their type only: an exception event keeps ``exception.type`` but not
      ``exception.message`` or ``exception.stacktrace``, an error status loses its
      description (a provider's error text may quote the API key, a URL its ``?api_key=``);
    * without content capture (``capture`` False), none of the GenAI conventions' content:
      the attributes in ``_CONTENT`` and the events in ``_CONTENT_EVENTS`` are left out
      (agentscope records prompts and tool results whatever the setting says).
    """

    def __init__(self, exporter: SpanExporter, capture: bool) -> None:
        self.exporter = exporter
        self.capture = capture

    def export(self, spans: Any) -> SpanExportResult:
        return self.exporter.export([self._scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def _scrubbed(self, span: ReadableSpan) -> ReadableSpan:
        """``span``, or a copy of it without what may not go out (itself when it has none)."""
        attributes = span.attributes or {}
        content = not self.capture and (
            not _CONTENT.isdisjoint(attributes)
            or any(event.name in _CONTENT_EVENTS for event in span.events)
        )
        error_text = span.status.description or any(
            not _ERROR_TEXT.isdisjoint(event.attributes or ()) for event in span.events
        )
        if not content and not error_text:
            return span
        if content:
            attributes = {k: v for k, v in attributes.items() if k not in _CONTENT}
        events = [
            Event(
                event.name,
                {k: v for k, v in (event.attributes or {}).items() if k not in _ERROR_TEXT},
                event.timestamp,
            )
            for event in span.events
            if self.capture or event.name not in _CONTENT_EVENTS
        ]
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=events,
            links=span.links,
            kind=span.kind,
            status=Status(span.status.status_code),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


def _processor(settings: Settings) -> BatchSpanProcessor:
    endpoint, headers = traces_endpoint(settings), _headers(settings)
    capture = capture_content(settings)
    key = (endpoint, tuple(sorted(headers.items())), capture)
    with _lock:
        found = _processors.get(key)
        if found is None:
            exporter = Scrubbed(_exporter(endpoint, headers), capture)
            found = _processors[key] = BatchSpanProcessor(exporter)
        return found


def _provider(processor: BatchSpanProcessor, service: str) -> TracerProvider:
    """The provider of ``service`` (resource: its name over OTEL_RESOURCE_ATTRIBUTES)."""
    global _global_set
    key = (id(processor), service)
    with _lock:
        found = _providers.get(key)
        if found is None:
            found = TracerProvider(resource=Resource.create({"service.name": service}))
            found.add_span_processor(processor)
            _providers[key] = found
            if not _global_set:
                # the first function's provider is the process's: an agent's own spans (and
                # agentscope's tracing) join the turn's trace
                _global_set = True
                trace.set_tracer_provider(found)
        return found


def inject_current(headers: MutableMapping[str, str]) -> None:
    PROPAGATOR.inject(headers)


def flush_all(timeout_s: float) -> None:
    with _lock:
        processors = list(_processors.values())
    for processor in processors:
        processor.force_flush(int(timeout_s * 1000))


def shutdown_all() -> None:
    with _lock:
        processors = list(_processors.values())
        _processors.clear()
        _providers.clear()
    for processor in processors:
        processor.shutdown()


class ServerSpan:
    """The span of one request; :meth:`end` once the response has gone."""

    __slots__ = ("method", "span", "token")

    def __init__(self, span: Any, token: Any, method: str) -> None:
        self.span, self.token, self.method = span, token, method

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def end(self, status: int | None, route: str | None, error: BaseException | None) -> None:
        otel_context.detach(self.token)
        span = self.span
        if route:
            span.update_name(f"{self.method} {route}")
            span.set_attribute("http.route", route)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if error is not None or status is None or status >= 500:
            span.set_attribute(
                "error.type", type(error).__qualname__ if error is not None else str(status)
            )
            span.set_status(Status(StatusCode.ERROR))
        span.end()


class Tracing:
    """One function's tracing: its tracer, the server span per request, the turn observer."""

    def __init__(self, settings: Settings, service: str) -> None:
        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = os.environ.get(name)
            if protocol and protocol != "http/protobuf":
                log.warning(
                    "%s=%s: spans are sent as http/protobuf, the one protocol here", name, protocol
                )
        self.service = service
        self.processor = _processor(settings)
        self.provider = _provider(self.processor, service)
        self.tracer = self.provider.get_tracer(INSTRUMENTATION)
        self.capture = capture_content(settings)

    def turn_observer(self) -> TurnTracing:
        from .genai import TurnTracing

        return TurnTracing(self.tracer, self.capture)

    def start_server_span(self, scope: Mapping[str, Any]) -> ServerSpan:
        """A server span for an ASGI HTTP request, current until :meth:`ServerSpan.end`.

        Its parent is the caller's ``traceparent`` when it sends one; an AWS X-Ray trace
        (``X-Amzn-Trace-Id``, or ``_X_AMZN_TRACE_ID`` of a Lambda invocation) is linked.
        """
        carrier: dict[str, str] = {}
        xray_header = None
        for key, value in scope["headers"]:
            if key in (b"traceparent", b"tracestate"):
                carrier[key.decode()] = value.decode("latin-1")
            elif key == b"x-amzn-trace-id":
                xray_header = value.decode("latin-1")
        if xray_header is None and "aws.event" in scope:  # mangum: the invocation's own
            xray_header = os.environ.get("_X_AMZN_TRACE_ID")
        parent = PROPAGATOR.extract(carrier) if carrier else None
        method = scope.get("method", "GET")
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": loggable_path(scope.get("path", "")),
            "url.scheme": scope.get("scheme", "http"),
        }
        links = []
        xray = w3c.xray(xray_header)
        if xray is not None:
            attributes["aws.xray.trace_id"] = f"1-{xray.trace_id[:8]}-{xray.trace_id[8:]}"
            if xray.parent_id is not None:
                flags = TraceFlags(TraceFlags.SAMPLED if xray.sampled else TraceFlags.DEFAULT)
                linked = SpanContext(
                    int(xray.trace_id, 16), int(xray.parent_id, 16), True, trace_flags=flags
                )
                links.append(Link(linked, {"link.type": "aws.xray"}))
        span = self.tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes=attributes, links=links
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return ServerSpan(span, token, method)

    def adopt_remote_span(
        self,
        value: str | None,
        sent_ns: int,
        received_ns: int,
        service: str,
        attributes: Mapping[str, Any] = {},
    ) -> None:
        """Export the span a tool server sent back (``SPAN_HEADER``) as a child of the
        current span, under the tool server's own service name.

        The header is written beside the user's code, so it is read as untrusted: bounded,
        only a few attribute names kept, its times clamped into the call's own window
        ``[sent_ns, received_ns]`` (``time.time_ns()`` here: no clock skew can put the child
        outside its parent). ``service`` names it unless the header names a valid one.
        """
        if not value or len(value) > _MAX_SPAN_HEADER:
            return
        parent = trace.get_current_span()
        if not parent.get_span_context().trace_flags.sampled:
            return
        try:
            data = json.loads(value)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        start = _bounded_int(data.get("start"), sent_ns, received_ns)
        end = _bounded_int(data.get("end"), start, received_ns)
        named = data.get("service")
        if isinstance(named, str) and _SERVICE.fullmatch(named):
            service = named
        found = data.get("attributes")
        kept: dict[str, Any] = {
            key: item[:256] if isinstance(item, str) else item
            for key, item in (found.items() if isinstance(found, dict) else ())
            if key in _REMOTE_ATTRIBUTES and isinstance(item, str | int | float | bool)
        }
        kept.update(attributes)
        tracer = self._remote_tracer(service)
        span = tracer.start_span(
            str(data.get("name") or "toolserver")[:128],
            context=trace.set_span_in_context(parent),
            kind=SpanKind.SERVER,
            attributes=kept,
            start_time=start,
        )
        error = data.get("error")
        if error:
            span.set_attribute("error.type", str(error)[:64])
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def _remote_tracer(self, service: str) -> Any:
        with _lock:
            known = sum(1 for key in _providers if key[0] == id(self.processor))
        if (id(self.processor), service) not in _providers and known >= _MAX_REMOTE_SERVICES:
            service = self.service
        return _provider(self.processor, service).get_tracer(INSTRUMENTATION)


def _bounded_int(value: Any, low: int, high: int) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else low
    return min(max(number, low), high)
