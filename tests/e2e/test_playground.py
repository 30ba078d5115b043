"""The playground page in a real browser (Debian's Chromium driven by Playwright) against
the emulator (``python -m local_emulator``), and against functions that want JWTs and answer
CORS, as a deployment does (the page served by ``agentscope-faas playground``).

The model is the offline demo model's answers served by the test (tests/fakes/openai_server),
so the test can hold an answer mid-stream and see what the page shows in between: the
assertions are on the page's states, never on timings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_emulator.chat_completions import last_user_text, offline_answer, text_reply
from local_emulator.tokens import mint_token
from tests.e2e.test_emulator import emulator_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fixtures.browser import host_browser  # noqa: F401  (a fixture)
from tests.fixtures.servers import ROOT, free_port, run_emulator, wait_http

SEED_QUESTION = "What is the capital of France?"
SLOW = "Take your time with this one."
THINK = "Think first, then answer."


class ScriptedModel(FakeOpenAIServer):
    """The offline demo model's answers, except: the seed question waits after its first
    pieces until ``resume`` is set; SLOW stalls for good after its first pieces; THINK
    reasons before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.resume = threading.Event()

    async def _next(self, body: dict[str, Any]) -> Any:  # type: ignore[override]
        said = last_user_text(body.get("messages") or [])
        if said == SEED_QUESTION:
            reply = await offline_answer(body)
            reply.pause_at, reply.resume = 4, self.resume  # role, empty, 2 pieces, then wait
            return reply
        if said == SLOW:
            reply = text_reply(["Let me see", " about that", "..."])
            reply.chunks = reply.chunks[:4]
            reply.hang = True
            return reply
        if said == THINK:
            return text_reply("The answer is 4.", reasoning="2 + 2 is 4.")
        return await offline_answer(body)


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as server:
        yield server
        server.resume.set()


