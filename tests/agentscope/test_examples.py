"""Both AgentScope examples through the query function over HTTP, code run in a real container.

* examples/agentscope_friday.py (agentscope 2.x, this environment) under the emulator, as
  ``AGENT_APP=examples.agentscope_friday:agent_app make local`` runs it: the offline demo
  model behind the emulator's Chat Completions endpoint, sandboxes on Docker.
* examples/seed_friday_v1.py (agentscope 1.x) in .venv-agentscope1, which ``make test``
  builds: its query function served by ``functions.runtime.serve`` there, talking to a
  sandbox function and the offline model endpoint served here.

The 1.x suite (tests/agentscope1) also runs in that virtualenv, from here, so that one
``pytest`` run (``make test``) covers both majors.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.settings import Settings
from local_emulator.chat_completions import offline_model_app
from tests.agentscope.stream import events_of
from tests.e2e.test_emulator import emulator_env
from tests.fixtures.docker import remove_sandboxes_of
from tests.fixtures.servers import ROOT, run_emulator, serve_app, serve_process

VENV1 = ROOT / ".venv-agentscope1"
PYTHON1 = VENV1 / "bin" / "python"
RUN_THIS = "Run this:\n```python\nx = 6 * 7\nprint(x)\n```"
AND_THIS = "And:\n```python\nx + 1\n```"


def needs_venv1() -> None:
    if not PYTHON1.exists():
        pytest.fail(
            f"no {VENV1.name}: `make test` (or `make agentscope1`) builds the agentscope 1.x "
            "virtualenv these tests run in",
            pytrace=False,
        )


def say(url: str, text: str, session_id: str) -> dict:
    body = {
        "session_id": session_id,
        "user_id": "u1",
        "input": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    resp = httpx.post(f"{url}/process", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    events = events_of(resp.text)
    assert events[-1]["status"] == "completed", events[-1]
    return events[-1]


def test_the_agentscope1_suite_passes_in_its_virtualenv():
    needs_venv1()
    done = subprocess.run(
        [
            str(PYTHON1),
            "-m",
            "pytest",
            "tests/agentscope1",
            "-q",
            "-p",
            "no:cacheprovider",
            "--confcutdir",
            "tests/agentscope1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_agentscope_friday_runs_code_in_the_sessions_sandbox(
    tmp_path, docker_client, sandbox_images_built
):
    app = "examples.agentscope_friday:agent_app"
    env = emulator_env(tmp_path, MODEL_BASE_URL="", AGENT_APP=app)
    url = f"http://127.0.0.1:{env['QUERY_PORT']}"
    state = f"http://127.0.0.1:{env['STATE_PORT']}"
    with run_emulator(env):  # which removes the session's sandbox as it ends
        first = say(url, RUN_THIS, "c1")
        second = say(url, AND_THIS, "c1")
        saved = httpx.get(f"{state}/v1/users/u1/sessions/c1/state", timeout=30).json()

    call, output, answer = first["output"]
    assert call["type"] == "plugin_call" and output["type"] == "plugin_call_output"
    assert call["content"][0]["data"]["name"] == "run_ipython_cell"
    assert call["content"][0]["data"]["call_id"] == output["content"][0]["data"]["call_id"]
    assert output["content"][0]["data"]["output"] == "42\n"  # run in the container
    assert answer["content"][0]["text"].endswith("returned: 42\n")
    assert first["usage"]["total_tokens"] > 0
    # the second turn ran in the same sandbox, and the agent's state came back with it
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    assert saved["round_id"] == 2
    said = [
        block.get("text")
        for msg in saved["state"]["context"]
        for block in msg["content"]
        if block["type"] == "text" and msg["role"] == "user"
    ]
    assert said == [RUN_THIS, AND_THIS]


@pytest.fixture
def sandbox_function(tmp_path, docker_client, sandbox_images_built) -> Iterator[str]:
    """The sandbox function (Docker launcher) served here on 127.0.0.1."""
    from functions.sandbox.app import create_app

    settings = Settings(store_url=f"file://{tmp_path / 'sandboxes'}", sandbox_orphan_grace_s=0)
    try:
        with serve_app(create_app(settings)) as url:
            yield url
    finally:
        remove_sandboxes_of({"STORE_URL": settings.store_url})


def test_the_seeds_1x_example_runs_code_in_a_sandbox_through_the_query_function(
    tmp_path, sandbox_function
):
    needs_venv1()
    model = offline_model_app()
    with serve_app(model) as model_url:
        env = {
            **os.environ,
            "AGENT_APP": "examples.seed_friday_v1:agent_app",
            "STORE_URL": f"file://{tmp_path / 'store'}",
            "SANDBOX_URL": sandbox_function,
            "MODEL_BASE_URL": f"{model_url}/v1",
            "MODEL_API_KEY": "offline",
            "MODEL_NAME": "offline-demo",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        log = tmp_path / "query.log"
        with serve_process(env, log, python=str(PYTHON1), timeout=60) as url:
            first = say(url, RUN_THIS, "c1")
            second = say(url, AND_THIS, "c1")
    output_log = (tmp_path / "query.log").read_text()

    call, output, answer = first["output"]
    assert call["type"] == "plugin_call", output_log
    assert call["content"][0]["data"]["name"] == "execute_python_code"
    assert call["content"][0]["data"]["call_id"] == output["content"][0]["data"]["call_id"]
    assert output["content"][0]["data"]["output"] == "42\n", output_log
    assert answer["content"][0]["text"].endswith("returned: 42\n")
    # the same session's sandbox kept x; the agent's memory kept the first turn
    assert second["output"][1]["content"][0]["data"]["output"] == "43\n"
    last = model.requests[-1].body["messages"]
    users = [m["content"] for m in last if m["role"] == "user"]
    assert users == [RUN_THIS, AND_THIS]
