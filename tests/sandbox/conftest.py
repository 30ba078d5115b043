"""The sandbox function served on 127.0.0.1 over a real Docker engine, cleaned up after."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, owner_id
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app
from tests.fixtures.servers import serve_app


@pytest.fixture
def settings(tmp_path, sandbox_images_built) -> Settings:
    return Settings(store_url=f"file://{tmp_path / 'store'}", sandbox_orphan_grace_s=0)


@pytest.fixture
def serve(docker_client) -> Iterator[Callable[..., httpx.Client]]:
    """Serve the sandbox function for ``settings``; remove its containers afterwards."""
    stack: list = []
    owners: set[str] = {"embedded"}

    def start(settings: Settings) -> httpx.Client:
        owners.add(owner_id(settings))
        server = serve_app(create_app(settings))
        url = server.__enter__()
        stack.append(server)
        client = httpx.Client(base_url=url, timeout=120)
        stack.append(client)
        return client

    yield start
    for item in reversed(stack):
        item.__exit__(None, None, None)
    for owner in owners:
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_OWNER}={owner}"}
        ):
            c.remove(force=True)
