"""Sandbox lifecycle: create (idempotent per session), find, renew, call, delete, reap.

Every step that two instances could race on is decided by the object store: a record is
created create-only, a session's binding is create-only or compare-and-set, a renewal is
compare-and-set. A session's sandbox is made under a claim on its binding, so concurrent
first uses wait for one launch rather than race several (``create``); the loser of a race
that still happens (a claim that lapsed) stops what it launched and uses the winner's. A
create, once under way, runs to its end whatever becomes of its caller (``_unstoppable``).

A sandbox's TTL counts idle time: a call renews the record when it starts (``live``) and
when it ends (``end_call``), and a call that could outlast the record marks itself in flight
(``begin_call``), so no instance's reaper removes a sandbox a call is running in. Removal
wins every race it is in: the record goes first, so a request racing a DELETE finds no
sandbox (404) or a gone one (410), whatever the backend was still doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from functions.runtime.instance import HTTP_TIMEOUT_S
from functions.runtime.sandbox.errors import (
    BackendThrottled,
    BackendUnavailable,
    LaunchError,
    NotSupported,
    SandboxBackendError,
    SandboxGone,
    SandboxLimit,
    SandboxNotFound,
    SandboxRace,
)
from functions.runtime.sandbox.launchers import Launched, Launcher
from functions.runtime.sandbox.types import SANDBOX_TYPES, get_sandbox_type
from functions.runtime.settings import Settings
from functions.runtime.storage.base import ObjectStore, PreconditionFailed, StoreError
from functions.runtime.storage.keys import validate_id, validate_plain_id

from .quota import SandboxQuota
from .registry import Registry, SandboxRecord, call_deadline

log = logging.getLogger("agentscope_faas.sandbox")

# the longest a call through this function can take: its HTTP client's timeout, and a margin
CALL_DEADLINE_S = HTTP_TIMEOUT_S + 60.0
RENEW_ATTEMPTS = 5
HTTP_TIMEOUT_MARGIN_S = 10.0  # a held request's answer still has to travel back
READY_FAILURE_CHARS = 500  # of a failed start's reasons, in the log
# a claim on making a session's sandbox: renewed every third of it while the make runs, so
# one whose instance died is taken over this long after its last renewal
CLAIM_LEASE_S = 10.0
CLAIM_POLL_S = 0.05  # a concurrent first use looks for the binding this often, doubling
CLAIM_POLL_MAX_S = 0.5

T = TypeVar("T")


def new_sandbox_id() -> str:
    return f"sbx-{secrets.token_hex(12)}"


def scrubbed(message: str, handle: str) -> str:
    """A backend's error message for a caller: without the sandbox's backend handle, which
    never leaves the function (``registry.py``), in any form a backend writes it: whole, a
    Docker container id's short form (its first 12 hex digits), an FC handle's session id
    (``function/session``; the function's name is no secret)."""
    forms = {handle, handle.rpartition("/")[2]}
    if re.fullmatch(r"[0-9a-f]{64}", handle):
        forms.add(handle[:12])
    for form in sorted(forms, key=len, reverse=True):
        if form:
            message = message.replace(form, "<sandbox>")
    return message


def _settled(task: asyncio.Task) -> None:
    """Retrieve an unstoppable make's failure: its caller may have gone (cancelled) and its
    cleanup has run; the caller, if still there, is told through the shield."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a sandbox create failed: %s", task.exception())


class _ClaimKeeper:
    """Renews a claim on making a session's sandbox (``registry.py``) while the make runs.

    Renewals stop (``stop``) before the bind, so none races the bind's compare-and-set; a
    renewal under way when asked to stop finishes first, so the etag kept is the claim's
    latest. ``give_up`` writes the claim lapsed, so that the session's next use claims it at
    once instead of waiting out the lease.
    """

    def __init__(
        self,
        registry: Registry,
        user_id: str,
        session_id: str,
        sandbox_type: str,
        nonce: str,
        etag: str,
    ) -> None:
        self.registry = registry
        self.where = (user_id, session_id, sandbox_type)
        self.nonce = nonce
        self.etag: str | None = etag
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._renew())

    @classmethod
    async def claim(
        cls,
        registry: Registry,
        user_id: str,
        session_id: str,
        sandbox_type: str,
        over: str | None,
    ) -> _ClaimKeeper | None:
        """Claim making the session's sandbox (create-only, or over the binding ``over``)
        and keep the claim renewed; None when another write came first."""
        nonce = secrets.token_hex(8)
        until = time.time() + CLAIM_LEASE_S
        where = (user_id, session_id, sandbox_type)
        etag = await registry.claim_session(*where, nonce, until, over)
        return None if etag is None else cls(registry, *where, nonce, etag)

    async def _renew(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), CLAIM_LEASE_S / 3)
            if self._stop.is_set() or self.etag is None:
                return
            until = time.time() + CLAIM_LEASE_S
            try:
                self.etag = await self.registry.claim_session(
                    *self.where, self.nonce, until, self.etag
                )
            except Exception as exc:  # the next renewal may pass; if none does, it lapses
                log.warning("could not renew a claim on a session's sandbox: %s", exc)

    async def stop(self) -> str | None:
        """Stop renewing; the claim's etag, None when it was lost (taken over)."""
        self._stop.set()
        await self._task
        return self.etag

    async def give_up(self) -> None:
        """Stop renewing and write the claim lapsed (best effort: else it lapses itself)."""
        etag = await self.stop()
        if etag is None:
            return
        try:
            await self.registry.claim_session(*self.where, self.nonce, 0.0, etag)
        except StoreError as exc:
            log.warning("could not give up a claim on a session's sandbox: %s", exc)


@dataclass
class Reaped:
    expired: int
    orphans: int
    gone: int = 0  # recorded, but no longer running on the backend (killed, crashed)


class SandboxService:
    def __init__(self, store: ObjectStore, launcher: Launcher, settings: Settings) -> None:
        self.registry = Registry(store)
        self.launcher = launcher
        self.settings = settings
        self.quota = SandboxQuota(store, self.holding, settings.user_max_sandboxes)
        self.pool_types = [
            t.strip() for t in settings.sandbox_pool_types.split(",") if t.strip() in SANDBOX_TYPES
        ]
        self._filling = asyncio.Lock()
        self._background: set[asyncio.Task] = set()
        self._making: set[asyncio.Task] = set()  # creates, run to their end (``_unstoppable``)

    # -- create ----------------------------------------------------------------------------

    async def create(
        self,
        sandbox_type: str,
        user_id: str,
        session_id: str | None = None,
        ttl_s: float | None = None,
    ) -> tuple[SandboxRecord, bool]:
        """(record, created): the session's live sandbox of this type, else a new one.

        A session's sandbox is made under a claim on its binding (``registry.py``): the
        request that writes the claim makes it, concurrent first uses of the session wait
        for its binding instead of each launching (and each taking a quota place) only to
        lose the bind. A claim whose holder died lapses after ``CLAIM_LEASE_S`` and is taken
        over. Waiting ends at a deadline: ``SandboxRace`` (409, retryable).
        """
        get_sandbox_type(sandbox_type)
        validate_id(user_id, "user_id")
        # 422 for a ttl_s the backend cannot keep (FC: past its session TTL), before any work
        ttl = self.launcher.idle_lifetime(ttl_s, self.settings.sandbox_ttl_s)
        if session_id is None:
            made = await self._unstoppable(self._make(sandbox_type, user_id, None, ttl, ttl_s))
            assert made is not None
            return made, True
        # the longest a holder's launch takes, plus a lapsed claim's lease: then it is ours
        deadline = time.monotonic() + self.settings.sandbox_ready_timeout_s + 2 * CLAIM_LEASE_S
        poll = CLAIM_POLL_S
        while True:
            binding = await self.registry.session_binding(user_id, session_id, sandbox_type)
            if binding is not None and binding.sandbox_id is not None:
                existing = await self.live(binding.sandbox_id)
                if existing is not None:
                    return existing, False
            elif binding is not None and binding.pending():
                # another request (any instance) is making it: wait, launching and admitting
                # nothing, so this one is served by it and never refused its quota place
                if time.monotonic() >= deadline:
                    raise SandboxRace("the session's sandbox is still being made; retry")
                await asyncio.sleep(poll)
                poll = min(poll * 2, CLAIM_POLL_MAX_S)
                continue
            # the claim is written by the make itself: a caller gone right after it landed
            # would leave a claim no make holds, for the session's next uses to wait out
            made = await self._unstoppable(
                self._make(
                    sandbox_type, user_id, session_id, ttl, ttl_s, binding.etag if binding else None
                )
            )
            if made is not None:
                return made, True
            # another request claimed (or bound) it first, or took our lapsed claim over
            if time.monotonic() >= deadline:
                raise SandboxRace("the session's sandbox changed; retry")

    async def _unstoppable(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``'s result, run in a task of its own that the caller's cancellation does
        not reach: a make, once begun, ends with its sandbox recorded, counted and bound
        (reachable, and ended by its TTL) or removed, never with a container that no record
        or quota knows. A request is cancelled at any await (a client hanging up on an MCP
        request cancels the SDK's task group, whose cancellation strikes again at every
        await of the cleanup); a task of its own is outside that. ``close`` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._making.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._making.discard)
        return await asyncio.shield(task)

    async def _make(
        self,
        sandbox_type: str,
        user_id: str,
        session_id: str | None,
        ttl: float,
        ttl_s: float | None,
        over: str | None = None,
    ) -> SandboxRecord | None:
        """Admit, launch (or take a warm one), count and, for a session, bind a new sandbox.
        A session's is made under a claim on its binding, written first (create-only, or
        over the binding ``over``: a lapsed claim, or one naming a sandbox gone): None when
        another request's write came first, or took over our claim before the bind (the
        sandbox made is removed again). A failure gives the claim up, so that the session's
        next use makes its own at once."""
        keeper = None
        if session_id is not None:
            keeper = await _ClaimKeeper.claim(
                self.registry, user_id, session_id, sandbox_type, over
            )
            if keeper is None:
                return None
        try:
            ticket = await self.quota.admit(user_id)  # USER_MAX_SANDBOXES: 429 at the limit
            record = None
            if ttl_s is None or not self.launcher.ends_idle:
                # a pooled FC/AgentRun session idles out at the backend's default, not at ttl_s
                record = await self._claim_pooled(sandbox_type, user_id, session_id, ttl)
            launched = record is None
            if record is None:
                await self._check_capacity()
                record = await self._launch(
                    sandbox_type, user_id, session_id, ttl, idle_timeout_s=ttl_s
                )
        except BaseException:
            if keeper is not None:
                await keeper.give_up()
            raise
        try:
            if launched:  # creates racing past the check above: the last to count loses
                await self._check_capacity(including=record.id)
            # QuotaExceeded: another instance gave the user their last one meanwhile
            await self.quota.hold(ticket, record.id)
            bound = True
            if keeper is not None:
                assert session_id is not None
                etag = await keeper.stop()  # no renewal may race the bind's compare-and-set
                bound = etag is not None and await self.registry.bind(
                    user_id, session_id, sandbox_type, record.id, etag
                )
        except BaseException:  # refused or failed: the caller is told so, nothing is left
            await self._discard(record.id)
            if keeper is not None:
                await keeper.give_up()
            raise
        if not bound:
            # another instance took the session over (our claim lapsed): ours goes
            await self._discard(record.id)
            return None
        if record.expires_at - time.time() < record.ttl_s / 2:
            await self.renew(record.id)  # a short ttl_s: it counts from the answer
        return record

    async def _discard(self, sandbox_id: str) -> None:
        """Delete a sandbox whose create failed, whatever interrupts it; a store or backend
        that fails here leaves it to expire and the reaper (logged)."""
        try:
            await asyncio.shield(self.delete(sandbox_id))
        except Exception as exc:
            log.warning("sandbox %s: could not undo its failed create: %s", sandbox_id, exc)

    async def _count(self) -> int:
        pooled = [len(await self.registry.pooled(t)) for t in self.pool_types]
        return len(await self.registry.ids()) + sum(pooled)

    async def _end_lapsed(self) -> int:
        """End every sandbox past its TTL with no call in flight (as the reaper's next round
        would); how many recorded sandboxes hold no container (ended here, or gone)."""
        from functions.runtime.services.log import gather_bounded

        ids = await self.registry.ids()
        held = await gather_bounded(self.holding(i) for i in ids)
        return sum(1 for record in held if record is None)

    async def _check_capacity(self, including: str | None = None) -> None:
        """``SandboxLimit`` (429) when ``MAX_SANDBOX_INSTANCES`` sandboxes run; ``including``:
        a sandbox just recorded, counted among them (over the limit, it is the one too many).

        A count before a launch lets creates racing on several instances all pass; each
        counts again once its sandbox is recorded and the one that then finds the limit
        passed gives its sandbox up. The last of them to be recorded sees every other, so
        the limit holds (racing creates at the limit may all be refused: retryable).
        """
        count = await self._count()
        limit = self.settings.max_sandbox_instances
        if including is None and count >= limit and await self._end_lapsed():
            count = await self._count()  # sandboxes past their TTL ran until now: room made
        if count > limit or (including is None and count == limit):
            running = count - 1 if including is not None else count
            raise SandboxLimit(
                f"{running} sandboxes are running, the limit (MAX_SANDBOX_INSTANCES) is "
                f"{limit}; delete one or retry later",
            )

    async def _claim_pooled(
        self, sandbox_type: str, user_id: str, session_id: str | None, ttl: float
    ) -> SandboxRecord | None:
        """A warm sandbox from the pool, made ours; None when the pool has none."""
        if sandbox_type not in self.pool_types or self.settings.sandbox_pool_size <= 0:
            return None
        claimed = None
        for pooled_id in await self.registry.pooled(sandbox_type):
            found = await self.registry.get_pooled(sandbox_type, pooled_id)
            if found is None or found.backend != self.launcher.name:
                continue
            now = time.time()
            record = found.model_copy(
                update={
                    "user_id": user_id,
                    "session_id": session_id,
                    "created_at": now,
                    "expires_at": now + ttl,
                    "ttl_s": ttl,
                }
            )
            try:
                await self.registry.add(record)  # create-only: the one claim that counts
            except PreconditionFailed:
                continue  # another instance claimed it first
            await self.registry.remove_pooled(sandbox_type, pooled_id)
            claimed = record
            break
        # a desktop's start (a browser's launch) would take the host's CPU from the claimer's
        # first calls; a code sandbox's is light, and its pool back sooner matters more
        desktop = SANDBOX_TYPES[sandbox_type].desktop
        self.refill_soon(self.settings.sandbox_pool_refill_delay_s if desktop else 0.0)
        return claimed

    def refill_soon(self, delay_s: float = 0.0) -> None:
        """Fill the pool in the background, after ``delay_s`` seconds."""
        task = asyncio.get_running_loop().create_task(self._fill_after(delay_s))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fill_after(self, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        await self.fill_pool()

    async def fill_pool(self) -> int:
        """Start sandboxes until each pooled type has SANDBOX_POOL_SIZE warm ones."""
        started = 0
        async with self._filling:
            for sandbox_type in self.pool_types:
                missing = self.settings.sandbox_pool_size - len(
                    await self.registry.pooled(sandbox_type)
                )
                for _ in range(max(0, missing)):
                    if await self._count() >= self.settings.max_sandbox_instances:
                        return started
                    try:
                        record = await self._launch(sandbox_type, "pool", None, 0.0, pooled=True)
                    except LaunchError as exc:
                        log.warning("could not warm a %s sandbox: %s", sandbox_type, exc)
                        return started
                    try:  # creates elsewhere may have taken the room while it warmed
                        await self._check_capacity(including=record.id)
                    except SandboxLimit:
                        with contextlib.suppress(Exception):
                            await self.end_pooled(sandbox_type, record)
                        return started
                    log.info("sandbox %s warm in the %s pool", record.id, sandbox_type)
                    started += 1
        return started

    async def end_pooled(self, sandbox_type: str, record: SandboxRecord) -> None:
        """Take a warm sandbox out of the pool and stop it (one of this backend's): its
        container is stopped even when the pool entry could not be removed (a claim then
        finds it gone, the reaper drops the entry)."""
        with contextlib.suppress(Exception):
            await self.registry.remove_pooled(sandbox_type, record.id)
        if record.backend == self.launcher.name:
            await self.launcher.stop(record.handle)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        # a create under way ends recorded or removed (bounded by SANDBOX_READY_TIMEOUT_S)
        await asyncio.gather(*self._making, return_exceptions=True)

    async def _launch(
        self,
        sandbox_type: str,
        user_id: str,
        session_id: str | None,
        ttl: float,
        *,
        pooled: bool = False,
        idle_timeout_s: float | None = None,
    ) -> SandboxRecord:
        """``idle_timeout_s``: the sandbox's own ttl_s, for a backend that ends idle ones;
        None (the request named none, or the pool) leaves the backend's default."""
        sandbox_id = new_sandbox_id()
        token = secrets.token_urlsafe(32)
        launched = await self.launcher.start(sandbox_type, sandbox_id, token, idle_timeout_s)
        now = time.time()
        record = SandboxRecord(
            id=sandbox_id,
            type=sandbox_type,
            user_id=user_id,
            session_id=session_id,
            backend=self.launcher.name,
            handle=launched.handle,
            endpoint=launched.endpoint,
            token=token,
            headers=launched.headers,
            desktop_endpoint=launched.desktop_endpoint,
            created_at=now,
            expires_at=now + ttl,
            ttl_s=ttl,
        )
        try:
            if pooled:
                await self._until_warm(sandbox_type, launched, token)
            await (self.registry.add_pooled if pooled else self.registry.add)(record)
        except BaseException:
            await self.launcher.stop(launched.handle)  # never leave a container unrecorded
            # nor a record without its container: a write the store failed may have landed
            with contextlib.suppress(Exception):
                if pooled:
                    await self.registry.remove_pooled(sandbox_type, sandbox_id)
                else:
                    await self.registry.remove(sandbox_id)
            raise
        if not pooled:
            log.info("sandbox %s (%s) started for user %s", sandbox_id, sandbox_type, user_id)
        return record

    async def _until_warm(self, sandbox_type: str, launched: Launched, token: str) -> None:
        """Hold a pooled desktop sandbox until what its tool server starts behind itself (the
        desktop; a browser with its page open) is up: the tool server's ``GET /ready?wait=``.
        So whoever claims it from the pool pays none of that start on the first call. One
        not ready within SANDBOX_READY_TIMEOUT_S, or whose start failed, is pooled anyway
        (its first call waits for the start, or starts it again); a failure is logged with
        the reasons the tool server gives."""
        if not SANDBOX_TYPES[sandbox_type].desktop:
            return  # a code sandbox is ready once its tool server answers
        import httpx

        wait = self.settings.sandbox_ready_timeout_s
        headers = {**launched.headers, **self.launcher.tool_headers(token)}
        failed: Any = None
        try:
            async with httpx.AsyncClient(
                timeout=wait + HTTP_TIMEOUT_MARGIN_S, auth=self.launcher.call_auth()
            ) as http:
                answer = await http.get(
                    f"{launched.endpoint}/ready", params={"wait": f"{wait:g}"}, headers=headers
                )
            body = answer.json() if answer.status_code == 200 else {}
            ready, failed = body.get("ready") is True, body.get("failed")
        except (httpx.HTTPError, ValueError, AttributeError):  # no answer, or not the server's
            ready = False
        if failed:
            why = "; ".join(str(f) for f in failed) if isinstance(failed, list) else str(failed)
            log.warning(
                "a pooled %s sandbox's start failed: %s", sandbox_type, why[:READY_FAILURE_CHARS]
            )
        elif not ready:
            log.warning("a pooled %s sandbox's desktop did not start in time", sandbox_type)

    # -- find, renew, delete ---------------------------------------------------------------

    async def live(self, sandbox_id: str) -> SandboxRecord | None:
        """The record if it exists and has not expired; an expired one is removed on sight.

        So is one another backend launched (the store outlived a change of SANDBOX_BACKEND):
        this launcher cannot reach it, and the session then gets one of its own.
        """
        found = await self._current(sandbox_id)
        if found is None:
            return None
        record, etag = found
        if record.expires_at - time.time() < record.ttl_s / 2:
            record.expires_at = time.time() + record.ttl_s
            if await self.registry.renew(record, etag) is None:
                # someone else renewed it, or claimed its end: which, the record says
                again = await self.registry.get(sandbox_id)
                if again is None or again[0].ending:
                    return None
                record = again[0]
        return record

    async def _current(self, sandbox_id: str) -> tuple[SandboxRecord, str] | None:
        """(record, etag) of a sandbox still on; None when there is no record this version
        reads, or once it is ended here: another backend's (the store outlived a change of
        SANDBOX_BACKEND: this launcher cannot reach it), or one past its TTL with no call
        in flight."""
        found = await self.registry.get(sandbox_id)
        if found is None:
            return None
        record, etag = found
        if record.backend != self.launcher.name:
            await self.delete(sandbox_id)
            return None
        if await self._end_if_lapsed(record, etag):
            return None
        return found

    async def _lapsed(self, record: SandboxRecord) -> bool:
        """Past its TTL, or claimed for its end, with no call in flight: to be ended (a call
        in flight renews it as it ends; one that began as the claim was made keeps it too)."""
        if not (record.ending or record.expired()):
            return False
        return not await self.registry.calls_in_flight(record.id)

    async def _end_if_lapsed(self, record: SandboxRecord, etag: str) -> bool:
        """End the sandbox if :meth:`_lapsed` (True). The end is claimed first, by a
        compare-and-set of the record read (``ending``): a renewal or a call's start that
        landed since wins and keeps it (False; so does another instance's claim, whose end
        follows)."""
        if not await self._lapsed(record):
            return False
        if not record.ending:
            claimed = record.model_copy(update={"ending": True})
            claimed_etag = await self.registry.renew(claimed, etag)
            if claimed_etag is None:
                return False
            if await self.registry.calls_in_flight(record.id):
                # a call began between the look and the claim: the claim is taken back, so
                # that the call's end can renew the record (no renewal revives a claimed
                # one); should that write lose, the claim stays, the call still holds the
                # sandbox (no one ends it while its marker lasts), and it ends after it
                await self.registry.renew(record, claimed_etag)
                return False
        await self.delete(record.id)
        return True

    async def holding(self, sandbox_id: str) -> SandboxRecord | None:
        """The sandbox's record while it holds a container; None once it is gone (or is
        another version's, or another backend's). One past its TTL with no call in flight
        is ended here (so counting sandboxes ends what the reaper would: until then its
        container runs), and so is another backend's (``live`` would). Never renews it.
        Used to count: a store or backend that fails to end one is logged, and the
        sandbox counted as gone (its record went first; the reaper ends the rest)."""
        try:
            found = await self._current(sandbox_id)
            if found is None:
                await self.registry.remove_unreadable(sandbox_id)  # one naming no container
                return None
        except (StoreError, SandboxBackendError) as exc:
            log.warning("sandbox %s: could not end it while counting: %s", sandbox_id, exc)
            return None
        return found[0]

    async def begin_call(self, record: SandboxRecord) -> str | None:
        """Before a call: mark it in flight if it could outlast the record's expiry (a
        short ``ttl_s``); the marker's key, or None when no marker is needed."""
        now = time.time()
        if record.expires_at >= now + CALL_DEADLINE_S:
            return None
        return await self.registry.begin_call(record.id, now + CALL_DEADLINE_S)

    async def end_call(self, record: SandboxRecord, marker: str | None) -> None:
        """After a call, whatever its outcome: drop its marker and renew the record, so the
        TTL counts from the call's end. Best effort: the call's answer is what matters, a
        marker left behind lapses at its deadline."""
        try:
            # the renewal before the marker goes: between the two, a call that outlasted
            # the TTL would leave a sandbox past it with no call in flight, for any
            # instance to end
            if marker is not None or record.expires_at - time.time() < record.ttl_s / 2:
                await self.renew(record.id)  # else a quick call: nothing to pay for
            if marker is not None:
                await self.registry.end_call(marker)
        except StoreError as exc:
            log.warning("sandbox %s: could not end a call's bookkeeping: %s", record.id, exc)

    async def renew(self, sandbox_id: str) -> None:
        """Push the expiry to a full ``ttl_s`` from now when less than half of it is left."""
        for _ in range(RENEW_ATTEMPTS):
            found = await self.registry.get(sandbox_id)
            if found is None:
                return  # deleted meanwhile: nothing to renew
            record, etag = found
            now = time.time()
            if record.ending or record.expires_at - now >= record.ttl_s / 2:
                return  # claimed for its end: no renewal brings it back
            record.expires_at = now + record.ttl_s
            if await self.registry.renew(record, etag) is not None:
                return

    async def require(self, sandbox_id: str) -> SandboxRecord:
        validate_plain_id(sandbox_id, "sandbox_id")
        record = await self.live(sandbox_id)
        if record is None:
            raise SandboxNotFound(f"no sandbox {sandbox_id!r} (never made, deleted or expired)")
        return record

    async def delete(self, sandbox_id: str) -> bool:
        """Forget it, then stop it; False when there was nothing to delete (not an error).

        The record goes first: from then on every request finds the sandbox gone, however
        long the backend takes. A stop that fails while another remover (a racing DELETE,
        the reaper) gets there is done; one that leaves it running is a 502, and the
        reaper ends the orphan.
        """
        found = await self.registry.get(sandbox_id)
        if found is None:
            return False
        record = found[0]
        await self.registry.remove(sandbox_id)
        try:
            await self.quota.release(record.user_id, sandbox_id)
        except StoreError as exc:  # left counted: the quota drops it once it sees it gone
            log.warning("sandbox %s: could not uncount it: %s", sandbox_id, exc)
        for marker in await self.registry.call_markers(sandbox_id):
            await self.registry.end_call(marker)
        if record.backend == self.launcher.name:  # another backend's: not ours to stop
            try:
                await self.launcher.stop(record.handle)
            except Exception as exc:
                if await self._running(record.handle):
                    raise SandboxBackendError(
                        f"sandbox {sandbox_id!r} was forgotten but would not stop "
                        f"({scrubbed(str(exc), record.handle)}); the reaper ends it"
                    ) from exc
        return True

    async def _running(self, handle: str) -> bool:
        try:
            return await self.launcher.alive(handle)
        except Exception:  # the backend cannot even say: assume the worst
            return True

    async def forget_if_gone(self, record: SandboxRecord) -> bool:
        """After a failed call: if the sandbox was deleted meanwhile, or its container is
        gone, it is gone (True; its record dropped)."""
        if await self.registry.get(record.id) is None:
            return True  # a removal raced the call
        if await self.launcher.alive(record.handle):
            return False
        await self.delete(record.id)
        return True

    # -- pause, resume ---------------------------------------------------------------------

    async def set_paused(self, sandbox_id: str, paused: bool) -> SandboxRecord:
        """Freeze or thaw it (idempotent); ``NotSupported`` (501) where the backend cannot."""
        record = await self.require(sandbox_id)
        if not self.launcher.can_pause:
            raise NotSupported(
                f"the {self.launcher.name} backend cannot pause and resume sandboxes"
            )
        # the backend is asked even when the record says so already: a step whose answer
        # was lost may have left the two apart, and asking again (idempotent on every
        # backend) is what makes them agree again
        agreed = record.paused == paused
        try:
            await (self.launcher.pause if paused else self.launcher.resume)(record.handle)
        except (BackendThrottled, BackendUnavailable):
            raise
        except SandboxGone:  # the backend says it is gone: so is its record
            await self.delete(sandbox_id)
            raise
        except LaunchError as exc:
            if await self.forget_if_gone(record):
                raise SandboxGone(
                    f"sandbox {sandbox_id!r} stopped running and was removed"
                ) from exc
            raise SandboxBackendError(scrubbed(str(exc), record.handle)) from exc
        if agreed:  # nothing to write, nor to undo if writing failed
            return record
        try:
            for _ in range(RENEW_ATTEMPTS):  # the flag is compare-and-set, like renewals
                found = await self.registry.get(sandbox_id)
                if found is None:
                    raise SandboxGone(f"sandbox {sandbox_id!r} was deleted meanwhile")
                current, etag = found
                current.paused = paused
                if await self.registry.renew(current, etag) is not None:
                    return current
            raise SandboxRace("the sandbox changed while pausing; retry")
        except (StoreError, SandboxRace):
            # the record could not say so: undo, so that the record and the backend agree
            with contextlib.suppress(Exception):
                await (self.launcher.resume if paused else self.launcher.pause)(record.handle)
            raise

    async def list(self, user_id: str) -> list[SandboxRecord]:
        validate_id(user_id, "user_id")
        out = []
        for sandbox_id in await self.registry.ids():
            found = await self.registry.get(sandbox_id)
            if found is None or found[0].user_id != user_id:
                continue
            if not await self._lapsed(found[0]):  # one a call keeps past its TTL is live
                out.append(found[0])
        return out

    # -- reaping ---------------------------------------------------------------------------

    async def _recorded(self, sandbox_id: str) -> bool:
        if await self.registry.exists(sandbox_id):  # another version's record counts too
            return True
        for sandbox_type in self.pool_types:
            if await self.registry.get_pooled(sandbox_type, sandbox_id) is not None:
                return True
        return False

    async def reap(self) -> Reaped:
        """Remove expired sandboxes and those no longer running on the backend (a container
        killed or crashed: one backend look each, a backend that cannot tell keeps it), then
        containers of ours that no record knows."""
        expired = gone = 0
        known: set[str] = set()
        for sandbox_id in await self.registry.ids():
            found = await self.registry.get(sandbox_id)
            if found is None:  # deleted meanwhile, or unreadable: then it reaches nothing
                if await self.registry.remove_unreadable(sandbox_id):
                    gone += 1  # its container, if any, is an orphan below
                continue
            record = found[0]
            if await self._end_if_lapsed(record, found[1]):
                expired += 1
            elif record.backend == self.launcher.name and not await self._running(record.handle):
                await self.delete(sandbox_id)  # a record made after the scan began is not
                gone += 1  # read: every record read here named a sandbox already running
            else:
                known.add(record.handle)
        now = time.time()
        for marker in await self.registry.call_markers():
            if call_deadline(marker) <= now:  # its call's instance died before ending it
                await self.registry.end_call(marker)
        for sandbox_type in self.pool_types:
            for pooled_id in await self.registry.pooled(sandbox_type):
                if await self.registry.get(pooled_id) is not None:
                    # claimed, but the claimer stopped before removing the pool entry
                    await self.registry.remove_pooled(sandbox_type, pooled_id)
                    continue
                pooled = await self.registry.get_pooled(sandbox_type, pooled_id)
                if pooled is not None:
                    known.add(pooled.handle)
                else:  # claimed meanwhile, or unreadable: its container is an orphan below
                    await self.registry.remove_pooled(sandbox_type, pooled_id)
        orphans = 0
        # a container is recorded once it is ready: a younger one may still be launching
        # (another instance's; this instance's pool fills wait for the scan to finish)
        grace = self.settings.sandbox_orphan_grace_s
        async with self._filling:
            for handle, (sandbox_id, started_at) in (await self.launcher.owned()).items():
                if handle in known or time.time() - started_at < grace:
                    continue
                if sandbox_id and await self._recorded(sandbox_id):
                    continue  # recorded since we listed
                await self.launcher.stop(handle)
                orphans += 1
        if expired or orphans or gone:
            log.info(
                "reaped %d expired sandboxes, %d no longer running and %d orphaned containers",
                expired,
                gone,
                orphans,
            )
        if self.settings.sandbox_pool_size > 0:
            await self.fill_pool()
        return Reaped(expired, orphans, gone)
