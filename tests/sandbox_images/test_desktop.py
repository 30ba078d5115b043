"""The browser and gui sandboxes on real containers, started by the docker launcher.

One browser sandbox and one gui sandbox serve the whole module (each test leaves its own
tab or window behind, never relies on another test's). Pages come from ``data:`` URLs or
the workspace (``file:///workspace/...``): no network. Element refs are read from
``browser_snapshot`` the way a model reads them. The live view is opened by a real browser
on the host (Debian's Chromium under Playwright) at the sandbox's desktop URL.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from functions.runtime.sandbox.desktop import SCREEN, desktop_url, view_token
from functions.runtime.sandbox.launchers.docker import DockerLauncher
from functions.runtime.settings import Settings
from tests.fixtures.desktop import (
    data_url,
    image_of,
    open_live_view,
    png_size,
    ref_of,
    wait_for_pixels,
)
from tests.sandbox_images.expected import BASE_TOOLS, BROWSER_TOOLS, GUI_TOOLS

DEADLINE_S = 30.0  # for conditions polled inside the sandbox (a window appears, a file fills)


@dataclass
class Box:
    sandbox_type: str
    handle: str
    endpoint: str
    token: str
    desktop_endpoint: str | None

    def http(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.endpoint, headers=auth, timeout=150, trust_env=False)

    def call(self, name: str, **args: Any) -> dict[str, Any]:
        with self.http() as http:
            resp = http.post(f"/tools/{name}", json=args)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def text(self, name: str, **args: Any) -> str:
        result = self.call(name, **args)
        text = "".join(part.get("text", "") for part in result["content"])
        assert result["isError"] is False, text
        return text

    def shell(self, command: str) -> str:
        return self.text("run_shell_command", command=command)


def run(coro: Any) -> Any:
    """Run a launcher coroutine to its end from these sync tests, in a thread of its own
    (the host browser's Playwright keeps an event loop on the main thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def launcher(sandbox_images_built: dict[str, str]) -> Iterator[DockerLauncher]:
    launcher = DockerLauncher(Settings(), owner=f"test-desktop-{uuid.uuid4().hex[:12]}")
    yield launcher

    async def stop_all() -> None:
        for handle in await launcher.owned():
            await launcher.stop(handle)

    run(stop_all())


@pytest.fixture(scope="module")
def box_of(launcher: DockerLauncher) -> Callable[[str], Box]:
    boxes: dict[str, Box] = {}

    def get(sandbox_type: str) -> Box:
        if sandbox_type not in boxes:
            token = uuid.uuid4().hex
            sandbox_id = f"{sandbox_type}-{uuid.uuid4().hex[:12]}"
            launched = run(launcher.start(sandbox_type, sandbox_id, token))
            boxes[sandbox_type] = Box(
                sandbox_type, launched.handle, launched.endpoint, token, launched.desktop_endpoint
            )
        return boxes[sandbox_type]

    return get


@pytest.fixture(scope="module")
def browser(box_of: Callable[[str], Box]) -> Box:
    return box_of("browser")


@pytest.fixture(scope="module")
def gui(box_of: Callable[[str], Box]) -> Box:
    return box_of("gui")


# -- browser ---------------------------------------------------------------------------------


def test_browser_tools_are_playwright_mcps(browser: Box):
    with browser.http() as http:
        tools = {t["name"]: t for t in http.get("/tools").json()["tools"]}
    assert set(tools) == BROWSER_TOOLS | BASE_TOOLS
    click = tools["browser_click"]["parameters"]
    assert click["required"] == ["element", "ref"]
    assert set(click["properties"]) == {"element", "ref", "doubleClick", "button", "modifiers"}
    drag = tools["browser_drag"]["parameters"]["required"]
    assert drag == ["startElement", "startRef", "endElement", "endRef"]
    assert set(tools["browser_type"]["parameters"]["properties"]) == {
        "element",
        "ref",
        "text",
        "submit",
        "slowly",
    }
    assert set(tools["browser_wait_for"]["parameters"]["properties"]) == {
        "time",
        "text",
        "textGone",
    }


def test_navigate_a_workspace_page_and_read_it_back(browser: Box):
    page = "<title>Workspace page</title><h1>Hello from the workspace</h1><p>plain text 42</p>"
    with browser.http() as http:
        assert http.put("/workspace/site/index.html", content=page.encode()).status_code == 200
    state = browser.text("browser_navigate", url="file:///workspace/site/index.html")
    assert "Page URL: file:///workspace/site/index.html" in state
    assert "Page Title: Workspace page" in state
    assert 'heading "Hello from the workspace"' in state
    snapshot = browser.text("browser_snapshot")
    assert "plain text 42" in snapshot


def test_click_a_button_and_the_page_changes(browser: Box):
    html = (
        "<button onclick=\"document.getElementById('out').textContent='clicked ' + "
        '(++window.n || (window.n = 1))">Press me</button><p id=out>not yet</p>'
    )
    state = browser.text("browser_navigate", url=data_url(html))
    assert "not yet" in state
    ref = ref_of(state, "button", "Press me")
    after = browser.text("browser_click", element="Press me button", ref=ref)
    assert "clicked 1" in after and "not yet" not in after
    twice = browser.text("browser_click", element="Press me button", ref=ref, doubleClick=True)
    assert "clicked 3" in twice


def test_type_into_a_field_and_submit(browser: Box):
    html = (
        "<form onsubmit=\"event.preventDefault(); document.getElementById('said').textContent="
        "'Submitted: ' + this.q.value\"><input name=q aria-label=Query></form><p id=said></p>"
    )
    state = browser.text("browser_navigate", url=data_url(html))
    ref = ref_of(state, "textbox", "Query")
    after = browser.text("browser_type", element="Query box", ref=ref, text="hello", submit=True)
    assert "Submitted: hello" in after


def test_select_hover_keys_and_waiting(browser: Box):
    html = (
        "<select aria-label=Fruit onchange=\"document.getElementById('s').textContent="
        "'chose ' + this.value\"><option value=a>Apple</option><option value=b>Banana</option>"
        "</select><p id=s></p>"
        "<button onmouseover=\"document.getElementById('h').textContent='hovered'\">Hover</button>"
        "<p id=h></p><script>document.onkeydown = e => document.getElementById('k')"
        ".textContent = 'key ' + e.key; console.log('page says hi');"
        "setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p>late text</p>'), 300)"
        "</script><p id=k></p>"
    )
    state = browser.text("browser_navigate", url=data_url(html))
    chosen = browser.text(
        "browser_select_option",
        element="Fruit",
        ref=ref_of(state, "combobox", "Fruit"),
        values=["b"],
    )
    assert "chose b" in chosen
    hovered = browser.text("browser_hover", element="Hover", ref=ref_of(state, "button", "Hover"))
    assert "hovered" in hovered
    assert "key ArrowLeft" in browser.text("browser_press_key", key="ArrowLeft")
    assert "late text" in browser.text("browser_wait_for", text="late text")
    assert "page says hi" in browser.text("browser_console_messages")


def test_history_back_and_forward(browser: Box):
    browser.text("browser_navigate", url=data_url("<h1>First</h1>"))
    browser.text("browser_navigate", url=data_url("<h1>Second</h1>"))
    assert 'heading "First"' in browser.text("browser_navigate_back")
    assert 'heading "Second"' in browser.text("browser_navigate_forward")


def test_dialogs_are_reported_and_answered(browser: Box):
    html = (
        "<button onclick=\"document.getElementById('r').textContent = "
        "confirm('Sure?') ? 'yes' : 'no'\">Ask</button><p id=r>unasked</p>"
    )
    state = browser.text("browser_navigate", url=data_url(html))
    asked = browser.text("browser_click", element="Ask", ref=ref_of(state, "button", "Ask"))
    assert '"confirm" dialog with message "Sure?"' in asked
    assert "yes" in browser.text("browser_handle_dialog", accept=True)


def test_upload_a_workspace_file(browser: Box):
    browser.shell("printf 'upload me' > /workspace/upload.txt")
    html = (
        '<input type=file aria-label=Pick onchange="this.files[0].text().then(t => '
        "document.getElementById('got').textContent = 'got ' + t)\"><p id=got></p>"
    )
    state = browser.text("browser_navigate", url=data_url(html))
    chooser = browser.text("browser_click", element="Pick", ref=ref_of(state, "button", "Pick"))
    assert "File chooser" in chooser
    browser.text("browser_file_upload", paths=["upload.txt"])
    assert "got upload me" in browser.text("browser_wait_for", text="got upload me")


def test_tabs_open_list_select_close(browser: Box):
    before = browser.text("browser_tab_list").count("\n- ")
    opened = browser.text("browser_tab_new", url=data_url("<title>Second tab</title><h1>Two</h1>"))
    assert 'heading "Two"' in opened
    listing = browser.text("browser_tab_list")
    assert listing.count("\n- ") == before + 1
    assert re.search(r"- \d+: \(current\) \(data:", listing)
    back = browser.text("browser_tab_select", index=0)
    assert 'heading "Two"' not in back
    closed = browser.text("browser_tab_close", index=before)
    assert closed.count("\n- ") == before


def test_screenshot_is_a_png_of_the_viewport_and_lands_in_the_workspace(browser: Box):
    browser.text("browser_navigate", url=data_url("<body style='background:#0a0'>green</body>"))
    result = browser.call("browser_take_screenshot", filename="shots/page.png")
    assert result["isError"] is False
    assert png_size(image_of(result)) == (1280, 720)
    with browser.http() as http:
        saved = http.get("/workspace/shots/page.png").content
    assert saved == image_of(result)
    browser.text("browser_resize", width=800, height=600)
    try:
        assert png_size(image_of(browser.call("browser_take_screenshot"))) == (800, 600)
    finally:
        browser.text("browser_resize", width=1280, height=720)


def test_pdf_is_saved_to_the_workspace(browser: Box):
    browser.text("browser_navigate", url=data_url("<h1>Print me</h1>"))
    said = browser.text("browser_pdf_save", filename="docs/page.pdf")
    assert "docs/page.pdf" in said
    with browser.http() as http:
        pdf = http.get("/workspace/docs/page.pdf").content
    assert pdf.startswith(b"%PDF-")


def test_network_requests_are_listed(browser: Box):
    with browser.http() as http:
        http.put("/workspace/net/style.css", content=b"h1 { color: red }")
        http.put(
            "/workspace/net/index.html", content=b"<link rel=stylesheet href=style.css><h1>n</h1>"
        )
    browser.text("browser_navigate", url="file:///workspace/net/index.html")
    assert "file:///workspace/net/style.css" in browser.text("browser_network_requests")


def test_unknown_ref_is_a_tool_error_not_a_failure(browser: Box):
    browser.text("browser_navigate", url=data_url("<p>nothing to click</p>"))
    result = browser.call("browser_click", element="ghost", ref="e9999")
    assert result["isError"] is True
    assert result["content"][0]["text"]


@pytest.mark.parametrize(
    "missing",
    [
        "file:///workspace/no-such-page.html",  # ERR_FILE_NOT_FOUND
        "http://127.0.0.1:59999/",  # ERR_CONNECTION_REFUSED: nothing listens there
    ],
)
def test_a_failed_navigation_leaves_the_browser_usable(browser: Box, missing: str):
    """A navigation that fails is a tool error, and Chromium's error page (which it commits
    only after the navigation has failed) is no trap for the next calls: the next navigation
    succeeds (no "interrupted by another navigation to chrome-error://"), its snapshot shows
    refs in the documented ``e<N>`` form, and a ref works."""
    html = "<h1>Back on track</h1><button onclick=\"this.textContent='pressed'\">Press</button>"
    for _ in range(2):
        failed = browser.call("browser_navigate", url=missing)
        assert failed["isError"] is True
        assert "net::ERR_" in failed["content"][0]["text"]
        # at once, as a model does
        state = browser.text("browser_navigate", url=data_url(html))
        assert 'heading "Back on track"' in state
        ref = ref_of(state, "button", "Press")
        assert re.fullmatch(r"e\d+", ref), state
        assert f"[ref={ref}]" in browser.text("browser_snapshot")
        assert 'button "pressed"' in browser.text("browser_click", element="Press", ref=ref)

    assert browser.call("browser_navigate", url=missing)["isError"] is True
    assert "Page URL: chrome-error://" in browser.text("browser_snapshot")  # its error page


def test_refs_keep_their_form_across_navigations(browser: Box):
    """Playwright numbers each new document of a tab's main frame apart (``f3e2``); the tools
    still show and take the main frame's refs as ``e<N>``, an iframe's with its own prefix,
    and a ref from a document the tab has left is refused at once, saying so."""
    browser.text("browser_navigate", url=data_url("<h1>One</h1>"))
    inner = "<button onclick=&quot;this.textContent='inner pressed'&quot;>Inner</button>"
    html = (
        # a name that looks like a ref is a name, not a ref
        "<h2>Two [ref=f9e9]</h2><button onclick=\"this.textContent='outer pressed'\">"
        f'Outer</button><iframe srcdoc="{inner}"></iframe>'
    )
    for _ in range(2):  # again: the document before was no blank page either
        state = browser.text("browser_navigate", url=data_url(html))
        assert 'heading "Two [ref=f9e9]"' in state
        outer, inner_ref = ref_of(state, "button", "Outer"), ref_of(state, "button", "Inner")
        assert re.fullmatch(r"e\d+", outer), state
        assert re.fullmatch(r"f\d+e\d+", inner_ref), state
        assert "outer pressed" in browser.text("browser_click", element="Outer", ref=outer)
        assert "inner pressed" in browser.text("browser_click", element="Inner", ref=inner_ref)

    # a page that leaves when the window is resized (browser_resize answers without a
    # snapshot): the ref read before is used after the tab moved on, with no snapshot since
    # (a page may not send the tab to a data: URL, so these two are workspace files)
    leaving = "<a href='#'>Stay</a><script>onresize = () => location.href = 'moved.html'</script>"
    with browser.http() as http:
        assert http.put("/workspace/refs/leaving.html", content=leaving.encode()).is_success
        assert http.put("/workspace/refs/moved.html", content=b"<h1>Moved on</h1>").is_success
    state = browser.text("browser_navigate", url="file:///workspace/refs/leaving.html")
    stay = ref_of(state, "link", "Stay")
    try:
        browser.text("browser_resize", width=1000, height=700)
    finally:
        browser.text("browser_resize", width=1280, height=720)
    deadline = time.monotonic() + DEADLINE_S  # until the tab list shows it moved on
    while "(current) (file:///workspace/refs/moved.html)" not in browser.text("browser_tab_list"):
        assert time.monotonic() < deadline, browser.text("browser_tab_list")
    stale = browser.call("browser_click", element="Stay", ref=stay)
    assert stale["isError"] is True
    said = stale["content"][0]["text"]
    assert "browser_snapshot" in said and "Timeout" not in said, said  # refused, not sought


def test_close_then_the_next_call_opens_a_fresh_browser(browser: Box):
    browser.text("browser_navigate", url=data_url("<h1>Before close</h1>"))
    browser.text("browser_close")
    state = browser.text("browser_navigate", url=data_url("<h1>After close</h1>"))
    assert 'heading "After close"' in state
    assert browser.text("browser_tab_list").count("\n- ") == 1


# -- gui -------------------------------------------------------------------------------------


def test_gui_tools(gui: Box):
    with gui.http() as http:
        names = {t["name"] for t in http.get("/tools").json()["tools"]}
    assert names == GUI_TOOLS | BASE_TOOLS


def test_screenshot_is_the_display_size(gui: Box):
    result = gui.call("computer_use", action="get_screenshot")
    assert result["isError"] is False
    assert png_size(image_of(result)) == SCREEN


def test_the_cursor_moves_where_told(gui: Box):
    assert gui.text("computer_use", action="mouse_move", coordinate=[123, 321])
    assert gui.text("computer_use", action="get_cursor_position") == "X=123,Y=321"
    gui.text("computer_use", action="left_click", coordinate=[200, 100])
    assert gui.text("computer_use", action="get_cursor_position") == "X=200,Y=100"


def test_bad_actions_are_tool_errors(gui: Box):
    for args in (
        {"action": "fly"},
        {"action": "mouse_move"},
        {"action": "mouse_move", "coordinate": [99999, 1]},
        {"action": "type"},
    ):
        result = gui.call("computer_use", **args)
        assert result["isError"] is True, args


def wait_until(box: Box, check: str) -> str:
    """Run the shell ``check`` until it prints something (bounded); its output."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        out = box.shell(f"{check} || true").strip()
        if out:
            return out
    pytest.fail(f"nothing from {check!r} within {DEADLINE_S:g} s")


def start_window(box: Box, title: str, program: str) -> str:
    """Start ``program`` (an X client titled ``title``) on the desktop; its window id.

    ``setsid`` takes it out of the shell command's process group (which is killed when the
    command ends), and ``xdotool search --sync`` waits until its window exists, by when it
    has long left that group.
    """
    out = box.shell(
        f"setsid {program} >/dev/null 2>&1 & xdotool search --sync --onlyvisible --name {title}"
    )
    return out.split()[0]


def test_start_a_program_and_type_into_it(gui: Box):
    before = image_of(gui.call("computer_use", action="get_screenshot"))
    window = start_window(
        gui,
        "typing-test",
        "xterm -geometry 80x20+40+40 -title typing-test -e sh -c 'cat > /workspace/typed.txt'",
    )
    geometry = gui.shell(f"xdotool getwindowgeometry --shell {window}")
    values = dict(line.split("=") for line in geometry.split())
    center = [
        int(values["X"]) + int(values["WIDTH"]) // 2,
        int(values["Y"]) + int(values["HEIGHT"]) // 2,
    ]
    gui.text("computer_use", action="left_click", coordinate=center)
    gui.text("computer_use", action="type", text="typed by computer_use")
    gui.text("computer_use", action="key", text="Return")
    assert wait_until(gui, "cat /workspace/typed.txt") == "typed by computer_use"
    after = image_of(gui.call("computer_use", action="get_screenshot"))
    assert png_size(after) == SCREEN and after != before


# -- the live view ---------------------------------------------------------------------------


def test_live_view_opens_with_the_view_token_only(browser: Box):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    assert browser.desktop_endpoint and browser.desktop_endpoint.startswith("http://127.0.0.1:")
    ws_base = browser.desktop_endpoint.replace("http://", "ws://") + "/websockify"
    for bad in ("", "?token=", "?token=wrong", f"?token={browser.token}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_base + bad, open_timeout=10).close()
        assert refused.value.response.status_code == 403
    with connect(f"{ws_base}?token={view_token(browser.token)}", open_timeout=10) as ws:
        assert ws.recv(timeout=10)[:4] == b"RFB "  # the VNC server's greeting
    with httpx.Client(trust_env=False) as http:  # the web client itself is public
        assert "noVNC" in http.get(browser.desktop_endpoint + "/vnc.html").text


def test_live_view_is_relayed_on_the_tool_port(gui: Box):
    """One-port platforms (FC, AgentRun) reach the same view at /desktop/ on port 8000."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with httpx.Client(base_url=gui.endpoint, trust_env=False) as http:
        assert "noVNC" in http.get("/desktop/vnc.html").text  # no bearer token needed
        assert http.get("/tools").status_code == 401  # every other route still needs it
    ws_base = gui.endpoint.replace("http://", "ws://") + "/desktop/websockify"
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ws_base}?token=wrong", open_timeout=10).close()
    assert refused.value.response.status_code == 403
    with connect(f"{ws_base}?token={view_token(gui.token)}", open_timeout=10) as ws:
        assert ws.recv(timeout=10)[:4] == b"RFB "


