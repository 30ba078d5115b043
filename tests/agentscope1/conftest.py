"""Run only in .venv-agentscope1, with ``--confcutdir tests/agentscope1`` so that the main
suite's conftest (Docker, moto, packaging fixtures) is not loaded here."""
