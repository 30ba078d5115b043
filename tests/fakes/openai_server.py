"""A scripted OpenAI-compatible model: the emulator's Chat Completions endpoint, replies pushed
by the test.

The wire format (chunks, usage chunk, errors, ``stream: false``) is the emulator's
(local_emulator/chat_completions.py), served for real over loopback, so a client is tested
through its real HTTP stack rather than a mock. Tests script replies with ``push()`` and
read back what the client sent from ``requests``; with nothing scripted it echoes the last
user message, or answers as ``respond(body)`` says (a model that always calls a tool).

Use the ``fake_openai`` fixture (import ``fake_openai_fixture``), or
``with FakeOpenAIServer() as server:`` outside pytest.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from functions.runtime.sockets import tcp_socket
from local_emulator.chat_completions import (  # noqa: F401  (tests import them from here)
    CREATED,
    ChatCompletions,
    RecordedRequest,
    Reply,
    choice_chunk,
    error_reply,
    split,
    text_reply,
    tool_calls_reply,
)

FAKE_API_KEY = "sk-fake-0123456789abcdefSECRET"


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a background thread.

    ``api_key`` and ``reject_stream_options`` are the endpoint's (see ``ChatCompletions``);
    ``respond(body)`` answers requests when no pushed reply is left.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        reject_stream_options: bool = False,
        respond: Callable[[dict[str, Any]], Reply] | None = None,
    ):
        self._replies: deque[Reply] = deque()
        self._respond = respond
        self._lock = threading.Lock()
        self.endpoint = ChatCompletions(
            self._next, api_key=api_key, reject_stream_options=reject_stream_options
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.endpoint.requests

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def push(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one."""
        with self._lock:
            self._replies.extend(replies)

    def _next(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return self._respond(body) if self._respond is not None else None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        sock = tcp_socket("127.0.0.1", 0, backlog=64)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.endpoint, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        if not self.endpoint.started.wait(timeout=30):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        self.endpoint.release()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port_url() -> str:
    """A base URL on a loopback port nothing listens on (connections are refused)."""
    from local_emulator.serve import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAIServer]:
    """``fake_openai``: a running fake server that requires ``FAKE_API_KEY``.

    Import ``fake_openai_fixture`` into a test module (or list this module in
    ``pytest_plugins``) to use it; the alias keeps the import from shadowing the argument.
    """
    with FakeOpenAIServer(api_key=FAKE_API_KEY) as server:
        yield server
