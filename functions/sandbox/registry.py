"""The sandbox registry in the object store, so any instance can serve any sandbox.

```
sandboxes/{sandbox_id}                                 the record (compare-and-set on renewal)
sandbox-calls/{sandbox_id}/{deadline}-{nonce}          a call in flight (create-only, deleted
                                                       when it ends; deadline: Unix seconds)
sandbox-pool/{type}/{sandbox_id}                       a warm, unclaimed sandbox's record
users/{user}/sessions/{session}/sandboxes/{type}       the session's sandbox of a type: its id,
                                                       or a claim on making it (below)
users/{user}/quotas/sandboxes                          the user's live sandboxes, with
                                                       USER_MAX_SANDBOXES set (quota.py)
```

A sandbox whose record has expired is still not removed while one of its calls is in
flight, on whichever instance: the call's marker says so until the call ends (and renews
the record) or, should its instance die, until the deadline in its name passes. The name
carries the deadline so a LIST alone answers "is a call in flight".

A pooled sandbox is claimed by creating its ``sandboxes/{id}`` record create-only: exactly
one claimer succeeds, whoever else read the same pool entry moves on to the next.

A session's first sandbox is made under a claim: the binding is first written as
``{"pending": <nonce>, "until": <Unix seconds>}`` (create-only, or compare-and-set over a
binding whose sandbox is gone), and only its writer launches; the launch's end replaces it
with ``{"sandbox_id"}`` by compare-and-set on the claim's etag. Concurrent first uses of the
session wait for that, so one session costs one launch and one quota place. The claim is a
lease, renewed while the launch runs: one whose ``until`` passed (its instance died) is
taken over by compare-and-set, as a session lease is (``runtime/services/lock.py``); one
given up is written with ``until`` 0 (object stores offer no conditional delete).

Records sit under one ``sandboxes/`` prefix rather than under their user, because the
reaper must list every sandbox and the store can only list by prefix. The record holds the
tool server's token: the store is this deployment's private bucket, and any instance needs
the token to call the sandbox. It never leaves the function in a response.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from functions.runtime.storage.base import ObjectStore, PreconditionFailed
from functions.runtime.storage.keys import session_prefix, validate_plain_id

log = logging.getLogger("agentscope_faas.sandbox")

RECORDS = "sandboxes/"
CALLS = "sandbox-calls/"
POOL = "sandbox-pool/"
_DEADLINE_WIDTH = 12  # digits of a deadline in Unix seconds: sorts and parses as a number


class SandboxRecord(BaseModel):
    id: str
    type: str
    user_id: str
    session_id: str | None = None
    backend: str
    handle: str
    endpoint: str
    token: str
    headers: dict[str, str] = {}  # sent on every call to it (Launched.headers)
    # a desktop's live-view port as a browser on this host reaches it (Docker); None: the
    # live view goes through the sandbox function's door
    desktop_endpoint: str | None = None
    created_at: float
    expires_at: float
    ttl_s: float
    paused: bool = False  # frozen by POST .../pause; calls wait for .../resume
    # claimed for its end (past its TTL): a compare-and-set on the record read, so a renewal
    # that landed first keeps it; from then on it is gone to every reader
    ending: bool = False

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def public(self, desktop_url: str | None = None) -> dict:
        """What callers see: never the token, the headers, the handle or the endpoint; the
        live view's URL (holding the view token) only for the sandbox's owner."""
        return {
            "sandbox_id": self.id,
            "type": self.type,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "status": "paused" if self.paused else "running",
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "desktop_url": desktop_url,
        }


def parse_record(data: bytes, key: str) -> SandboxRecord | None:
    """The record stored at ``key``; None for one this version cannot read (cut short, or
    another schema's), logged by its fields only (the record holds the sandbox's token).
    Such a record reaches no sandbox: reads take it as gone, the reaper removes it."""
    try:
        return SandboxRecord.model_validate_json(data)
    except ValidationError as exc:
        fields = ", ".join(
            f"{'.'.join(map(str, e['loc'])) or '(the record)'}: {e['type']}" for e in exc.errors()
        )
        log.warning("sandbox record %s is unreadable (%s): taken as gone", key, fields)
        return None


def record_key(sandbox_id: str) -> str:
    return RECORDS + validate_plain_id(sandbox_id, "sandbox_id")


def calls_prefix(sandbox_id: str) -> str:
    return f"{CALLS}{validate_plain_id(sandbox_id, 'sandbox_id')}/"


def call_deadline(key: str) -> float:
    """The deadline a call marker's key carries (0 for a key we did not write)."""
    head = key.rpartition("/")[2].partition("-")[0]
    return float(head) if len(head) == _DEADLINE_WIDTH and head.isdigit() else 0.0


