"""An MCP client on the standard library: one connection to one MCP server.

Two transports of the MCP specification (modelcontextprotocol.io, "Transports"):

* stdio: the server is a child process; JSON-RPC 2.0 messages are single lines of JSON on
  its stdin and stdout (UTF-8, newline-delimited). Its stderr is the server's log: the last
  few KiB are kept to explain a server that dies.
* Streamable HTTP: each message is a POST to the server's URL with ``Accept:
  application/json, text/event-stream``; the answer is JSON, or an SSE stream that carries
  it. The server's ``Mcp-Session-Id`` (if it gives one) and the negotiated
  ``MCP-Protocol-Version`` go on every later request. No redirect is followed but a 307 or
  308 to the same origin (``_NoRedirects``).

Over either, ``McpSession`` runs the lifecycle: ``initialize`` (this client's newest
handshake revision; the server answers its own), ``notifications/initialized``, then
``tools/list`` (every page) and ``tools/call``. Requests the server sends the client are
answered: ``ping`` with an empty result, anything else with "method not found" (this client
offers no capabilities). Every wait has a deadline: a server that does not answer in time
is an error, never a hang, and a call that times out (or, over stdio, whose HTTP caller
hangs up) is cancelled (``notifications/cancelled``). The server may run user code: one
message is at most ``message_limit`` bytes, and what is malformed is ignored or an error.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from typing import Any

from .caller import Watch, served

# the handshake revisions this client speaks, newest first (it offers the first)
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
CLIENT_INFO = {"name": "agentscope-faas-toolserver", "version": "1"}
METHOD_NOT_FOUND = -32601
STDERR_KEPT = 4096  # bytes of a stdio server's stderr kept to explain its failure
STOP_GRACE_S = 2.0  # a stdio server's time to exit after its stdin closes


class McpClientError(Exception):
    """The server failed: it exited, did not answer in time, or answered with an error."""


def _valid_id(ident: Any) -> bool:
    """A JSON-RPC id: a string or an integer (never a bool, an object, an array)."""
    return isinstance(ident, str) or type(ident) is int


class RpcError(McpClientError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Timeout(McpClientError):
    pass


class CallerGone(McpClientError):
    """The HTTP caller of the tool call hung up; the request was cancelled."""


DEFAULT_MESSAGE_LIMIT = 16 * 1024 * 1024  # bytes of one message a server may send


def log(server: str, note: str) -> None:
    """A line on the tool server's stderr about ``server``; ``note`` never quotes what the
    server sent (it may echo the caller's secrets)."""
    print(f"toolserver: MCP server {server!r}: {note}", file=sys.stderr, flush=True)


class _Waiter:
    """A request's wait for its response, which the reader thread hands over."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict[str, Any] | None = None
        self.lost: str | None = None
        self._wake: int | None = None  # a pipe's write end while a caller-watching wait runs
        self._lock = threading.Lock()

    def finish(self, message: dict[str, Any] | None = None, lost: str | None = None) -> None:
        self.message, self.lost = message, lost
        self.done.set()
        with self._lock:  # never a write to a descriptor wait() has closed (and reused)
            if self._wake is not None:
                os.write(self._wake, b"\0")

    def wait(self, timeout: float) -> bool | None:
        """True once answered, False after ``timeout`` seconds, None if the HTTP caller of
        this thread's tool call (``caller.serving``) hangs up first. The caller's socket is
        polled with a pipe the answer wakes: no thread and no periodic wake-up."""
        if not served():
            return self.done.wait(timeout)
        read_end, write_end = os.pipe()
        with self._lock:
            self._wake = write_end
        try:
            watch = Watch(read_end)
            deadline = time.monotonic() + timeout
            while not self.done.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                watch.wait(left)
                if watch.gone and not self.done.is_set():
                    return None
            return True
        finally:
            with self._lock:
                self._wake = None
            os.close(read_end)
            os.close(write_end)


def _answer_error(message: dict[str, Any]) -> None:
    """Raise the error of a response as an ``RpcError``, whatever its shape: the server may
    send any JSON there (a string, a code that is no integer, no message at all)."""
    error = message.get("error")
    if error is None:
        return
    if not isinstance(error, dict):
        raise RpcError(-32603, f"a malformed error (not an object): {_short(error)}")
    code, text = error.get("code"), error.get("message")
    if not isinstance(text, str):
        text = "(no message)" if text is None else f"(a message that is no string: {_short(text)})"
    if type(code) is not int:  # bool is an int to Python, never to JSON-RPC
        text = f"{text} (its code {_short(code)} is no integer)"
        code = -32603
    raise RpcError(code, text)


def _short(value: Any, most: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= most else text[:most] + "..."


class StdioConnection:
    """A server process speaking newline-delimited JSON-RPC on stdin/stdout.

    The reader thread is the connection's life: it takes each line (at most
    ``message_limit`` bytes: a server writing without a newline must not fill the
    container's memory), ignores what is no message of the protocol (a stray print, a
    response whose id is no integer of ours - logged), and when it ends for any reason -
    the server's exit, a line past the limit, a fault of its own - the connection is over:
    every waiting call fails at once, ``alive()`` is False (so adding the same
    configuration again restarts it) and a server still running is stopped."""

    transport = "stdio"

    def __init__(
        self,
        name: str,
        command: str,
        args: list[str],
        env: dict[str, str],
        cwd: str,
        message_limit: int = DEFAULT_MESSAGE_LIMIT,
    ) -> None:
        self.name = name
        self.message_limit = message_limit
        self._ids = itertools.count(1)
        self._pending: dict[int, _Waiter] = {}
        self._lock = threading.Lock()  # _pending and _ended
        self._ended = False
        self.failure: str | None = None  # why this client stopped it (None: it exited)
        self._write_lock = threading.Lock()
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self.exit_code: int | None = None
        self.tools_changed = False
        try:
            self.proc = subprocess.Popen(
                [command, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env={**os.environ, **env},
                start_new_session=True,  # its own group: stopping it stops what it started
            )
        except FileNotFoundError:
            raise McpClientError(f"command not found: {command!r}") from None
        except PermissionError:
            raise McpClientError(f"command not executable: {command!r}") from None
        except OSError as exc:
            raise McpClientError(f"could not start {command!r}: {exc.strerror or exc}") from None
        except ValueError as exc:  # what execve cannot take: a NUL, a "=" in an env name
            raise McpClientError(f"could not start {command!r}: {exc}") from None
        self._readers = [
            threading.Thread(target=self._read, name=f"mcp-{name}", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"mcp-{name}-err", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> None:
        failure: str | None = None
        try:
            failure = self._read_lines()
        except Exception as exc:  # a fault of this reader: the connection must not look alive
            failure = f"its output could not be read ({type(exc).__name__})"
            log(self.name, failure)
        finally:
            self._end(failure)

    def _read_lines(self) -> str | None:
        """Take the server's messages until its stdout ends (None) or a line runs past
        ``message_limit`` (why, as a message for the caller)."""
        assert self.proc.stdout is not None
        limit = self.message_limit
        while line := self.proc.stdout.readline(limit + 1):
            if len(line) > limit and not line.endswith(b"\n"):
                why = (
                    f"the server wrote more than {limit} bytes without a newline (one message "
                    "at most); it was stopped"
                )
                log(self.name, why)
                return why
            self._take(line)
        return None

    def _take(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return  # not a message: a server's stray print
        for item in message if isinstance(message, list) else [message]:
            try:
                self._receive(item)
            except McpClientError:
                pass  # its stdin is closed: its stdout ends next
            except Exception as exc:  # never the reader's end: the next message may be fine
                log(self.name, f"a message it sent was ignored ({type(exc).__name__})")

    def _end(self, failure: str | None) -> None:
        """The reader is done: stop a server still running, then fail every waiting call."""
        if failure is None:
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                failure = "the server closed its stdout but kept running; it was stopped"
                log(self.name, failure)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.exit_code = self.proc.wait()
        with self._lock:
            self._ended, self.failure = True, failure
            waiters = list(self._pending.values())
            self._pending.clear()
        lost = self.why_over()
        for waiter in waiters:
            waiter.finish(lost=lost)

    def why_over(self) -> str:
        return self.failure or self.exit_note()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size - len(self._stderr[0]) >= STDERR_KEPT:
                self._stderr_size -= len(self._stderr.popleft())

    def _receive(self, message: Any) -> None:
        if not isinstance(message, dict):
            log(self.name, f"ignored a message that is no object ({type(message).__name__})")
            return
        ident = message.get("id")
        if "method" in message:
            method = message["method"]
            if not isinstance(method, str):
                log(self.name, "ignored a message whose method is no string")
            elif "id" in message:  # a request of the server's
                if not _valid_id(ident):
                    log(self.name, "ignored a request whose id is no string or integer")
                elif method == "ping":
                    self._send({"jsonrpc": "2.0", "id": ident, "result": {}})
                else:
                    error = {"code": METHOD_NOT_FOUND, "message": "the method is not supported"}
                    self._send({"jsonrpc": "2.0", "id": ident, "error": error})
            elif method == "notifications/tools/list_changed":
                self.tools_changed = True
            return
        if type(ident) is not int:  # this client's ids are integers; a bool is none
            log(self.name, f"ignored a response whose id is {type(ident).__name__}, no integer")
            return
        with self._lock:
            waiter = self._pending.pop(ident, None)
        if waiter is not None:  # else a late answer to a call that timed out
            waiter.finish(message=message)

    def stderr_tail(self) -> str:
        return b"".join(self._stderr)[-STDERR_KEPT:].decode("utf-8", "replace").strip()

    def exit_note(self) -> str:
        code = self.proc.poll()
        note = f"the server exited (code {code})" if code is not None else "the server is gone"
        tail = self.stderr_tail()
        return f"{note}; its stderr ends: {tail}" if tail else note

    # -- writing -----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        assert self.proc.stdin is not None
        try:
            with self._write_lock:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise McpClientError(self.exit_note()) from None

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def request(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The result of ``method``; ``RpcError`` for an error answer, ``Timeout`` past
        ``timeout`` seconds (the request is then cancelled), ``McpClientError`` if the
        server exits first."""
        request_id = next(self._ids)
        waiter = _Waiter()
        with self._lock:
            if self._ended:
                raise McpClientError(self.why_over())
            self._pending[request_id] = waiter
        try:
            self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        except McpClientError:
            with self._lock:
                self._pending.pop(request_id, None)
            raise
        answered = waiter.wait(timeout)
        if not answered:
            with self._lock:
                self._pending.pop(request_id, None)
            why = f"no answer within {timeout:g} s" if answered is False else "its caller hung up"
            try:
                self.notify("notifications/cancelled", {"requestId": request_id, "reason": why})
            except McpClientError:
                pass
            if answered is None:
                raise CallerGone(f"{method}: cancelled, {why}")
            raise Timeout(f"{method}: {why}")
        if waiter.lost is not None:
            raise McpClientError(waiter.lost)
        assert waiter.message is not None
        _answer_error(waiter.message)
        result = waiter.message.get("result")
        return result if isinstance(result, dict) else {}

    def alive(self) -> bool:
        return not self._ended and self.proc.poll() is None

    def close(self) -> None:
        """Close its stdin, as the specification's shutdown says; kill its process group if
        it is still there after ``STOP_GRACE_S``."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.exit_code = self.proc.wait()
        for reader in self._readers:  # what it wrote before it ended is then all there
            reader.join(STOP_GRACE_S)


def shown_url(url: str) -> str:
    """``url`` as an error names it: a server's URL may carry the caller's key
    (``?api_key=``, ``user:password@``), and errors reach the model, the caller's stream and
    the session's history. Its ``user:password@`` becomes ``~@``, every query value ``~``
    (names kept; an item that is no pair, which may be a key alone, ``~``), its fragment
    goes."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "the server's URL"
    _, at, host = parts.netloc.rpartition("@")
    query = "&".join(  # as the functions' logs do (redact.loggable_query)
        item.partition("=")[0] + "=~" if "=" in item else "~" if item else ""
        for item in parts.query.split("&")
    )
    return urllib.parse.urlunsplit(
        (parts.scheme, ("~@" if at else "") + host, parts.path, query, "")
    )


