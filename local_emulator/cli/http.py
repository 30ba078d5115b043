"""The command line's calls to the functions, and the one-line errors they become.

Every failure a user can meet - nothing listening, a URL that is not one of our functions,
a missing or refused token, a 4xx/5xx in the functions' ``{"code", "detail"}`` shape - is
a :class:`CliError` whose message fits on one line; ``main`` prints it and exits non-zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(30.0, read=None)  # turns and tool calls answer when they are done


class CliError(Exception):
    """A failure to report in one line; ``exit_code`` is what the command exits with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _detail(detail: Any) -> str:
    if isinstance(detail, list):  # invalid_request: [{loc, msg, type}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return " ".join(str(detail).split())


class Api:
    """One function at ``base_url``, called with ``token`` (a bearer JWT) when given.

    ``what`` names the function in messages ("query", "state", "sandbox").
    """

    def __init__(self, base_url: str, token: str | None, what: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.what = what
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=TIMEOUT)
        except (httpx.InvalidURL, ValueError) as exc:
            raise CliError(f"--url {base_url!r} is not a URL: {exc}", 2) from None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _failure(self, method: str, path: str, exc: httpx.HTTPError) -> CliError:
        where = self._where(path)
        if isinstance(exc, httpx.ConnectError):
            hint = " (is it running? `agentscope-faas local` starts one here)"
            local = "127.0.0.1" in where or "localhost" in where
            return CliError(
                f"cannot reach the {self.what} function at {where}{hint if local else ''}"
            )
        if isinstance(exc, httpx.TimeoutException):
            return CliError(f"{method} {where} timed out")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return CliError(f"{where} is not an http(s) URL", 2)
        return CliError(f"{method} {where} failed: {exc}")

    def refused(self, method: str, path: str, response: httpx.Response) -> CliError:
        """The one-line error for an answer with a 4xx/5xx status."""
        where = self._where(path)
        try:
            body = json.loads(response.read() or b"null")
        except (ValueError, httpx.HTTPError):
            body = None
        if isinstance(body, dict) and "code" in body:
            text = f"{response.status_code} {body['code']}: {_detail(body.get('detail'))}"
            if response.status_code == 401:
                text += " (pass --token or set AGENTSCOPE_TOKEN)"
            return CliError(f"{method} {where}: {text}")
        reason = response.reason_phrase or "error"
        return CliError(
            f"{method} {where}: {response.status_code} {reason} "
            f"(is {self.base_url} the {self.what} function?)"
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A JSON request; the parsed answer (None for 204)."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._failure(method, path, exc) from None
        if response.status_code >= 400:
            raise self.refused(method, path, response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{method} {self._where(path)} answered something that is not JSON "
                f"(is {self.base_url} the {self.what} function?)"
            ) from None

    def events(self, path: str, body: dict) -> Iterator[dict]:
        """POST ``body`` and yield the server-sent events' JSON data as they arrive."""
        headers = {"Accept": "text/event-stream"}
        try:
            with self.http.stream("POST", path, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    raise self.refused("POST", path, response)
                media = response.headers.get("content-type", "")
                if not media.startswith("text/event-stream"):
                    raise CliError(
                        f"POST {self._where(path)} answered {media or 'no content type'}, "
                        f"not an event stream (is {self.base_url} the {self.what} function?)"
                    )
                yield from _sse_data(response.iter_lines())
        except httpx.HTTPError as exc:
            raise self._failure("POST", path, exc) from None


def _sse_data(lines: Iterator[str]) -> Iterator[dict]:
    """The JSON of each event (``data:`` lines joined; comments and other fields skipped)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield json.loads("\n".join(data))
                data = []
            continue
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield json.loads("\n".join(data))
