pytest_plugins = [
    "tests.fixtures.stores",
    "tests.fixtures.docker",
    "tests.fixtures.artifacts",
    "tests.fixtures.browser",
]