def _credentials_apart(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@``, and those as an HTTP Basic ``Authorization``
    value (None when it has none)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url, None
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, "Basic " + base64.b64encode(pair).decode("ascii")


MAX_REDIRECTS = 5


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """No redirect is followed by urllib: every 3xx comes back as an ``HTTPError``.

    urllib follows 301/302/303/307/308 to any host and re-sends every header it was given
    (``Authorization``, ``X-Api-Key``, whatever the caller configured, the URL's
    ``user:password@`` as Basic credentials) - a server in the sandbox, which user code can
    run, could send the caller's secrets anywhere with one ``Location``; and it turns a POST
    into a GET without its body, which is no MCP message at all. ``HttpConnection`` follows
    only a 307 or 308 to the same origin (scheme, host and port: the one the caller gave the
    secrets to), with the same method and body: a server mounted at ``/mcp/`` that answers
    ``/mcp`` with a 307 still works, and nothing else is followed (the MCP transport has no
    use for redirects)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


def _redirect_target(url: str, shown: str, exc: urllib.error.HTTPError) -> str | None:
    """Where a same-origin 307/308 ``exc`` of a request to ``url`` (named ``shown`` in
    messages) sends it; None for an
    answer that is no redirect. Any other redirect is an ``McpClientError`` naming the
    status and the scheme and host it points to - never its path or query, which may carry
    a key - and nothing is sent there."""
    if not 300 <= exc.code < 400:
        return None
    location = exc.headers.get("Location") or ""
    try:
        target = urllib.parse.urljoin(url, location)
        origin = _origin(target)
        same = bool(location) and origin == _origin(url)
    except ValueError:  # a port that is no number, a bracket left open
        origin, same = ("", "", None), False
    if same and exc.code in (307, 308):
        # user:password@ in a Location is the server's choice, not the caller's: dropped
        return _credentials_apart(target)[0]
    scheme, host, port = origin
    shown_host = f"[{host}]" if ":" in host else host  # an IPv6 literal, as URLs write it
    where = f"{scheme}://{shown_host}:{port}" if host else "an unusable Location"
    why = (
        "307 and 308 are followed only within the same scheme, host and port"
        if exc.code in (307, 308)
        else "only a 307 or 308 redirect keeps the request; the MCP transport needs none"
    )
    raise McpClientError(
        f"HTTP {exc.code} from {shown}: a redirect to {where}, not followed ({why}; "
        "the request's headers and credentials are never sent to another origin)"
    )


class HttpConnection:
    """A server at a URL, over the Streamable HTTP transport (JSON or SSE answers)."""

    transport = "streamable_http"

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str],
        message_limit: int = DEFAULT_MESSAGE_LIMIT,
    ) -> None:
        self.name = name
        self.message_limit = message_limit  # bytes of one answer (JSON, or an SSE event)
        self.shown = shown_url(url)  # what messages say of it
        # urllib does not send a URL's user:password@ (http.client takes it for a port):
        # it goes as HTTP Basic credentials, unless the headers give their own
        self.url, basic = _credentials_apart(url)
        if basic and not any(key.lower() == "authorization" for key in headers):
            headers = {**headers, "Authorization": basic}
        self.headers = headers
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.tools_changed = False
        self._closed = False

    def _headers(self) -> dict[str, str]:
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _post(self, message: dict[str, Any], timeout: float) -> Any:
        data = json.dumps(message, separators=(",", ":")).encode()
        return self._open("POST", data, timeout)

    def _open(self, method: str, data: bytes | None, timeout: float) -> Any:
        """The server's response to ``method`` with ``data``, following only same-origin
        307/308 redirects (see ``_NoRedirects``)."""
        url, shown = self.url, self.shown
        for _ in range(MAX_REDIRECTS + 1):
            req = urllib.request.Request(url, data=data, headers=self._headers(), method=method)
            try:
                return _OPENER.open(req, timeout=timeout)
            except urllib.error.HTTPError as exc:
                with exc:
                    target = _redirect_target(url, shown, exc)
                    if target is None:
                        body = exc.read(2000).decode("utf-8", "replace")
                        raise McpClientError(f"HTTP {exc.code} from {shown}: {body}") from None
                url, shown = target, shown_url(target)
            except TimeoutError:
                raise Timeout(f"no answer from {self.shown} within {timeout:g} s") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise McpClientError(f"could not reach {self.shown}: {reason}") from None
            except (http.client.HTTPException, ValueError) as exc:
                # a URL or header http.client will not send (InvalidURL, a bad header value,
                # a host IDNA cannot encode): the configuration's fault, said as such - by
                # the error's type only, since its text quotes the URL or the header's value
                raise McpClientError(
                    f"could not send a request to {self.shown!r}: {type(exc).__name__} (the "
                    "URL or a header value is not one HTTP can carry)"
                ) from None
        raise McpClientError(f"{self.shown} redirected more than {MAX_REDIRECTS} times")

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        try:
            with self._post(message, 30.0) as resp:
                resp.read(self.message_limit)  # a 202 without a body, as a rule
        except (OSError, http.client.HTTPException) as exc:
            raise McpClientError(
                f"{method}: {self.shown} broke off ({type(exc).__name__})"
            ) from None

    def request(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The result of ``method``; ``RpcError`` for an error answer, ``Timeout`` past
        ``timeout`` seconds, ``CallerGone`` if the HTTP caller of this thread's tool call
        (``caller.serving``) hangs up first: the server is then sent
        ``notifications/cancelled`` for it, and the exchange is left to end on its own
        (urllib's blocking read cannot be interrupted; ``timeout`` bounds it)."""
        request_id = next(self._ids)
        if not served():
            return self._exchange(method, params, request_id, timeout)
        waiter = _Waiter()
        outcome: list[Any] = []

        def exchange() -> None:
            try:
                outcome.append(self._exchange(method, params, request_id, timeout))
            except Exception as exc:  # raised in the caller's thread, as without a watch
                outcome.append(exc)
            finally:
                waiter.finish()

        threading.Thread(target=exchange, name=f"mcp-{self.name}", daemon=True).start()
        if waiter.wait(timeout + 5.0) is None:  # its own timeout ends the exchange first
            why = "its caller hung up"
            try:
                self.notify("notifications/cancelled", {"requestId": request_id, "reason": why})
            except McpClientError:
                pass
            raise CallerGone(f"{method}: cancelled, {why}")
        if not outcome:
            raise Timeout(f"{method}: no answer within {timeout:g} s")
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    def _exchange(
        self, method: str, params: dict[str, Any], request_id: int, timeout: float
    ) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            with self._post(message, timeout) as resp:
                if method == "initialize":
                    self.session_id = resp.headers.get("Mcp-Session-Id") or None
                kind = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if kind == "text/event-stream":
                    answer = self._from_stream(resp, request_id)
                else:
                    answer = json.loads(self._bounded(resp.read(self.message_limit + 1)) or b"null")
        except TimeoutError:  # a read that outlived the timeout
            raise Timeout(f"{method}: no answer within {timeout:g} s") from None
        except (ValueError, RecursionError) as exc:
            raise McpClientError(f"{method}: the answer is not JSON: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:  # the answer broke off
            raise McpClientError(
                f"{method}: the answer from {self.shown} broke off ({type(exc).__name__})"
            ) from None
        for item in answer if isinstance(answer, list) else [answer]:
            if isinstance(item, dict) and type(item.get("id")) is int and item["id"] == request_id:
                _answer_error(item)
                result = item.get("result")
                return result if isinstance(result, dict) else {}
        raise McpClientError(f"{method}: the server's answer holds no response to it")

    def _bounded(self, data: bytes) -> bytes:
        if len(data) > self.message_limit:
            raise McpClientError(
                f"{self.shown} sent an answer of more than {self.message_limit} bytes"
            )
        return data

    def _from_stream(self, resp: Any, request_id: int) -> Any:
        """The response to ``request_id`` from an SSE stream (``data:`` lines, blank line
        between events); notifications on the way are taken note of."""
        data: list[str] = []
        size = 0
        while raw := resp.readline(self.message_limit + 1):
            line = raw.decode("utf-8").rstrip("\r\n")
            size += len(raw)  # of this event: its lines since the last blank one
            if size > self.message_limit:
                raise McpClientError(
                    f"{self.shown} sent an event of more than {self.message_limit} bytes"
                )
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
                continue
            if line:
                continue
            size = 0
            if not data:
                continue
            message = json.loads("\n".join(data))
            data = []
            if isinstance(message, dict) and type(message.get("id")) is int:
                if message["id"] == request_id:
                    return message
            elif isinstance(message, dict):
                if message.get("method") == "notifications/tools/list_changed":
                    self.tools_changed = True
        raise McpClientError("the event stream ended without the response")

    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        """End the server's session (``DELETE`` with its id), when it gave one."""
        self._closed = True
        if not self.session_id:
            return
        try:
            self._open("DELETE", None, 5.0).close()
        except McpClientError:
            pass


Connection = StdioConnection | HttpConnection


class McpSession:
    """An initialized connection and the server's tools."""

    def __init__(self, connection: Connection, start_timeout: float) -> None:
        self.connection = connection
        self.server_info: dict[str, Any] = {}
        self.tools: list[dict[str, Any]] = []
        result = connection.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSIONS[0],
                "capabilities": {},
                "clientInfo": CLIENT_INFO,
            },
            start_timeout,
        )
        version = result.get("protocolVersion")
        if version not in PROTOCOL_VERSIONS:
            raise McpClientError(
                f"the server speaks MCP {version!r}; this client speaks "
                f"{', '.join(PROTOCOL_VERSIONS)}"
            )
        if isinstance(connection, HttpConnection):
            connection.protocol_version = version
        info = result.get("serverInfo")
        self.server_info = info if isinstance(info, dict) else {}
        connection.notify("notifications/initialized")
        self.list_tools(start_timeout)

    def list_tools(self, timeout: float) -> list[dict[str, Any]]:
        """Every page of ``tools/list``."""
        tools: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        for _ in range(1000):  # a server whose cursor never ends cannot hang this
            page = self.connection.request("tools/list", params, timeout)
            listed = page.get("tools")
            tools += [t for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
            params = {"cursor": cursor}
        self.connection.tools_changed = False
        self.tools = tools
        return tools

    def call(self, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.connection.request(
            "tools/call", {"name": name, "arguments": arguments}, timeout
        )
