"""What a local sandbox function does with its sandboxes when it stops.

A sandbox is known by its record in the state store. When that store dies with the process
(``make local STORE=s3`` or ``STORE=oss``: the emulator's own moto or OSS emulator, or
``STORE_URL=memory://``), no later run could find, reuse or reap the sandbox, and its
container would run on for nobody; the sandboxes of an emulated cloud (``--sandbox-backend
fc|agentrun``) cannot be used again once its emulator stops either. So before the sandbox
function closes its store, it ends every sandbox the store knows, each as
``DELETE /v1/sandboxes/{id}`` does (``SandboxService.delete``: the record first, then the
container or cloud session), and the warm pool's (through the launcher).

A store that outlives the process (the ``file://`` folder, a real bucket) with sandboxes on
Docker keeps them, as AgentScope Runtime's sandboxes outlive a restart of what uses them
until their TTL: the next run serves each session its sandbox again (variables and files
kept), and that run's reaper ends the ones left idle past ``SANDBOX_TTL_S``. The stop says
how many it kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

STOP_CONCURRENCY = 8


def store_dies_with_process(store_url: str, emulated_store: bool = False) -> bool:
    """Whether the store's records end with this process: an emulated store (``--store
    s3|oss``) or ``memory://``."""
    return emulated_store or store_url.startswith("memory://")


class SandboxesAtShutdown:
    """ASGI wrapper of the sandbox function's app: when the server tells the app to shut
    down (the lifespan's ``shutdown``), first end (``end=True``) or count (``end=False``)
    the sandboxes, while the app's store and launcher are still open."""

    def __init__(
        self,
        app: Any,
        *,
        end: bool,
        why: str = "",
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.end = end
        self.why = why
        self.say = say or (lambda line: print(line, flush=True))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def receive_shutdown_last() -> dict:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self._at_shutdown()
            return message

        await self.app(scope, receive_shutdown_last, send)

    async def _at_shutdown(self) -> None:
        service = self.app.state.instance.service
        try:
            if self.end:
                await self._end_all(service)
            else:
                self._say_kept(len(await service.registry.ids()))
        except Exception as exc:  # the store is gone already: nothing more can be done
            self.say(f"warning: could not look after the sandboxes as it stopped: {exc}")

    def _say_kept(self, count: int) -> None:
        if count:
            self.say(
                f"  sandbox  kept {count} sandbox{'es' if count != 1 else ''} for the next run "
                "(their records are in the store; the reaper ends one idle past its TTL)"
            )

    async def _end_all(self, service: Any) -> None:
        await service.close()  # no pool refill starts a sandbox behind this
        ids = await service.registry.ids()
        pooled = {t: await service.registry.pooled(t) for t in service.pool_types}
        total = len(ids) + sum(len(p) for p in pooled.values())
        if not total:
            return
        why = f" ({self.why})" if self.why else ""
        self.say(f"  sandbox  stopping {total} sandbox{'es' if total != 1 else ''}{why}")
        gate = asyncio.Semaphore(STOP_CONCURRENCY)
        failed: list[str] = []

        async def delete(sandbox_id: str) -> None:
            async with gate:
                try:
                    await service.delete(sandbox_id)
                except Exception as exc:
                    failed.append(f"{sandbox_id}: {exc}")

        async def stop_pooled(sandbox_type: str, sandbox_id: str) -> None:
            async with gate:
                try:
                    record = await service.registry.get_pooled(sandbox_type, sandbox_id)
                    if record is not None:
                        await service.end_pooled(sandbox_type, record)
                except Exception as exc:
                    failed.append(f"{sandbox_id}: {exc}")

        await asyncio.gather(
            *map(delete, ids),
            *(stop_pooled(t, i) for t, found in pooled.items() for i in found),
        )
        for line in failed:
            self.say(f"warning: sandbox {line}")
