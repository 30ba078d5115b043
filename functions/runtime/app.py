"""``AgentApp``: the object agent authors write against, as in AgentScope Runtime.

An app registers an init hook, one query handler and a shutdown hook; the runtime turns each
request into a complete, valid event stream. The handler never sees HTTP, sessions or
storage plumbing, so the same app runs under ``agent_app.run()``, the local emulator, Lambda
and Function Compute.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from .adapters import get_adapter, get_inbound
from .coalesce import coalesced
from .current import CURRENT_REQUEST
from .protocol import AgentRequest, Event, Response, ResponseBuilder, RunStatus
from .redact import loggable_text

log = logging.getLogger("agentscope_faas.app")

Hook = Callable[..., Any]


def error_fields(exc: BaseException) -> tuple[str, str]:
    """The ``error{code, message}`` a failed response carries for ``exc``.

    Exceptions may carry their own ``code`` (model and tool errors do); anything else is an
    ``agent_error`` named by its class, so a client can tell failures apart. URLs in the
    text lose their credentials and query values (``redact.loggable_text``): an HTTP
    client's error names the URL it was sent to, ``?api_key=`` included.
    """
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code:
        code = "agent_error"
    text = loggable_text(str(exc)) or type(exc).__name__
    return code, f"{type(exc).__name__}: {text}" if code == "agent_error" else text


class AgentApp:
    def __init__(self, app_name: str = "agent", app_description: str = "", **kwargs: Any) -> None:
        self.app_name = app_name
        self.app_description = app_description
        self.options = kwargs
        self._init_hooks: list[Hook] = []
        self._shutdown_hooks: list[Hook] = []
        self._input_checks: list[Hook] = []
        self._handler: Hook | None = None
        self.framework = "text"
        self._started = False
        self._start_lock: asyncio.Lock | None = None

    # -- registration -------------------------------------------------------------------
    def init(self, fn: Hook) -> Hook:
        """Run ``fn(self)`` once before the first query: build clients, load models."""
        self._init_hooks.append(fn)
        return fn

    def shutdown(self, fn: Hook) -> Hook:
        """Run ``fn(self)`` when the server stops."""
        self._shutdown_hooks.append(fn)
        return fn

    def input_check(self, fn: Hook) -> Hook:
        """Run ``fn(messages)`` on each request's input before the turn starts: it raises an
        ``ApiError`` (say ``models.messages.check_chat_input``'s 422) for input the app cannot
        take, so the caller is refused before anything runs or is stored."""
        self._input_checks.append(fn)
        return fn

    def check_input(self, request: AgentRequest) -> None:
        """Every registered input check on ``request.input`` (they raise to refuse)."""
        for check in self._input_checks:
            check(request.input)

    def query(self, framework: str = "text") -> Callable[[Hook], Hook]:
        """Register ``async def handler(self, msgs, request, **kwargs)`` yielding output."""
        get_adapter(framework)  # unknown frameworks fail at import of the app, not per request

        def register(fn: Hook) -> Hook:
            if self._handler is not None:
                raise RuntimeError(f"{self.app_name} already has a query handler")
            self._handler = fn
            self.framework = framework
            return fn

        return register

    # -- lifecycle ----------------------------------------------------------------------
    async def startup(self) -> None:
        """Run the init hooks once, however many requests race to be first."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            for hook in self._init_hooks:
                await _maybe_await(hook(self))
            self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        for hook in self._shutdown_hooks:
            try:
                await _maybe_await(hook(self))
            except Exception:
                log.exception("shutdown hook %s failed", getattr(hook, "__name__", hook))

    # -- running queries ----------------------------------------------------------------
    async def stream(
        self,
        request: AgentRequest,
        builder: ResponseBuilder | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Event]:
        """The whole event sequence for ``request``, ending in ``completed`` or ``failed``.

        Exceptions from the handler become a ``failed`` response, never a broken stream;
        cancellation (a client gone) propagates so the caller can clean up.
        """
        if builder is None:
            builder = ResponseBuilder(session_id=request.session_id)
        yield builder.created()
        yield builder.in_progress()
        try:
            if self._handler is None:
                raise RuntimeError(f"{self.app_name} has no @query handler")
            await self.startup()
            msgs = get_inbound(self.framework)(request.input)
            items = _as_items(self._handler(self, msgs, request, **kwargs), request)
            async for event in get_adapter(self.framework)(items, builder):
                yield event
        except Exception as exc:
            log.warning("query failed: %s", loggable_text(str(exc)), exc_info=not _is_expected(exc))
            code, message = error_fields(exc)
            for event in builder.failed(code, message):
                yield event
            return
        if builder.response.status in RunStatus.FINAL:  # the adapter ended it (incomplete)
            return
        for event in builder.completed():
            yield event

    async def run_query(self, request: AgentRequest, **kwargs: Any) -> Response:
        """Run ``request`` to the end and return the final response (``stream: false``)."""
        final: Event | None = None
        async for event in self.stream(request, **kwargs):
            final = event
        assert isinstance(final, Response)
        return final

    async def stop_chat(self, user_id: str, session_id: str) -> bool:
        """Stop the turn running on ``session_id``, whichever instance runs it, as
        ``POST /process/stop`` does; False when no turn runs there.

        The turn ends ``canceled`` within ``STOP_POLL_INTERVAL_S``, what it said kept as
        ``incomplete``; the next request on the session continues from there. Needs the
        services the runtime binds when it serves the app.
        """
        from .services.lock import NoRunningTurn

        lock = getattr(self, "session_lock", None)
        if lock is None:
            raise RuntimeError("stop_chat needs the app to be served (AgentApp.run, deploy)")
        try:
            await lock.request_stop(user_id, session_id)
        except NoRunningTurn:
            return False
        return True

    async def deploy(
        self, deployer: Any, endpoint_path: str = "/process", **kwargs: Any
    ) -> dict[str, str]:
        """Serve this app with ``deployer`` (``functions.runtime.deployers``), as the seed's
        ``app.deploy(LocalDeployManager(...))``; returns ``{"deploy_id", "url"}``."""
        return await deployer.deploy(self, endpoint_path=endpoint_path, **kwargs)

    def run(self, host: str = "127.0.0.1", port: int = 8090, **uvicorn_options: Any) -> None:
        """Serve this app's protocols with uvicorn, as the seed's ``AgentApp.run`` does."""
        import uvicorn

        from .server import build_app
        from .settings import get_settings

        uvicorn.run(build_app(self, get_settings()), host=host, port=port, **uvicorn_options)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _as_items(result: Any, request: AgentRequest) -> AsyncIterator[Any]:
    """Accept async generators (the usual handler) and coroutines that return one item.

    Each step runs with ``current_request()`` set: a server may run the steps of one
    stream in different tasks, whose contexts would not carry it from step to step.
    Text deltas the generator has ready at once arrive joined (``coalesce``).
    """
    if inspect.isasyncgen(result):
        try:
            # closed first: it may hold the generator inside an ``await``
            async with contextlib.aclosing(
                coalesced(result, setting=(CURRENT_REQUEST, request))
            ) as items:
                async for item in items:
                    yield item
        finally:
            await result.aclose()
        return
    token = CURRENT_REQUEST.set(request)
    try:
        value = await _maybe_await(result)
    finally:
        CURRENT_REQUEST.reset(token)
    if value is not None:
        yield value


def _is_expected(exc: Exception) -> bool:
    # Errors that carry a code were anticipated by whoever raised them: no traceback spam.
    return isinstance(getattr(exc, "code", None), str)