@pytest.fixture(scope="module")
def emulator(model, tmp_path_factory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("playground")
    env = emulator_env(tmp, MODEL_BASE_URL=model.base_url, MODEL_API_KEY="unused")
    with run_emulator(env):
        yield env


@pytest.fixture
def page(host_browser, emulator) -> Iterator[Any]:  # noqa: F811
    """A fresh page of the playground, with every URL it requested in ``page.requested``."""
    context = host_browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.base = f"http://127.0.0.1:{emulator['QUERY_PORT']}"
    page.goto(page.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    try:
        yield page
    finally:
        context.close()


def send(page: Any, text: str) -> Any:
    """Type ``text`` and send it; the new turn's locator."""
    page.fill("#prompt", text)
    page.click("#send")
    turn = page.locator(".turn").last
    turn.wait_for()
    return turn


def test_the_seed_question_streams_in_parts_and_completes(page, model):
    from playwright.sync_api import expect

    turn = send(page, SEED_QUESTION)
    answer = turn.locator(".msg.assistant")
    # the model is holding its answer: what came so far is on the page, and no more
    expect(answer).to_contain_text("[offline demo model]")
    expect(turn).to_have_attribute("data-status", "streaming")
    expect(turn.locator(".turn-status")).to_have_text("streaming…")
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#send")).to_be_disabled()
    partial = answer.inner_text()
    assert "talk to a real model" not in partial
    model.resume.set()
    expect(turn).to_have_attribute("data-status", "completed")
    final = answer.inner_text()
    assert final.startswith(partial) and len(final) > len(partial)
    assert final.endswith("to talk to a real model.") and SEED_QUESTION in final
    expect(page.locator("#stop")).to_be_disabled()
    # the new session is current and listed under its first message
    current = page.locator("#sessions li.current")
    expect(current).to_contain_text(SEED_QUESTION)
    assert page.locator("#session-line").inner_text().startswith("Session ")
    # everything the page loaded came from the emulator: no CDN, nothing else
    assert all(url.startswith(page.base + "/") for url in page.requested), page.requested


def test_a_fenced_code_block_shows_the_tool_call_and_its_output(
    page, docker_client, sandbox_images_built, tmp_path
):
    from playwright.sync_api import expect

    turn = send(page, "Run this:\n```python\nx = 6 * 7\nprint(x)\n```")
    call = turn.locator("details.tool-call")
    expect(call).to_have_attribute("data-state", "done", timeout=120_000)
    expect(turn).to_have_attribute("data-status", "completed")
    assert call.get_attribute("data-name") == "execute_python_code"
    expect(call.locator("summary")).to_have_text("Tool call: execute_python_code")
    # collapsed until opened, then its arguments and output are there to read
    expect(call.locator(".tool-output")).not_to_be_visible()
    call.locator("summary").click()
    expect(call.locator(".tool-args")).to_contain_text('"code": "x = 6 * 7\\nprint(x)\\n"')
    expect(call.locator(".tool-output")).to_have_text("42")
    expect(turn.locator(".msg.assistant").last).to_contain_text("returned: 42")
    # the user's fenced code is drawn as code
    expect(turn.locator(".msg.user pre code")).to_have_text("x = 6 * 7\nprint(x)\n")


def test_reasoning_is_a_collapsed_block_before_the_answer(page):
    from playwright.sync_api import expect

    turn = send(page, THINK)
    expect(turn).to_have_attribute("data-status", "completed")
    reasoning = turn.locator("details.reasoning")
    expect(reasoning.locator("summary")).to_have_text("Reasoning")
    assert reasoning.get_attribute("open") is None
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning-text")).to_have_text("2 + 2 is 4.")
    expect(turn.locator(".msg.assistant")).to_have_text("The answer is 4.")


def test_a_slow_turn_stops_from_the_stop_button_and_the_session_goes_on(page):
    from playwright.sync_api import expect

    turn = send(page, SLOW)
    expect(turn.locator(".msg.assistant")).to_have_text("Let me see about that")
    expect(turn).to_have_attribute("data-status", "streaming")
    page.click("#stop")
    expect(turn).to_have_attribute("data-status", "canceled")
    expect(turn.locator(".turn-status")).to_have_text("stopped")
    expect(turn.locator(".msg.assistant")).to_have_text("Let me see about that")  # kept
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()
    session = page.locator("#sessions li.current").get_attribute("data-session-id")
    stored = httpx.get(f"{page.base}/v1/users/default/sessions/{session}/messages").json()
    assert [m.get("status") for m in stored["items"]][-1] == "incomplete"
    after = send(page, "Are you still there?")  # the session was freed: it goes on
    expect(after).to_have_attribute("data-status", "completed")
    expect(after.locator(".msg.assistant")).to_contain_text("Are you still there?")
    assert page.locator("#sessions li.current").get_attribute("data-session-id") == session


def test_an_earlier_session_reopens_from_the_list_with_its_history(page):
    from playwright.sync_api import expect

    body = {
        "session_id": "earlier-1",
        "stream": False,
        "input": [{"role": "user", "content": [{"type": "text", "text": "Remember me?"}]}],
    }
    assert httpx.post(f"{page.base}/process", json=body, timeout=60).status_code == 200
    page.click("#refresh-sessions")
    item = page.locator('#sessions li[data-session-id="earlier-1"]')
    expect(item).to_contain_text("Remember me?")
    page.click("#new-chat")
    expect(page.locator("#messages .turn")).to_have_count(0)
    item.locator("button").click()
    expect(page.locator("#session-line")).to_have_text("Session earlier-1")
    turns = page.locator("#messages .turn")
    expect(turns).to_have_count(1)
    expect(turns.first.locator(".msg.user")).to_have_text("Remember me?")
    expect(turns.first.locator(".msg.assistant")).to_contain_text('You said: "Remember me?"')
    assert page.url.endswith("#session=earlier-1")
    # a link to the session opens it too, and the conversation continues there
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#messages .turn .msg.user")).to_have_text("Remember me?")
    again = send(page, "And now?")
    expect(again).to_have_attribute("data-status", "completed")
    messages = httpx.get(f"{page.base}/v1/users/default/sessions/earlier-1/messages").json()
    assert [m["role"] for m in messages["items"]] == ["user", "assistant"] * 2


def test_every_session_is_listed_past_the_state_functions_first_page(page):
    """The state function lists sessions a page at a time in id order: the list follows
    next_cursor, so a user with more than a page of sessions still sees the newest."""
    from playwright.sync_api import expect

    sessions = f"{page.base}/v1/users/many/sessions"
    with httpx.Client(timeout=30) as http:
        for n in range(201):  # one more than the page holds
            answer = http.post(sessions, json={"session_id": f"s-{n:03d}"})
            assert answer.status_code == 201, answer.text
        first = http.get(sessions, params={"limit": 200}).json()
    assert first["next_cursor"] and "s-200" not in {s["id"] for s in first["items"]}
    page.goto(f"{page.base}/?user=many")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#sessions li[data-session-id]")).to_have_count(201)
    expect(page.locator('#sessions li[data-session-id="s-200"]')).to_have_count(1)
    expect(page.locator("#sessions li.more")).to_have_count(0)


def test_a_listing_that_never_ends_stops_at_the_pages_limit(page):
    """A state function whose pages go on for ever (or for a very busy user): the page
    lists MAX_LISTED_SESSIONS and says there are more, rather than reading without end."""
    import json

    from playwright.sync_api import expect

    served: list[str] = []

    def endless(route: Any) -> None:
        n = len(served)
        served.append(route.request.url)
        items = [{"id": f"e-{n:03d}-{i:03d}", "created_at": 1.0e9 + n} for i in range(200)]
        body = {"items": items, "next_cursor": f"page-{n + 1}"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/users/endless/sessions?*", endless)
    page.goto(f"{page.base}/?user=endless")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#sessions li[data-session-id]")).to_have_count(5000)
    expect(page.locator("#sessions li.more")).to_have_text("5000 sessions listed, more not shown")
    assert len(served) == 25  # 5000 at 200 a page, then no more requests
    assert "cursor=page-24" in served[-1] and "limit=200" in served[-1]


def test_the_readme_screenshot(page, docker_client, sandbox_images_built, tmp_path):
    """A conversation with each kind of block, as README shows it: PLAYGROUND_SCREENSHOT=
    docs/images/playground.png writes it there (else into the test's folder)."""
    from playwright.sync_api import expect

    first = send(page, "Hello! What can you do?")
    expect(first).to_have_attribute("data-status", "completed")
    second = send(page, "Run this:\n```python\nimport math\nprint(math.factorial(12))\n```")
    expect(second.locator("details.tool-call")).to_have_attribute("data-state", "done")
    expect(second).to_have_attribute("data-status", "completed")
    second.locator("details.tool-call summary").click()
    expect(second.locator(".tool-output")).to_have_text("479001600")
    third = send(page, THINK)
    expect(third).to_have_attribute("data-status", "completed")
    third.locator("details.reasoning summary").click()
    page.fill("#prompt", "And in hexadecimal?")
    shot = Path(os.environ.get("PLAYGROUND_SCREENSHOT") or tmp_path / "playground.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


# --- against a deployment: JWTs, and the page on another origin (CORS) ------------------------

SECRET = "playground-tests-" + "s" * 32


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Functions with AUTH_MODE=jwt answering CORS for the origin of a page served apart by
    `agentscope-faas playground` (the deployment's URLs, as its README says)."""
    page_port = free_port()
    tmp = tmp_path_factory.mktemp("deployment")
    env = emulator_env(
        tmp,
        MODEL_BASE_URL="",
        AUTH_MODE="jwt",
        AUTH_JWT_SECRET=SECRET,
        CORS_ALLOW_ORIGINS=f"http://127.0.0.1:{page_port}",
    )
    urls = {
        name: f"http://127.0.0.1:{env[f'{name.upper()}_PORT']}"
        for name in ("query", "state", "sandbox")
    }
    cli = str(Path(sys.executable).with_name("agentscope-faas"))
    with run_emulator(env):
        pages = []
        try:
            for port in (page_port, free_port()):  # the second origin is not listed
                pages.append(
                    subprocess.Popen(
                        [
                            cli,
                            "playground",
                            "--url",
                            urls["query"],
                            "--state-url",
                            urls["state"],
                            "--sandbox-url",
                            urls["sandbox"],
                            "--port",
                            str(port),
                        ],
                        cwd=ROOT,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
                wait_http(f"http://127.0.0.1:{port}/", pages[-1])
            yield {
                **urls,
                "page": f"http://127.0.0.1:{page_port}/",
                "unlisted": pages[1].args[-1],
            }
        finally:
            for proc in pages:
                proc.send_signal(2)
                proc.wait(timeout=15)


def test_a_page_on_an_allowed_origin_asks_for_a_token_then_talks_to_the_functions(
    host_browser,  # noqa: F811
    deployment,
):
    from playwright.sync_api import expect

    context = host_browser.new_context()
    page = context.new_page()
    calls: list[str] = []
    page.on("request", lambda request: calls.append(f"{request.method} {request.url}"))
    try:
        page.goto(deployment["page"])
        page.wait_for_selector("body[data-ready=true]")
        # the functions want a JWT: the page opens its settings on the token field
        expect(page.locator("#settings")).to_have_attribute("open", "")
        expect(page.locator("#token-row")).to_have_class("wanted")
        expect(page.locator("#notice")).to_contain_text("unauthorized")
        page.fill("#token", mint_token(SECRET, "alice"))
        page.click("#settings-form button[type=submit]")
        expect(page.locator("#who")).to_contain_text("user alice")
        turn = send(page, SEED_QUESTION)
        expect(turn).to_have_attribute("data-status", "completed")
        expect(turn.locator(".msg.assistant")).to_contain_text(SEED_QUESTION)
        expect(page.locator("#sessions li.current")).to_contain_text(SEED_QUESTION)
    finally:
        context.close()
    # it called the functions on their own origins, the browser's preflights answered
    assert f"POST {deployment['query']}/process" in calls
    assert any(c.startswith(f"GET {deployment['state']}/v1/users/alice/sessions") for c in calls)
    listed = httpx.get(
        f"{deployment['state']}/v1/users/alice/sessions",
        headers={"Authorization": f"Bearer {mint_token(SECRET, 'alice')}"},
    ).json()
    assert len(listed["items"]) == 1


def test_a_page_on_an_origin_not_allowed_cannot_use_the_functions(host_browser, deployment):  # noqa: F811
    from playwright.sync_api import expect

    context = host_browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{deployment['unlisted']}/")
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#token", mint_token(SECRET, "alice"))
        page.click("#settings-form button[type=submit]")
        turn = send(page, SEED_QUESTION)
        expect(turn).to_have_attribute("data-status", "failed")
        expect(page.locator("#notice")).to_be_visible()
    finally:
        context.close()
