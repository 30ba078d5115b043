"""What one function instance builds once and shares between its requests.

A FaaS instance serves many requests over its life, and its cold start is billed: so the
store client, the services over it, a sandbox launcher and HTTP clients are each made on
first use (an instance that never launches a sandbox never imports docker), kept for the
instance's life, and closed by :meth:`Instance.close` when the platform stops it. All three
functions use this one class; routers reach it through ``functions.runtime.deps``.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from .sandbox.launchers.base import Launcher
    from .services import MemoryService, SessionHistoryService, StateService
    from .services.lock import SessionLock
    from .services.quotas import TurnRate
    from .services.responses import ResponseStore
    from .settings import Settings
    from .storage.base import ObjectStore
    from .storage.health import StoreProbe

# a tool call may run for as long as its own timeout allows (the tool server caps it)
HTTP_TIMEOUT_S = 900.0
_NUMBERS = itertools.count(1)


def instance_name() -> str:
    """This instance as its platform names it: FC's instance id, Lambda's log stream (one
    per execution environment); elsewhere host:pid, and a number per Instance made."""
    for variable in ("FC_INSTANCE_ID", "AWS_LAMBDA_LOG_STREAM_NAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    return f"{socket.gethostname()}:{os.getpid()}:{next(_NUMBERS)}"


class Instance:
    """Settings plus lazily built clients; ``store`` / ``launcher`` given here are not closed
    by :meth:`close` (their owner, a test say, closes them)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: ObjectStore | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        self.settings = settings
        self.name = instance_name()  # what the running-turns listing says a turn runs on
        # TurnObservers (turn.py) given every turn of this instance: tracing, the request log
        self.turn_observers: list[Any] = []
        # awaited with (this instance, user id, response id, when its lease lapsed) when a
        # turn takes over the lapsed lease of the turn writing that response (Turn.begin):
        # a protocol's ``on_lapsed_turn`` records what that turn left unfinished
        self.lapse_handlers: list[Callable[[Instance, str, str, float], Awaitable[None]]] = []
        self.tracing: Any = None  # the function's tracing.otel.Tracing, when it is on
        self._given_store = store
        self._given_launcher = launcher
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @cached_property
    def store(self) -> ObjectStore:
        if self._given_store is not None:
            return self._given_store
        from .storage import open_store

        return open_store(self.settings.store_url, self.settings)

    @cached_property
    def store_probe(self) -> StoreProbe:
        from .storage.health import StoreProbe

        return StoreProbe(self.store, self.settings.store_health_interval_s)

    async def check_store(self) -> None:
        """``/health``'s check: the store reads and writes (503 ``store_unavailable`` /
        ``store_unwritable`` otherwise)."""
        await self.store_probe.check()

    @cached_property
    def history(self) -> SessionHistoryService:
        from .services import SessionHistoryService

        return SessionHistoryService(self.store)

    @cached_property
    def state(self) -> StateService:
        from .services import StateService

        return StateService(self.store)

    @cached_property
    def memory(self) -> MemoryService:
        from .services import MemoryService

        return MemoryService(self.store)

    @cached_property
    def lock(self) -> SessionLock:
        from .services.lock import SessionLock

        return SessionLock(self.store, self.settings.session_lock_ttl_s, holder=self.name)

    @cached_property
    def turn_rate(self) -> TurnRate:
        from .services.quotas import TurnRate

        return TurnRate(self.store, self.settings.user_max_turns_per_minute)

    @cached_property
    def responses(self) -> ResponseStore:
        from .services.responses import ResponseStore

        return ResponseStore(self.store)

    @cached_property
    def launcher(self) -> Launcher:
        if self._given_launcher is not None:
            return self._given_launcher
        from .sandbox.launchers import get_launcher

        return get_launcher(self.settings)

    @cached_property
    def http(self) -> httpx.AsyncClient:
        """One connection pool for every outgoing call of the instance."""
        import httpx

        return httpx.AsyncClient(timeout=httpx.Timeout(HTTP_TIMEOUT_S, connect=5))

    def built(self, name: str) -> Any:
        """The value of a lazy attribute if it was built, else None (without building it)."""
        return self.__dict__.get(name)

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close`` first when the instance closes (a server built on first use)."""
        self._closers.append(close)

    async def close(self) -> None:
        """Close what this instance opened; safe to call twice."""
        closers, self._closers = self._closers, []
        for closer in closers:
            await closer()
        http = self.__dict__.pop("http", None)
        if http is not None:
            await http.aclose()
        store = self.__dict__.pop("store", None)
        for name in ("history", "state", "memory", "lock", "responses", "store_probe", "turn_rate"):
            self.__dict__.pop(name, None)
        if store is not None and self._given_store is None:
            await store.close()
