import asyncio
import sys
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.stores",
    "tests.fixtures.store_faults",
    "tests.fixtures.docker",
    "tests.fixtures.artifacts",
    "tests.fixtures.browser",
]

# agentscope 1.x's suite runs in .venv-agentscope1 (tests/agentscope/test_agentscope1.py
# starts it there): 1.x and this environment's agentscope 2.x cannot share one
collect_ignore = ["agentscope1"]

# a test that is the first of its worker to want the packaged zips, the Docker engine or
# the sandbox images makes them (the zips up to build_host's 1200 s; the engine's install
# and the base image's debootstrap take minutes on a fresh machine) or waits for another
# worker's build: pyproject's 300 s per test would count that time against it
SLOW_SETUP_FIXTURES = frozenset(
    {"host_artifacts", "agentscope_artifacts", "docker_client", "sandbox_images_built"}
)
SLOW_SETUP_TEST_TIMEOUT_S = 1500


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = SLOW_SETUP_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_SETUP_TEST_TIMEOUT_S))


@pytest.fixture(autouse=True, scope="module")
def _example_app_stopped_after_each_module() -> Iterator[None]:
    """The query function's default app (``examples.friday``) is one object per process,
    and its init (which reads the process's settings: the model) runs once per start. A
    module that serves it without its shutdown (a Lambda handler never shuts down) would
    leave it started for the next module's servers, which would then skip the init and
    answer with the first module's model; pytest-xdist's workers run the modules in orders
    of their own. So it is stopped when each module ends."""
    yield
    friday = sys.modules.get("examples.friday")
    if friday is not None:
        asyncio.run(friday.agent_app.close())  # nothing to do when it is not started
