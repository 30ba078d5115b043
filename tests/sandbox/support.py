"""Helpers the sandbox suites share."""

from __future__ import annotations

from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
from functions.runtime.settings import Settings


def containers_of(docker_client, settings: Settings) -> list:
    """Every container the deployment of ``settings`` owns, running or not."""
    return docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_OWNER}={owner_id(settings)}"}
    )


def text_of(result: dict) -> str:
    return "".join(part["text"] for part in result["content"])
