"""Helpers the sandbox suites share."""

from __future__ import annotations

import asyncio
import json
import time

from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, LABEL_SANDBOX, owner_id
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.sandbox.registry import Registry, record_key


def containers_of(docker_client, settings: Settings, owner: str | None = None) -> list:
    """Every container the deployment of ``settings`` owns, running or not.

    On docker, found by the deployment's owner label (or ``owner``: "embedded" for the SDK's
    embedded mode); on fc, the FC emulator's owner label: its session containers are the
    deployment's sandboxes (tests run one at a time against it).
    """
    if settings.sandbox_backend == "fc":
        from local_emulator.fc import emulator_owner

        owner = emulator_owner(settings.fc_account_id or "")
    label = f"{LABEL_OWNER}={owner or owner_id(settings)}"
    # a container removed while listed is left out (the SDK inspects each it lists)
    return docker_client.containers.list(all=True, filters={"label": label}, ignore_removed=True)


def text_of(result: dict) -> str:
    return "".join(part["text"] for part in result["content"])


def expire(settings: Settings, sid: str) -> None:
    """Put the sandbox's record past its TTL, as time would (no waiting in tests)."""

    async def rewrite() -> None:
        store = open_store(settings.store_url, settings)
        data, etag = await store.get(record_key(sid))
        record = json.loads(data)
        record["expires_at"] = record["created_at"] - 1
        await store.put(record_key(sid), json.dumps(record).encode(), if_match=etag)

    asyncio.run(rewrite())


def call_in_flight(settings: Settings, sid: str) -> None:
    """Mark a call to the sandbox in flight for ten minutes, as a calling instance does."""
    registry = Registry(open_store(settings.store_url, settings))
    asyncio.run(registry.begin_call(sid, time.time() + 600))


def sandboxes_recorded(settings: Settings) -> set[str]:
    """The ids of every sandbox the registry records, read from the store itself."""

    async def ids() -> set[str]:
        store = open_store(settings.store_url, settings)
        try:
            return set(await Registry(store).ids())
        finally:
            await store.close()

    return asyncio.run(ids())


def unrecorded(docker_client, settings: Settings) -> list[str]:
    """The sandbox ids (labels) of the deployment's containers that no record names: what
    no quota counts and only the orphan reaper would end."""
    recorded = sandboxes_recorded(settings)
    labelled = [c.labels.get(LABEL_SANDBOX, "") for c in containers_of(docker_client, settings)]
    return [sid for sid in labelled if sid not in recorded]


def containers_made_since(docker_client, settings: Settings, since: float) -> list[str]:
    """The ids of the containers of the deployment of ``settings`` that Docker created since
    ``since`` (Unix seconds, whole ones: the caller leaves out what it made before), removed
    or not: each is one launch. Read from Docker's event log up to now."""
    owner = owner_id(settings)
    if settings.sandbox_backend == "fc":
        from local_emulator.fc import emulator_owner

        owner = emulator_owner(settings.fc_account_id or "")
    events = docker_client.events(
        since=int(since),
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create", "label": f"{LABEL_OWNER}={owner}"},
        decode=True,
    )
    try:
        return [event["Actor"]["ID"] for event in events]
    finally:
        events.close()
