pytest_plugins = [
    "tests.fixtures.stores",
    "tests.fixtures.store_faults",
    "tests.fixtures.docker",
    "tests.fixtures.artifacts",
]
