"""Helpers the sandbox suites share."""

from __future__ import annotations

from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
from functions.runtime.settings import Settings


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
