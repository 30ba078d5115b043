"""Helpers the sandbox suites share."""

from __future__ import annotations

import asyncio
import json
import time

from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
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
    return docker_client.containers.list(all=True, filters={"label": label})


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
