"""A call's limits in real sandboxes, through the sandbox function (issue 16, item 4).

A timeout is cut to SANDBOX_MAX_CALL_TIMEOUT_S (the Docker launcher puts it in the
container's environment, the FC functions carry it in theirs); a busy interpreter answers
"busy" at once; a cell printing 100 MB into a container whose /tmp is a 64 MB tmpfs keeps
the interpreter and its variables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from functions.runtime.settings import Settings
from tests.sandbox.support import text_of

CAPPED_PREFIX = "capped-sandbox-"


@pytest.fixture
def capped(settings: Settings, backend_deployment) -> Iterator[Settings]:
    """Settings whose sandboxes allow calls of 1 s at most; on fc, functions deployed so."""
    capped = settings.model_copy(update={"sandbox_max_call_timeout_s": 1.0})
    emulator, _ = backend_deployment
    if emulator is None:
        yield capped
        return
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    from local_emulator.fc import register_sandbox_functions

    capped = capped.model_copy(update={"fc_sandbox_function_prefix": CAPPED_PREFIX})
    register_sandbox_functions(emulator, capped, ("base",))
    try:
        yield capped
    finally:
        from tests.sandbox.conftest import end_fc_sessions

        end_fc_sessions(capped)
        Client(
            Config(
                access_key_id=emulator.access_key_id,
                access_key_secret=emulator.access_key_secret,
                endpoint=emulator.url.removeprefix("http://"),
                protocol="http",
            )
        ).delete_function(f"{CAPPED_PREFIX}base")


def call(http: httpx.Client, sid: str, tool: str, **args: object) -> dict:
    answer = http.post(f"/v1/sandboxes/{sid}/tools/{tool}", json=args)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_timeout_beyond_the_cap_is_cut_to_it(serve, capped):
    http = serve(capped)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    call(http, sid, "run_ipython_cell", code="lost = 1")
    endless = call(http, sid, "run_ipython_cell", code="while True: pass", timeout=1000000)
    assert endless["isError"] is True
    assert "ran longer than 1 s" in text_of(endless)
    assert "SANDBOX_MAX_CALL_TIMEOUT_S" in text_of(endless)
    shell = call(http, sid, "run_shell_command", command="sleep 600", timeout=1000000)
    assert shell["isError"] is True and "killed" in text_of(shell)
    assert text_of(call(http, sid, "run_ipython_cell", code="'next'")) == "'next'\n"


def test_a_busy_interpreter_answers_busy_at_once(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    call(http, sid, "run_ipython_cell", code="kept = 41")
    waiting = (
        "import os, time\n"
        "open('started', 'w').close()\n"
        "while not os.path.exists('go'):\n    time.sleep(0.01)\n"
        "'first done'"
    )
    first: list[dict] = []
    runner = threading.Thread(
        target=lambda: first.append(call(http, sid, "run_ipython_cell", code=waiting, timeout=120))
    )
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while http.get(f"/v1/sandboxes/{sid}/files/started").status_code != 200:
            assert time.monotonic() < deadline, "the first cell never started"
            time.sleep(0.02)
        busy = call(http, sid, "run_ipython_cell", code="kept = 0")
        assert busy["isError"] is True and text_of(busy).startswith("busy:")
    finally:
        http.put(f"/v1/sandboxes/{sid}/files/go", content=b"").raise_for_status()
        runner.join()
    assert text_of(first[0]) == "'first done'\n"
    assert text_of(call(http, sid, "run_ipython_cell", code="kept + 1")) == "42\n"


def test_a_cell_printing_100_mb_keeps_the_interpreter_and_its_variables(serve, settings):
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    call(http, sid, "run_ipython_cell", code="kept = 'yes'")
    code = "import sys\nfor _ in range(100): sys.stdout.write('a' * 1000000)"
    flood = call(http, sid, "run_ipython_cell", code=code, timeout=120)
    assert flood["isError"] is False, text_of(flood)[-500:]
    text = text_of(flood)
    assert text.startswith("a" * 1000) and "output truncated: 99934464 more bytes" in text
    assert text_of(call(http, sid, "run_ipython_cell", code="kept")) == "'yes'\n"
