"""The sandbox function served on 127.0.0.1, on every sandbox backend, cleaned up after.

Each test of this suite runs twice: ``docker`` (containers on the local engine) and ``fc``
(the FC launcher and the official FC SDK against the FC emulator, which runs the same images
on the same engine as FC sessions). One emulator serves a whole module; each test ends by
deleting every session it left, through the API, so the next test starts from none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from functions.runtime.sandbox.launchers.docker import owner_id
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app
from tests.fixtures.docker import remove_owned
from tests.fixtures.servers import serve_app

BACKENDS = ("docker", "fc")


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def backend_deployment(sandbox_backend: str, sandbox_images_built) -> Iterator[tuple[Any, dict]]:
    """(the FC emulator or None, the env that selects the backend: nothing for docker)."""
    if sandbox_backend == "docker":
        yield None, {}
        return
    from local_emulator.fc import deployed_emulator

    with deployed_emulator() as (emulator, env):
        yield emulator, env


@pytest.fixture(scope="module")
def backend_env(backend_deployment: tuple[Any, dict[str, str]]) -> dict[str, str]:
    return backend_deployment[1]


@pytest.fixture
def settings(tmp_path, backend_env: dict[str, str]) -> Settings:
    backend = {name.lower(): value for name, value in backend_env.items()}
    return Settings(store_url=f"file://{tmp_path / 'store'}", sandbox_orphan_grace_s=0, **backend)


def end_fc_sessions(settings: Settings) -> None:
    """Delete every session of the FC sandbox functions, as a client of the FC API would."""
    from functions.runtime.sandbox.launchers.fc import FcLauncher

    async def end() -> None:
        launcher = FcLauncher(settings)
        for handle in await launcher.owned():
            await launcher.stop(handle)

    asyncio.run(end())


@pytest.fixture
def serve(docker_client, settings: Settings) -> Iterator[Callable[..., httpx.Client]]:
    """Serve the sandbox function for ``settings``; remove its sandboxes afterwards."""
    stack: list = []
    owners: set[str] = set()  # embedded sandboxes are test_embedded.py's to remove

    def start(
        settings: Settings, front: Callable[[Any], Any] | None = None, store: Any = None
    ) -> httpx.Client:
        """``front`` wraps the app as a platform's door would (e.g. a signature check);
        ``store``: the app's store instead of ``settings.store_url``'s."""
        owners.add(owner_id(settings))
        app = create_app(settings, store=store)
        server = serve_app(front(app) if front else app)
        url = server.__enter__()
        stack.append(server)
        client = httpx.Client(base_url=url, timeout=120)
        stack.append(client)
        return client

    yield start
    for item in reversed(stack):
        item.__exit__(None, None, None)
    if settings.sandbox_backend == "fc":
        end_fc_sessions(settings)
    for owner in owners:
        remove_owned(docker_client, owner)
