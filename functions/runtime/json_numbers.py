"""JSON bodies hold JSON numbers and Unicode text only (HTTP 422 otherwise), checked before
any route reads them.

Python's ``json`` and pydantic both accept ``NaN``, ``Infinity`` and ``-Infinity``, which
RFC 8259 does not have, and read ``1e999`` as infinity; such a value then reaches the store
as a literal no other JSON reader takes, or comes back as ``null``. A string escape of half
a UTF-16 surrogate pair (``"\ud800"`` alone) decodes to a string no UTF-8 encoder takes:
the answer that repeats it, or the store that keeps it, fails later (I-JSON, RFC 7493,
forbids them). A number with more digits than Python converts
(``sys.get_int_max_str_digits``) makes ``json.loads`` raise a bare ``ValueError``, and a
body nested deeper than the interpreter's recursion limit a ``RecursionError``: both a 500
where the route parses. A body nested more than ``MAX_DEPTH`` levels parses, but once
stored, pydantic-core cannot serialize it back: every read of what holds it would be a
500. This middleware reads a JSON route's body once, whatever its
``Content-Type`` says (the hot routes parse what they are sent as JSON), refuses those with
``invalid_request`` (422), and hands the route the same bytes.

What it leaves to the route: a body that is not JSON at all (the route's own 422), and
non-JSON routes (file uploads).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, InvalidRequest
from .http_errors import error_response

Predicate = Callable[[Scope], bool]


class _NotAJsonNumber(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _NotAJsonNumber(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotAJsonNumber(f"{text[:40]} is out of the range of a JSON number")
    return value


# the deepest a body may nest: deeper, pydantic-core cannot serialize it back (its limit is
# about 255 levels, and a stored message wraps a body's data in a few more), so it would be
# kept and then fail every read of what holds it. Real payloads (tool schemas) nest far less.
MAX_DEPTH = 128
# methods whose body no route reads
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
# backslashes, then what a \u escape of half a surrogate pair looks like
_SURROGATE_ESCAPE = re.compile(r"\\+u[dD][89a-fA-F]")
# one decoder for every body: json.loads with hooks builds a new one per call
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def json_number_error(body: bytes) -> str | None:
    """Why ``body`` holds something that is not a JSON number; None when it holds none
    (or when it is not JSON at all, which its parser reports)."""
    encoding = json.detect_encoding(body)  # as json.loads reads bytes: UTF-8, -16 or -32
    try:
        text = body.decode(encoding)  # strict: raw halves of a surrogate pair are not text
        value = _DECODER.decode(text)
        # a body this short cannot nest that deep ("[" and "]" per level): no walk
        if len(text) > 2 * MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
            return f"the body is nested more than {MAX_DEPTH} levels deep"
        # then only an escape can make half a pair ("in" first: a scan in C, no regex)
        if (
            ("\\ud" in text or "\\uD" in text)
            and _escapes_a_surrogate(text)
            and _holds_lone_surrogate(value)
        ):
            return "a string holds half a UTF-16 surrogate pair (\\ud800-\\udfff alone)"
    except _NotAJsonNumber as exc:
        return str(exc)
    except RecursionError:
        return "the body is nested too deeply"
    except UnicodeDecodeError as exc:
        return f"the body is not {encoding.upper()} text: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError:
        return None
    except ValueError as exc:  # an integer longer than Python converts
        return f"a number is too long: {exc}"
    return None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep."""
    # a stack, not recursion: the value may be as deep as json allows
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if level > limit:
            return True
        pending += [(child, level + 1) for child in children if isinstance(child, dict | list)]
    return False


def _escapes_a_surrogate(text: str) -> bool:
    """Whether JSON ``text`` has a ``\\u`` escape of a surrogate (whole pairs included): one
    an odd number of backslashes starts (an even one escapes backslashes: ``\\\\ud800`` is
    text)."""
    return any(len(m.group()) % 2 == 0 for m in _SURROGATE_ESCAPE.finditer(text))


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a string in ``value`` (a key included) is not Unicode text (UTF-8 refuses it)."""
    pending = [value]  # a stack, not recursion: the value may be as deep as json allows
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def reads_json_body(scope: Scope, json_route: Predicate) -> bool:
    """Whether the route of this HTTP request reads a body it has as JSON: a method that
    carries one, a ``Content-Length`` other than 0 (or a chunked body), a JSON route. The
    one test of every check on JSON bodies (this middleware's, ``auth/local.py``'s)."""
    if scope["type"] != "http" or scope["method"] in _NO_BODY:
        return False
    return has_body(scope) and json_route(scope)


def has_body(scope: Scope) -> bool:
    """Whether an HTTP request carries a body: a ``Content-Length`` other than 0, or none
    and a ``Transfer-Encoding`` (chunked)."""
    length = chunked = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = value
    return length.strip() not in (b"", b"0") if length is not None else chunked is not None


class JsonNumbers:
    """ASGI middleware: a JSON route's body with a non-JSON number is answered 422."""

    def __init__(self, app: ASGIApp, json_route: Predicate) -> None:
        self.app = app
        self.json_route = json_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not reads_json_body(scope, self.json_route):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # gone before the body arrived
                    await self.app(scope, _replay([message], receive), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except ApiError as exc:  # the body limit's 413, raised as it counts
            await error_response(exc)(scope, receive, send)
            return
        body = b"".join(chunks)
        problem = json_number_error(body)
        if problem is not None:
            invalid = InvalidRequest([{"loc": ["body"], "msg": problem, "type": "json_invalid"}])
            await error_response(invalid)(scope, receive, send)
            return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(first: list[Message], receive: Receive) -> Receive:
    """``first`` messages, then the server's own (a later ``http.disconnect``)."""
    pending = list(first)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
