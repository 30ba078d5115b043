"""The live view of browser and gui sandboxes: its URL in the sandbox's answers, and the door.

``desktop_url`` (in create/get/list answers, which only the sandbox's owner gets):

- Docker: the container's live-view port, published on 127.0.0.1, with the view token
  (``functions.runtime.sandbox.desktop.desktop_url``).
- FC and AgentRun (one port per sandbox, behind the platform's gateway): this function's
  door, ``<SANDBOX_DESKTOP_URL or this function's URL>/v1/sandboxes/{id}/desktop/{view
  token}/vnc.html#...`` (``door_desktop_url``). On Lambda, whose Function URLs carry no
  WebSocket, only SANDBOX_DESKTOP_URL gives one; without it ``desktop_url`` is null.

The door (``routes/desktop.py``) is for browsers, which cannot sign a request or send a
bearer token: the view token in the path is its only credential, checked against the
registry's record (constant-time) before anything goes upstream; the request then goes to
the tool server's ``/desktop/`` relay with the backend's headers (FC's session header,
AgentRun's data-plane token), never with the tool token. An unknown sandbox, one without a
desktop, an expired or paused one and a wrong token all get the same 404. The door reads
the registry and never writes it: watching does not renew a sandbox.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from functions.runtime.sandbox.desktop import (
    desktop_url,
    door_desktop_url,
    has_desktop,
    view_token,
)
from functions.runtime.sandbox.errors import SandboxNotFound
from functions.runtime.settings import Settings
from functions.runtime.storage.keys import validate_plain_id

from .registry import Registry, SandboxRecord

DOOR_PREFIX = "/v1/sandboxes/{sandbox_id}/desktop/{view_token}"


def desktop_url_of(record: SandboxRecord, settings: Settings, request: Request) -> str | None:
    """The record's live-view URL for its owner; None for a type without a desktop."""
    if not has_desktop(record.type):
        return None
    if record.desktop_endpoint:
        return desktop_url(record.desktop_endpoint, record.token)
    door = settings.sandbox_desktop_url
    if door is None and settings.aws_lambda_function_name is None:
        door = str(request.base_url)  # this function is its own door
    return door_desktop_url(door, record.id, record.token) if door else None


def info(record: SandboxRecord, settings: Settings, request: Request) -> dict:
    """The record as its owner sees it (``SandboxInfo``)."""
    return record.public(desktop_url_of(record, settings, request))


async def viewable(registry: Registry, sandbox_id: str, given: str) -> SandboxRecord:
    """The record whose live view ``given`` opens; ``SandboxNotFound`` (404) otherwise, the
    same answer whatever the reason, so the door tells nothing of a sandbox to a stranger."""
    validate_plain_id(sandbox_id, "sandbox_id")
    found = await registry.get(sandbox_id)
    record = found[0] if found is not None else None
    if (
        record is None
        or record.expired()
        or record.ending
        or record.paused
        or not has_desktop(record.type)
        or not hmac.compare_digest(given.encode(), view_token(record.token).encode())
    ):
        raise SandboxNotFound(f"no live view at this address for sandbox {sandbox_id!r}")
    return record