def test_live_view_in_a_real_browser(browser: Box, host_browser: Any):
    # something unmistakable on the sandbox's screen: a new tab (in front) filled with red
    browser.text("browser_tab_new", url=data_url("<body style='margin:0;background:#f00'>"))
    url = desktop_url(browser.desktop_endpoint or "", browser.token)
    page = host_browser.new_page()
    try:
        open_live_view(page, url)
        wait_for_pixels(page, red=True)
        wrong = url.replace(view_token(browser.token), "0" * 64)
        open_live_view(page, wrong)
        page.wait_for_function(
            "() => /Failed to connect/i.test(document.getElementById('noVNC_status').textContent)",
            timeout=60_000,
        )
    finally:
        page.close()
        browser.text("browser_tab_close")


# -- hardening -------------------------------------------------------------------------------


def test_desktop_containers_keep_the_hardening_defaults(browser: Box, gui: Box, docker_client: Any):
    for box in (browser, gui):
        config = docker_client.api.inspect_container(box.handle)["HostConfig"]
        assert config["ReadonlyRootfs"] is True
        assert config["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in config["SecurityOpt"]
        assert config["Init"] is True
        assert config["Memory"] > 0 and config["NanoCpus"] > 0
        assert 0 < config["PidsLimit"] <= 1024
        assert config["ShmSize"] == 256 * 1024 * 1024
        assert {"/tmp", "/home/sandbox", "/workspace"} <= set(config["Tmpfs"])
        for port in ("8000/tcp", "6080/tcp"):
            assert [b["HostIp"] for b in config["PortBindings"][port]] == ["127.0.0.1"]
        assert box.shell("id -u") == "1000\n"


def test_no_secret_is_readable_inside_the_sandbox(browser: Box):
    """Neither the tool token nor the view token is in any process's environment or command
    line, or in a file user code can reach; the tool server's own /proc files are closed."""
    browser.text("browser_snapshot")  # the browser, its driver and the desktop are running
    code = f"""
import os
secrets = [{browser.token!r}.encode(), {view_token(browser.token)!r}.encode()]
found, denied = [], []
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    for name in ("environ", "cmdline"):
        try:
            data = open(f"/proc/{{pid}}/{{name}}", "rb").read()
        except OSError:
            denied.append(name)
            continue
        found += [f"{{pid}}/{{name}}" for s in secrets if s in data]
        if name == "cmdline" and data.startswith(b"python3\\0-m\\0toolserver"):
            try:
                open(f"/proc/{{pid}}/environ", "rb").read()
                found.append("toolserver environ readable")
            except OSError:
                pass
for top in ("/tmp", "/home/sandbox", "/workspace", "/etc"):
    for root, _dirs, files in os.walk(top):
        for f in files:
            try:
                data = open(os.path.join(root, f), "rb").read()
            except OSError:
                continue
            found += [os.path.join(root, f) for s in secrets if s in data]
print(found, "environ" in denied)
"""
    assert browser.text("run_ipython_cell", code=code).strip() == "[] True"


def test_gui_live_view_through_the_tool_port_in_a_real_browser(gui: Box, host_browser: Any):
    start_window(gui, "view-test", "xterm -bg red -geometry 120x40+0+0 -title view-test")
    page = host_browser.new_page()
    try:
        open_live_view(page, desktop_url(gui.endpoint + "/desktop", gui.token))
        wait_for_pixels(page, red=True)
        assert page.evaluate("document.querySelector('#noVNC_container canvas').width") == SCREEN[0]
    finally:
        page.close()
