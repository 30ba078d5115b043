"""Browser and gui sandboxes through the sandbox function and the SDK, on docker and fc.

One sandbox function (``AUTH_MODE=jwt``, as deployed), one ``BrowserSandbox`` and one
``GuiSandbox`` of alice's serve the whole module, per backend. Pages come from ``data:``
URLs or the workspace: no network. The live view is opened by a real browser on the host at
the ``desktop_url`` the SDK got: on docker the container's own port, on fc the sandbox
function's door, through the FC emulator's trigger (a WebSocket relayed twice).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from functions.runtime.sandbox import (
    AsyncBrowserSandbox,
    BrowserSandbox,
    GuiSandbox,
    sandbox_tool_adapter,
)
from functions.runtime.sandbox.desktop import SCREEN
from functions.runtime.settings import Settings
from functions.runtime.tools import Toolkit
from functions.sandbox.app import create_app
from local_emulator.tokens import mint_token
from tests.fixtures.desktop import (
    data_url,
    image_of,
    open_live_view,
    png_size,
    ref_of,
    wait_for_pixels,
    ws_of,
)
from tests.fixtures.docker import remove_sandboxes_of
from tests.fixtures.servers import serve_app
from tests.sandbox.conftest import end_fc_sessions
from tests.sandbox_images.expected import BASE_TOOLS, BROWSER_TOOLS, GUI_TOOLS

SECRET = "desktop-tests-" + uuid.uuid4().hex
ALICE = mint_token(SECRET, "alice")
MALLORY = mint_token(SECRET, "mallory")


@pytest.fixture(scope="module")
def deployment(
    backend_env: dict[str, str], docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, str]]:
    """(settings, URL) of the module's sandbox function; its sandboxes removed after."""
    backend = {name.lower(): value for name, value in backend_env.items()}
    settings = Settings(
        store_url=f"file://{tmp_path_factory.mktemp('desktop') / 'store'}",
        sandbox_orphan_grace_s=0,
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        **backend,
    )
    try:
        with serve_app(create_app(settings)) as url:
            yield settings, url
    finally:
        if settings.sandbox_backend == "fc":
            in_a_thread(lambda: end_fc_sessions(settings))
        remove_sandboxes_of({"STORE_URL": settings.store_url})


@pytest.fixture(scope="module")
def browser(deployment: tuple[Settings, str]) -> Iterator[BrowserSandbox]:
    settings, url = deployment
    with BrowserSandbox(base_url=url, settings=settings, token=ALICE) as box:
        yield box


@pytest.fixture(scope="module")
def gui(deployment: tuple[Settings, str]) -> Iterator[GuiSandbox]:
    settings, url = deployment
    with GuiSandbox(base_url=url, settings=settings, token=ALICE) as box:
        yield box


