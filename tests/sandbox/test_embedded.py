"""Embedded mode: the SDK, or the stdio MCP server, with no ``SANDBOX_URL`` starts its sandbox
on the Docker engine itself. Such a sandbox is no deployment's: every one on the machine has
the owner label ``embedded``. These tests find and remove sandboxes by that label, so they are
the suite's only ones that make any, and share this one file: pytest-xdist runs a file whole
on one worker, so no other test's embedded sandbox is ever there to be found or removed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from functions.runtime.sandbox import BaseSandbox
from functions.runtime.sandbox.launchers.docker import LABEL_SANDBOX
from tests.fixtures.docker import remove_owned
from tests.sandbox.support import containers_of, text_of
from tests.sandbox.test_mcp_stdio import run_cells, stdio


@pytest.fixture(autouse=True)
def _embedded_removed(docker_client) -> Iterator[None]:
    """Whatever a failed test left running in embedded mode goes with it."""
    yield
    remove_owned(docker_client, "embedded")


def test_embedded_mode_starts_the_container_itself(serve, settings, docker_client):
    embedded = settings.model_copy(update={"sandbox_url": None})
    with BaseSandbox(settings=embedded) as box:
        (container,) = [
            c
            for c in containers_of(docker_client, embedded, owner="embedded")
            if c.labels[LABEL_SANDBOX] == box.sandbox_id
        ]
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert text_of(box.run_ipython_cell(code="6 * 7")) == "42\n"
    remaining = containers_of(docker_client, embedded, owner="embedded")
    assert container.id not in {c.id for c in remaining}


@pytest.mark.parametrize("sandbox_backend", ["docker"], indirect=True)
def test_embedded_mode_starts_its_own_sandbox_and_removes_it(settings, docker_client):
    params = stdio("--type", "base", SANDBOX_URL="")
    assert asyncio.run(run_cells(params, "print('in docker')")) == ["in docker\n"]
    assert containers_of(docker_client, settings, owner="embedded") == []