def pool_key(sandbox_type: str, sandbox_id: str) -> str:
    plain = validate_plain_id
    return f"{POOL}{plain(sandbox_type, 'type')}/{plain(sandbox_id, 'sandbox_id')}"


def session_sandbox_key(user_id: str, session_id: str, sandbox_type: str) -> str:
    kind = validate_plain_id(sandbox_type, "type")
    return f"{session_prefix(user_id, session_id)}sandboxes/{kind}"


@dataclass
class Binding:
    """A session's binding of a sandbox type, as stored: its sandbox (``sandbox_id``) or a
    claim on making it (``claim``, lasting until ``until``, Unix seconds)."""

    etag: str
    sandbox_id: str | None = None
    claim: str | None = None
    until: float = 0.0

    def pending(self, now: float | None = None) -> bool:
        """A claim still held: its sandbox is being made (by whoever wrote it)."""
        now = time.time() if now is None else now
        return self.sandbox_id is None and self.until > now


class Registry:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def get(self, sandbox_id: str) -> tuple[SandboxRecord, str] | None:
        """(record, etag); None when there is none, or none this version can read."""
        key = record_key(sandbox_id)
        found = await self.store.get(key)
        if found is None:
            return None
        record = parse_record(found[0], key)
        return None if record is None else (record, found[1])

    async def exists(self, sandbox_id: str) -> bool:
        """Whether a record is stored for it, readable by this version or not."""
        return await self.store.get(record_key(sandbox_id)) is not None

    async def remove_unreadable(self, sandbox_id: str) -> bool:
        """Remove the sandbox's record if it names no container: not a JSON object with a
        string ``id`` and ``handle`` (cut short, say). One that names its container but
        :func:`parse_record` cannot read is another version's (a rolling deploy shares the
        store): it stays. Sandbox ids are never reused, so no readable record can have
        taken its place meanwhile."""
        key = record_key(sandbox_id)
        found = await self.store.get(key)
        if found is None:
            return False
        try:
            raw = json.loads(found[0])
        except ValueError:
            raw = None
        # a record whose id and handle are strings is kept, readable or not; one without
        # them is unreadable (both are required strings), so no second parse is needed
        if isinstance(raw, dict) and all(isinstance(raw.get(k), str) for k in ("id", "handle")):
            return False
        await self.store.delete(key)
        return True

    async def add(self, record: SandboxRecord) -> str:
        return await self.store.put(
            record_key(record.id), record.model_dump_json().encode(), if_none_match=True
        )

    async def renew(self, record: SandboxRecord, etag: str) -> str | None:
        """Write ``record`` over the one ``etag`` names (its expiry pushed out, say): the new
        etag, or None when another instance changed the record first."""
        try:
            return await self.store.put(
                record_key(record.id), record.model_dump_json().encode(), if_match=etag
            )
        except PreconditionFailed:
            return None

    async def remove(self, sandbox_id: str) -> None:
        await self.store.delete(record_key(sandbox_id))

    async def begin_call(self, sandbox_id: str, deadline: float) -> str:
        """Mark a call in flight until it ends or ``deadline`` passes; returns its key."""
        name = f"{int(deadline) + 1:0{_DEADLINE_WIDTH}d}-{secrets.token_hex(8)}"
        key = calls_prefix(sandbox_id) + name
        await self.store.put(key, b"{}", if_none_match=True)
        return key

    async def end_call(self, key: str) -> None:
        await self.store.delete(key)

    async def calls_in_flight(self, sandbox_id: str, now: float | None = None) -> bool:
        """Whether a call to the sandbox is in flight (a marker before its deadline)."""
        now = time.time() if now is None else now
        return any(call_deadline(k) > now for k in await self.store.list(calls_prefix(sandbox_id)))

    async def call_markers(self, sandbox_id: str | None = None) -> list[str]:
        """The call markers of one sandbox, or of all of them."""
        return await self.store.list(CALLS if sandbox_id is None else calls_prefix(sandbox_id))

    async def ids(self) -> list[str]:
        return [key[len(RECORDS) :] for key in await self.store.list(RECORDS)]

    async def pooled(self, sandbox_type: str) -> list[str]:
        prefix = f"{POOL}{validate_plain_id(sandbox_type, 'type')}/"
        return [key[len(prefix) :] for key in await self.store.list(prefix)]

    async def get_pooled(self, sandbox_type: str, sandbox_id: str) -> SandboxRecord | None:
        """A warm sandbox's record; None when there is none, or none this version can read."""
        key = pool_key(sandbox_type, sandbox_id)
        found = await self.store.get(key)
        return None if found is None else parse_record(found[0], key)

    async def add_pooled(self, record: SandboxRecord) -> None:
        await self.store.put(
            pool_key(record.type, record.id), record.model_dump_json().encode(), if_none_match=True
        )

    async def remove_pooled(self, sandbox_type: str, sandbox_id: str) -> None:
        await self.store.delete(pool_key(sandbox_type, sandbox_id))

    async def session_binding(
        self, user_id: str, session_id: str, sandbox_type: str
    ) -> Binding | None:
        """The session's binding for this type: its sandbox, or a claim on making it; None
        when there is none. One this version cannot read is a lapsed claim (overwritten by
        compare-and-set like any other)."""
        found = await self.store.get(session_sandbox_key(user_id, session_id, sandbox_type))
        if found is None:
            return None
        data, etag = found
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            return Binding(etag)
        sandbox_id = raw.get("sandbox_id")
        if isinstance(sandbox_id, str):
            return Binding(etag, sandbox_id=sandbox_id)
        until = raw.get("until")
        if not isinstance(until, int | float) or isinstance(until, bool):
            until = 0.0  # no readable lease: lapsed
        return Binding(etag, claim=str(raw.get("pending") or ""), until=float(until))

    async def claim_session(
        self,
        user_id: str,
        session_id: str,
        sandbox_type: str,
        claim: str,
        until: float,
        etag: str | None,
    ) -> str | None:
        """Write the claim ``claim`` on making the session's sandbox, lasting ``until``:
        create-only, or over the binding ``etag``. Its etag; None when another write came
        first."""
        body = json.dumps({"pending": claim, "until": until}).encode()
        key = session_sandbox_key(user_id, session_id, sandbox_type)
        try:
            if etag is None:
                return await self.store.put(key, body, if_none_match=True)
            return await self.store.put(key, body, if_match=etag)
        except PreconditionFailed:
            return None

    async def bind(
        self, user_id: str, session_id: str, sandbox_type: str, sandbox_id: str, etag: str | None
    ) -> bool:
        """Point the session at ``sandbox_id``: create-only, or replacing the binding ``etag``
        (the claim under which it was made).

        False when another instance wrote the binding first; the caller then uses theirs.
        """
        body = json.dumps({"sandbox_id": sandbox_id}).encode()
        key = session_sandbox_key(user_id, session_id, sandbox_type)
        try:
            if etag is None:
                await self.store.put(key, body, if_none_match=True)
            else:
                await self.store.put(key, body, if_match=etag)
        except PreconditionFailed:
            return False
        return True
