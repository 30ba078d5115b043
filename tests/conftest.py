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
