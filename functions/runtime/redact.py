"""What a log line or a span may say of a request's target: the secrets some URLs carry.

A live view's URL holds its view token, which opens the desktop (``/v1/sandboxes/{id}/
desktop/{view token}/...`` on the sandbox function, ``?token=`` on the view's WebSocket).
The segment after ``desktop`` wherever such a path appears (a mistyped ``//v1/...`` or
``/V1/...`` path holds the token all the same) and the value of every query parameter
(``?access_token=``, ``?api_key=``: a client may put any secret there) are replaced by
``~`` before a path or query is written anywhere. ``RedactTargets`` does it for the
request lines the server itself logs (uvicorn's access and WebSocket lines, mangum's on
Lambda, should its level let them through). ``loggable_text`` does it for the URLs in an
error's text (``httpx`` names the URL it failed on, query and ``user:password@`` included)
before it goes into an answer.
"""

from __future__ import annotations

import logging
import re

_VIEW_TOKEN = re.compile(r"(/v1/sandboxes/[^/]+/desktop/)[^/]+", re.IGNORECASE)
# a URL in free text: a scheme, then anything up to a space or a quote
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^\s'\"<>`]*)")
_AUTHORITY_END = re.compile(r"[/?#]")
# what ends the sentence around a URL rather than the URL: "(see https://h/x?k=v)."
_TRAILING = re.compile(r"[).,;:!?\]]+$")
_SERVERS = ("uvicorn", "mangum")  # the loggers of the servers that log request lines


def loggable_path(path: str) -> str:
    """``path`` with a live view's token taken out."""
    return _VIEW_TOKEN.sub(r"\1~", path)


def loggable_query(query: str) -> str:
    """A query string (without ``?``) with every parameter's value taken out (its name
    kept), and every item that is no ``name=value`` pair too (``?sk-...``: it may be a key
    alone)."""
    return "&".join(
        item.partition("=")[0] + "=~" if "=" in item else "~" if item else ""
        for item in query.split("&")
    )


def loggable_target(target: str) -> str:
    """A request target (``path?query``) with both kinds of token taken out."""
    path, mark, query = target.partition("?")
    return loggable_path(path) + (mark + loggable_query(query) if mark else "")


def loggable_text(text: str) -> str:
    """``text`` (an exception's message) with every URL in it made loggable: its
    ``user:password@`` replaced by ``~@``, its query's and fragment's values and a live
    view's token taken out (``loggable_target``)."""

    def loggable_url(found: re.Match[str]) -> str:
        scheme, rest = found.groups()
        rest, after = _sentence_end(rest)
        end = _AUTHORITY_END.search(rest)
        authority, target = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
        if "@" in authority:
            authority = "~@" + authority.rpartition("@")[2]
        target, mark, fragment = target.partition("#")
        return (
            scheme
            + authority
            + loggable_target(target)
            + (mark + loggable_query(fragment) if mark else "")
            + after
        )

    return _URL.sub(loggable_url, text)


def _sentence_end(url: str) -> tuple[str, str]:
    """``url`` split into the URL and the punctuation after it that belongs to the text
    around it; a ``)`` stays in the URL while the URL has a ``(`` it closes
    (``https://en.wikipedia.org/wiki/Set_(mathematics)``)."""
    trailing = _TRAILING.search(url)
    if trailing is None:
        return url, ""
    body, after = url[: trailing.start()], trailing.group()
    while after.startswith(")") and body.count("(") > body.count(")"):
        body, after = body + ")", after[1:]
    return body, after


class RedactTargets(logging.Filter):
    """A handler's filter: request targets among a record's arguments are made loggable
    (uvicorn logs ``"GET <target>"`` and ``"WebSocket <target>"`` lines, mangum
    ``"GET <path> 200"``, with the target as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.name.startswith(_SERVERS):
            record.args = tuple(
                loggable_target(a) if isinstance(a, str) and a.startswith("/") else a
                for a in record.args
            )
        return True
