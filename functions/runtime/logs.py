"""Log lines: plain text, or one JSON object per line (``LOG_FORMAT=json``).

JSON lines are what CloudWatch Logs Insights and SLS index field by field. Every line
carries ``time``, ``level``, ``logger``, ``message``, the platform's ``request_id`` and the
request's ``trace_id``; the request line (logger ``agentscope_faas.request``, one per
request, written by ``telemetry.py``) adds ``method``, ``route``, ``path``, ``status``,
``duration_ms``, ``user``, ``session`` and for a turn ``model_calls``, ``tool_calls``,
``input_tokens``, ``output_tokens``.

Never logged: request and response bodies (messages), headers (tokens), query strings,
nor the credentials of a URL a traceback names (``redact.loggable_text``).
The clients that could log bodies at DEBUG (openai, httpx) are kept at WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any

from .redact import RedactTargets, loggable_text
from .request_ids import REQUEST_ID, RequestIdFilter

REQUEST_LOGGER = "agentscope_faas.request"
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# third-party loggers that would write request bodies or headers at DEBUG
# (and the httpx family writes a line per outgoing call at INFO: noise)
# mangum's own line repeats the request line (ours says more, and keeps view tokens out)
# oss2 logs each error's whole body (a signature error's holds the STS token it signed) and,
# at DEBUG, every request's headers
QUIET = (
    "httpx",
    "httpx2",
    "httpcore",
    "openai",
    "urllib3",
    "botocore",
    "hpack",
    "mangum",
    "oss2",
)


@dataclass(eq=False)
class RequestRecord:
    """What the request line says of the request being served (filled while it runs)."""

    method: str
    path: str
    started_ns: int = field(default_factory=time.perf_counter_ns)
    trace_id: str | None = None
    turn: Any = None  # the request's Turn, if it ran one


REQUEST: ContextVar[RequestRecord | None] = ContextVar("request_record", default=None)


class TextFormatter(logging.Formatter):
    """The text line; a traceback's URLs lose their credentials and query values (httpx's
    errors name the URL they failed on)."""

    def formatException(self, ei: Any) -> str:
        return loggable_text(super().formatException(ei))


class JsonFormatter(TextFormatter):
    """One JSON object per record; a record's ``fields`` (``extra={"fields": {...}}``) are
    merged in."""

    def format(self, record: logging.LogRecord) -> str:
        request = REQUEST.get()
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(),
            "trace_id": request.trace_id if request is not None else None,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _request_id() -> str | None:
    found = REQUEST_ID.get()
    return None if found == "-" else found


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)


def configure_logging(
    log_format: str, stream: IO[str] | None = None, *, keep_handlers: bool = False
) -> None:
    """Send every log record to ``stream`` (stderr) in ``log_format`` ("text" or "json").

    ``keep_handlers``: re-format the handlers already on the root logger instead (the AWS
    Lambda runtime installs its own, which writes to the function's log stream).
    """
    root = logging.getLogger()
    if keep_handlers and root.handlers:
        handlers = root.handlers
    else:
        handlers = [logging.StreamHandler(stream or sys.stderr)]
        root.handlers[:] = handlers
    for handler in handlers:
        handler.setFormatter(formatter(log_format))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if not any(isinstance(f, RedactTargets) for f in handler.filters):
            handler.addFilter(RedactTargets())
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)  # even under a WARNING root