def in_a_thread(call: Callable[[], Any]) -> Any:
    """``call()`` on a thread of its own: the host browser's (sync) Playwright holds this
    thread's event loop once a live-view test of the module has run, so no asyncio.run here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def text(result: dict[str, Any]) -> str:
    said = "".join(p.get("text", "") for p in result["content"])
    assert result["isError"] is False, said
    return said


# -- the browser -----------------------------------------------------------------------------


def test_browser_tools_and_a_workspace_page_read_back(browser: BrowserSandbox):
    assert {t["name"] for t in browser.list_tools()} == BASE_TOOLS | BROWSER_TOOLS
    page = "<title>Ws</title><h1>From the workspace</h1>"
    text(browser.run_shell_command(f"mkdir -p site && echo '{page}' > site/a.html"))
    state = text(browser.browser_navigate("file:///workspace/site/a.html"))
    assert "Page Title: Ws" in state
    assert 'heading "From the workspace"' in text(browser.browser_snapshot())


def test_click_type_and_submit_change_the_page(browser: BrowserSandbox):
    html = (
        "<button onclick=\"document.getElementById('out').textContent='clicked'\">Press</button>"
        '<p id=out>not yet</p><form onsubmit="event.preventDefault(); document.getElementById'
        "('said').textContent='Submitted: ' + this.q.value\"><input name=q aria-label=Query>"
        "</form><p id=said></p>"
    )
    state = text(browser.browser_navigate(data_url(html)))
    after = text(browser.browser_click("Press button", ref_of(state, "button", "Press")))
    assert "clicked" in after and "not yet" not in after
    typed = text(browser.browser_type("Query", ref_of(state, "textbox", "Query"), "hi", True))
    assert "Submitted: hi" in typed


def test_tabs_open_list_and_close(browser: BrowserSandbox):
    before = text(browser.browser_tab_list()).count("\n- ")
    assert 'heading "Two"' in text(browser.browser_tab_new(data_url("<h1>Two</h1>")))
    assert text(browser.browser_tab_list()).count("\n- ") == before + 1
    assert text(browser.browser_tab_close()).count("\n- ") == before


def test_screenshot_and_pdf(browser: BrowserSandbox):
    text(browser.browser_navigate(data_url("<h1>Print me</h1>")))
    shot = browser.browser_take_screenshot()
    assert png_size(image_of(shot)) == (1280, 720)
    assert "docs/page.pdf" in text(browser.browser_pdf_save(filename="docs/page.pdf"))
    assert text(browser.run_shell_command("head -c 5 docs/page.pdf")) == "%PDF-"


def test_a_screenshot_reaches_a_model_as_an_image(browser: BrowserSandbox):
    """Our Toolkit gives the model a text note and the image (for a model that takes it)."""
    toolkit = Toolkit()
    toolkit.register(sandbox_tool_adapter(browser.browser_take_screenshot))
    output = in_a_thread(lambda: asyncio.run(toolkit.run("browser_take_screenshot", "{}")))
    assert "[image: image/png" in output.text and "base64" not in output.text
    message = output.image_message()
    assert message is not None
    assert message["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_the_async_twin_attaches_to_the_same_sandbox(
    browser: BrowserSandbox, deployment: tuple[Settings, str]
):
    settings, url = deployment

    async def attached() -> tuple[str | None, str]:
        async with AsyncBrowserSandbox(
            base_url=url, settings=settings, token=ALICE, sandbox_id=browser.sandbox_id
        ) as box:
            return box.desktop_url, text(await box.browser_snapshot())

    desktop_url, snapshot = in_a_thread(lambda: asyncio.run(attached()))
    assert desktop_url == browser.desktop_url
    assert "Page URL:" in snapshot


# -- the gui ---------------------------------------------------------------------------------


def test_gui_screenshot_typing_and_the_cursor(gui: GuiSandbox):
    assert {t["name"] for t in gui.list_tools()} == BASE_TOOLS | GUI_TOOLS
    before = image_of(gui.computer_use("get_screenshot"))
    assert png_size(before) == SCREEN
    window = text(
        gui.run_shell_command(
            "setsid xterm -geometry 60x10+30+30 -title typing -e sh -c 'cat > /workspace/t.txt'"
            " >/dev/null 2>&1 & xdotool search --sync --onlyvisible --name typing"
        )
    ).split()[0]
    text(gui.run_shell_command(f"xdotool windowactivate --sync {window}"))
    text(gui.computer_use("type", text="typed via the sdk"))
    text(gui.computer_use("key", text="Return"))
    typed = text(gui.run_shell_command("for i in $(seq 200); do [ -s t.txt ] && break;"
                                       " sleep 0.05; done; cat t.txt"))  # fmt: skip
    assert typed.strip() == "typed via the sdk"
    assert image_of(gui.computer_use("get_screenshot")) != before
    text(gui.computer_use("mouse_move", coordinate=[321, 123]))
    assert text(gui.computer_use("get_cursor_position")) == "X=321,Y=123"


def test_a_gui_screenshot_over_mcp_is_image_content(gui: GuiSandbox, deployment):
    """The official mcp client on the sandbox's MCP endpoint: computer_use's screenshot comes
    back as MCP image content, a PNG of the display's size; a stranger is refused."""
    import base64

    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    _, url = deployment
    endpoint = f"{url}/v1/sandboxes/{gui.sandbox_id}/mcp"

    async def screenshot(token: str) -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
        async with Client(streamable_http_client(endpoint, http_client=http)) as mcp:
            assert "computer_use" in {t.name for t in (await mcp.list_tools()).tools}
            return await mcp.call_tool("computer_use", {"action": "get_screenshot"})

    result = in_a_thread(lambda: asyncio.run(screenshot(ALICE)))
    (image,) = [part for part in result.content if part.type == "image"]
    assert image.mime_type == "image/png" and result.is_error is False
    assert png_size(base64.b64decode(image.data)) == SCREEN
    with pytest.raises(Exception):  # noqa: B017 - the mcp client's error for an HTTP 403
        in_a_thread(lambda: asyncio.run(screenshot(MALLORY)))


# -- the live view ---------------------------------------------------------------------------


def test_only_the_owner_gets_the_desktop_url(
    browser: BrowserSandbox, deployment: tuple[Settings, str]
):
    settings, url = deployment
    assert browser.desktop_url and browser.desktop_url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=url, trust_env=False) as http:
        path = f"/v1/sandboxes/{browser.sandbox_id}"
        mine = http.get(path, headers={"Authorization": f"Bearer {ALICE}"})
        theirs = http.get(path, headers={"Authorization": f"Bearer {MALLORY}"})
    assert mine.json()["desktop_url"] == browser.desktop_url
    assert theirs.status_code == 403 and "desktop_url" not in theirs.text
    if settings.sandbox_backend == "fc":  # one port per sandbox: the function's door
        assert browser.desktop_url.startswith(f"{url}/v1/sandboxes/{browser.sandbox_id}/desktop/")


def test_the_live_view_refuses_a_wrong_or_missing_token(browser: BrowserSandbox):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    assert browser.desktop_url is not None
    good = ws_of(browser.desktop_url)
    token = re.search(r"[0-9a-f]{64}", good)
    assert token is not None
    for bad in (good.replace(token.group(), "0" * 64), good.replace(token.group(), "")):
        with pytest.raises(InvalidStatus) as refused:
            connect(bad, open_timeout=10, proxy=None).close()
        assert refused.value.response.status_code in (403, 404)
    with connect(good, open_timeout=10, proxy=None) as ws:
        assert ws.recv(timeout=10)[:4] == b"RFB "  # the desktop's VNC server greets
    if "/desktop/" in urlsplit(browser.desktop_url).path:  # the door: its files need it too
        wrong = browser.desktop_url.replace(token.group(), "0" * 64).split("#")[0]
        assert httpx.get(wrong, trust_env=False).status_code == 404


def test_the_live_view_in_a_real_browser(browser: BrowserSandbox, host_browser: Any):
    text(browser.browser_tab_new(data_url("<body style='margin:0;background:#f00'>")))
    page = host_browser.new_page()
    try:
        assert browser.desktop_url is not None
        open_live_view(page, browser.desktop_url)
        wait_for_pixels(page, red=True)
        token = re.search(r"[0-9a-f]{64}", ws_of(browser.desktop_url))
        assert token is not None
        page.goto("about:blank")
        page.goto(browser.desktop_url.replace(token.group(), "f" * 64))
        page.wait_for_function(
            "() => !document.getElementById('noVNC_status') ||"
            " /Failed to connect|disconnect/i.test("
            "document.getElementById('noVNC_status').textContent)",
            timeout=60_000,
        )
    finally:
        page.close()
        text(browser.browser_tab_close())


def test_the_gui_live_view_in_a_real_browser(gui: GuiSandbox, host_browser: Any):
    text(
        gui.run_shell_command(
            "setsid xterm -bg red -geometry 120x40+0+0 -title red-view >/dev/null 2>&1 &"
            " xdotool search --sync --onlyvisible --name red-view"
        )
    )
    page = host_browser.new_page()
    try:
        assert gui.desktop_url is not None
        open_live_view(page, gui.desktop_url)
        wait_for_pixels(page, red=True)
    finally:
        page.close()
