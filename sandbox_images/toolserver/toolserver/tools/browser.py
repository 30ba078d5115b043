"""The browser tool set: Playwright MCP's tools, driving the sandbox's browser (``browser.py``).

Tool names and argument names are those of Playwright MCP (``@playwright/mcp``), which
AgentScope Runtime's browser sandbox serves, so an agent written for that sandbox calls these
unchanged: ``browser_snapshot`` returns the page's accessibility snapshot with element refs
(``[ref=e5]``, from Playwright's AI snapshot; an iframe's elements ``[ref=f2e5]``), and the
element tools take such a ``ref`` plus the human-readable ``element`` it names. Screenshots
and PDFs are written to the workspace and screenshots are returned as MCP image content too.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import desktop
from ..browser import BROWSER, CALL_TIMEOUT_S
from ..registry import ToolError, ToolSet, boolean, image, number, schema, string, text
from ..workspace import Workspace, write_atomic

tools = ToolSet("browser")

MAX_WAIT_S = 30.0  # browser_wait_for's longest wait, as Playwright MCP's


@tools.on_start
def _start(_ws: Workspace) -> None:
    """The desktop and the browser with its page open and primed; returns once they are
    (GET /ready)."""
    launched = BROWSER.warm()  # first: Playwright's driver starts while the display does
    desktop.DESKTOP.ensure()
    launched.result(CALL_TIMEOUT_S)


def _run(fn: Callable[[], Awaitable[Any]]) -> Any:
    desktop.DESKTOP.ensure()  # a display killed by the user's code comes back
    return BROWSER.call(fn)


def _save(ws: Workspace, filename: str | None, default: str, data: bytes) -> str:
    """Write ``data`` to the workspace; the path shown to the model."""
    real = ws.resolve(filename or default)
    if real.is_dir():
        raise ToolError(f"{filename!r} is a directory")
    write_atomic(real, data)
    return ws.relative(real)


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"


def _element(what: str) -> dict[str, Any]:
    return string(
        f"Human-readable {what} description used to obtain permission to interact with the element"
    )


_REF = string("Exact target element reference from the page snapshot")
_TARGET = {"element": _element("element"), "ref": _REF}


# -- navigation ------------------------------------------------------------------------------


@tools.tool("Navigate to a URL", schema(["url"], url=string("The URL to navigate to")))
def browser_navigate(ws: Workspace, url: str) -> str:
    async def go() -> str:
        page = await BROWSER.page()
        await BROWSER.navigate(page, lambda: page.goto(url, wait_until="domcontentloaded"))
        return await BROWSER.state(page)

    return _run(go)


@tools.tool("Go back to the previous page", schema())
def browser_navigate_back(ws: Workspace) -> str:
    async def back() -> str:
        page = await BROWSER.page()
        await BROWSER.navigate(page, lambda: page.go_back(wait_until="domcontentloaded"))
        return await BROWSER.state(page)

    return _run(back)


@tools.tool("Go forward to the next page", schema())
def browser_navigate_forward(ws: Workspace) -> str:
    async def forward() -> str:
        page = await BROWSER.page()
        await BROWSER.navigate(page, lambda: page.go_forward(wait_until="domcontentloaded"))
        return await BROWSER.state(page)

    return _run(forward)


@tools.tool(
    "Capture accessibility snapshot of the current page, this is better than screenshot",
    schema(),
)
def browser_snapshot(ws: Workspace) -> str:
    return _run(BROWSER.state)


# -- acting on elements ----------------------------------------------------------------------


async def _settled(page: Any) -> str:
    """The page's state once what an action started has loaded (a navigation, say)."""
    if not BROWSER.modal(page):
        try:
            await page.wait_for_load_state("domcontentloaded")
        except Exception:  # the page went away (a tab closed itself): report what is left
            pass
    return await BROWSER.state()


@tools.tool(
    "Perform click on a web page",
    schema(
        ["element", "ref"],
        **_TARGET,
        doubleClick=boolean("Whether to perform a double click instead of a single click"),
        button={
            "type": "string",
            "enum": ["left", "right", "middle"],
            "description": "Button to click, defaults to left",
        },
        modifiers={
            "type": "array",
            "items": {
                "type": "string",
                "enum": ["Alt", "Control", "ControlOrMeta", "Meta", "Shift"],
            },
            "description": "Modifier keys to press",
        },
    ),
)
def browser_click(
    ws: Workspace,
    element: str,
    ref: str,
    doubleClick: bool = False,
    button: str = "left",
    modifiers: list[str] | None = None,
) -> str:
    async def click() -> str:
        page = await BROWSER.page()
        target = BROWSER.ref(page, ref)
        options = {"button": button, "modifiers": modifiers or []}
        await BROWSER.act(
            page, target.dblclick(**options) if doubleClick else target.click(**options)
        )
        return await _settled(page)

    return _run(click)


@tools.tool(
    "Type text into editable element",
    schema(
        ["element", "ref", "text"],
        **_TARGET,
        text=string("Text to type into the element"),
        submit=boolean("Whether to submit entered text (press Enter after)"),
        slowly=boolean(
            "Whether to type one character at a time. Useful for triggering key handlers in "
            "the page. By default entire text is filled in at once."
        ),
    ),
)
def browser_type(
    ws: Workspace, element: str, ref: str, text: str, submit: bool = False, slowly: bool = False
) -> str:
    async def type_() -> str:
        page = await BROWSER.page()
        target = BROWSER.ref(page, ref)
        await (target.press_sequentially(text) if slowly else target.fill(text))
        if submit:
            await BROWSER.act(page, target.press("Enter"))
        return await _settled(page)

    return _run(type_)


@tools.tool("Hover over element on page", schema(["element", "ref"], **_TARGET))
def browser_hover(ws: Workspace, element: str, ref: str) -> str:
    async def hover() -> str:
        page = await BROWSER.page()
        await BROWSER.ref(page, ref).hover()
        return await BROWSER.state(page)

    return _run(hover)


@tools.tool(
    "Perform drag and drop between two elements",
    schema(
        ["startElement", "startRef", "endElement", "endRef"],
        startElement=_element("source element"),
        startRef=string("Exact source element reference from the page snapshot"),
        endElement=_element("target element"),
        endRef=string("Exact target element reference from the page snapshot"),
    ),
)
def browser_drag(
    ws: Workspace, startElement: str, startRef: str, endElement: str, endRef: str
) -> str:
    async def drag() -> str:
        page = await BROWSER.page()
        await BROWSER.ref(page, startRef).drag_to(BROWSER.ref(page, endRef))
        return await _settled(page)

    return _run(drag)


@tools.tool(
    "Select an option in a dropdown",
    schema(
        ["element", "ref", "values"],
        **_TARGET,
        values={
            "type": "array",
            "items": {"type": "string"},
            "description": "Array of values to select in the dropdown. This can be a single "
            "value or multiple values.",
        },
    ),
)
def browser_select_option(ws: Workspace, element: str, ref: str, values: list[str]) -> str:
    async def select() -> str:
        page = await BROWSER.page()
        await BROWSER.ref(page, ref).select_option(values)
        return await _settled(page)

    return _run(select)


@tools.tool(
    "Press a key on the keyboard",
    schema(
        ["key"],
        key=string(
            "Name of the key to press or a character to generate, such as `ArrowLeft` or `a`"
        ),
    ),
)
def browser_press_key(ws: Workspace, key: str) -> str:
    async def press() -> str:
        page = await BROWSER.page()
        await BROWSER.act(page, page.keyboard.press(key))
        return await _settled(page)

    return _run(press)


@tools.tool(
    "Wait for text to appear or disappear or a specified time to pass",
    schema(
        time=number("The time to wait in seconds"),
        text=string("The text to wait for"),
        textGone=string("The text to wait for to disappear"),
    ),
)
def browser_wait_for(
    ws: Workspace, time: float | None = None, text: str | None = None, textGone: str | None = None
) -> str:
    if time is None and text is None and textGone is None:
        raise ToolError("give time, text or textGone")

    async def wait() -> str:
        page = await BROWSER.page()
        if time is not None:
            await asyncio.sleep(min(max(float(time), 0.0), MAX_WAIT_S))
        limit = MAX_WAIT_S * 1000
        if textGone is not None:
            await page.get_by_text(textGone).first.wait_for(state="hidden", timeout=limit)
        if text is not None:
            await page.get_by_text(text).first.wait_for(state="visible", timeout=limit)
        return await BROWSER.state(page)

    return _run(wait)


# -- what the page shows -----------------------------------------------------------------------


@tools.tool(
    "Take a screenshot of the current page. You can't perform actions based on the "
    "screenshot, use browser_snapshot for actions. The image is also saved to the workspace.",
    schema(
        type={
            "type": "string",
            "enum": ["png", "jpeg"],
            "description": "Image format for the screenshot. Default is png.",
        },
        filename=string(
            "File name to save the screenshot to, in the workspace. Defaults to "
            "`page-{timestamp}.{png|jpeg}`."
        ),
        element=string(
            "Human-readable element description used to obtain permission to screenshot the "
            "element. If not provided, the screenshot will be taken of viewport."
        ),
        ref=string(
            "Exact target element reference from the page snapshot. If not provided, the "
            "screenshot will be taken of viewport."
        ),
        fullPage=boolean(
            "When true, takes a screenshot of the full scrollable page, instead of the "
            "currently visible viewport. Cannot be used with element screenshots."
        ),
    ),
)
def browser_take_screenshot(
    ws: Workspace,
    type: str = "png",
    filename: str | None = None,
    element: str | None = None,
    ref: str | None = None,
    fullPage: bool = False,
) -> list[dict[str, Any]]:
    if type not in ("png", "jpeg"):
        raise ToolError("type must be png or jpeg")
    if ref and fullPage:
        raise ToolError("fullPage cannot be used with an element screenshot")

    async def shoot() -> bytes:
        page = await BROWSER.page()
        target = BROWSER.ref(page, ref) if ref else page
        options: dict[str, Any] = {"type": type}
        if not ref:
            options["full_page"] = fullPage
        return await target.screenshot(**options)

    data: bytes = _run(shoot)
    saved = _save(ws, filename, f"page-{_stamp()}.{type}", data)
    what = f"element {element or ref}" if ref else ("full page" if fullPage else "viewport")
    return [
        text(f"Took a screenshot of the {what}; saved to {saved}"),
        image(data, f"image/{type}"),
    ]


@tools.tool(
    "Save page as PDF",
    schema(
        filename=string(
            "File name to save the pdf to, in the workspace. Defaults to `page-{timestamp}.pdf`."
        )
    ),
)
def browser_pdf_save(ws: Workspace, filename: str | None = None) -> str:
    async def pdf() -> bytes:
        page = await BROWSER.page()
        # headed Chromium has no page.pdf(); DevTools' printToPDF prints all the same
        session = await page.context.new_cdp_session(page)
        try:
            result = await session.send("Page.printToPDF", {"printBackground": True})
        finally:
            await session.detach()
        return base64.b64decode(result["data"])

    saved = _save(ws, filename, f"page-{_stamp()}.pdf", _run(pdf))
    return f"Saved page as {saved}"


@tools.tool(
    "Returns all console messages",
    schema(onlyErrors=boolean("Only return error messages")),
)
def browser_console_messages(ws: Workspace, onlyErrors: bool = False) -> str:
    async def messages() -> str:
        page = await BROWSER.page()
        lines = []
        for message in await page.console_messages():
            if onlyErrors and message.type != "error":
                continue
            where = message.location or {}
            at = f" @ {where.get('url')}:{where.get('lineNumber')}" if where.get("url") else ""
            lines.append(f"[{message.type.upper()}] {message.text}{at}")
        return "\n".join(lines) or "No console messages"

    return _run(messages)


@tools.tool("Returns all network requests since loading the page", schema())
def browser_network_requests(ws: Workspace) -> str:
    async def requests() -> str:
        page = await BROWSER.page()
        lines = []
        for request in await page.requests():
            try:
                response = await asyncio.wait_for(request.response(), 1.0)
            except (asyncio.TimeoutError, Exception):
                response = None
            status = f" => [{response.status}] {response.status_text}" if response else ""
            lines.append(f"[{request.method}] {request.url}{status}")
        return "\n".join(lines) or "No network requests"

    return _run(requests)


# -- the browser itself ------------------------------------------------------------------------


@tools.tool(
    "Upload one or multiple files",
    schema(
        paths={
            "type": "array",
            "items": {"type": "string"},
            "description": "The paths to the files to upload (in the workspace). Can be single "
            "file or multiple files. If omitted, file chooser is cancelled.",
        }
    ),
)
def browser_file_upload(ws: Workspace, paths: list[str] | None = None) -> str:
    files = [str(ws.resolve(p, must_exist=True)) for p in paths or []]

    async def upload() -> str:
        page = await BROWSER.page()
        chooser = BROWSER.choosers.pop(page, None)
        if chooser is None:
            raise ToolError("no file chooser is open: click the page's file input first")
        await chooser.set_files(files)
        return await _settled(page)

    return _run(upload)


@tools.tool(
    "Handle a dialog",
    schema(
        ["accept"],
        accept=boolean("Whether to accept the dialog."),
        promptText=string("The text of the prompt in case of a prompt dialog."),
    ),
)
def browser_handle_dialog(ws: Workspace, accept: bool, promptText: str | None = None) -> str:
    async def handle() -> str:
        page = await BROWSER.page()
        dialog = BROWSER.dialogs.pop(page, None)
        if dialog is None:
            raise ToolError("no dialog is open")
        if accept:
            await (dialog.accept(promptText) if promptText is not None else dialog.accept())
        else:
            await dialog.dismiss()
        return await _settled(page)

    return _run(handle)


@tools.tool(
    "Resize the browser window",
    schema(
        ["width", "height"],
        width=number("Width of the browser window"),
        height=number("Height of the browser window"),
    ),
)
def browser_resize(ws: Workspace, width: float, height: float) -> str:
    if not (1 <= width <= 10_000 and 1 <= height <= 10_000):
        raise ToolError("width and height must be between 1 and 10000")

    async def resize() -> str:
        page = await BROWSER.page()
        await page.set_viewport_size({"width": int(width), "height": int(height)})
        return f"Resized the page's viewport to {int(width)}x{int(height)}"

    return _run(resize)


@tools.tool("List browser tabs", schema())
def browser_tab_list(ws: Workspace) -> str:
    async def listing() -> str:
        await BROWSER.page()
        return "\n".join(["### Open tabs", *BROWSER.tab_lines()])

    return _run(listing)


@tools.tool(
    "Open a new tab",
    schema(
        url=string(
            "The URL to navigate to in the new tab. If not provided, the new tab will be blank."
        )
    ),
)
def browser_tab_new(ws: Workspace, url: str | None = None) -> str:
    async def new() -> str:
        await BROWSER.page()
        page = await BROWSER.context.new_page()
        BROWSER.current = page
        if url:
            await BROWSER.navigate(page, lambda: page.goto(url, wait_until="domcontentloaded"))
        return await BROWSER.state(page)

    return _run(new)


@tools.tool(
    "Select a tab by index",
    schema(["index"], index=number("The index of the tab to select")),
)
def browser_tab_select(ws: Workspace, index: float) -> str:
    async def select() -> str:
        await BROWSER.page()
        page = BROWSER.tab(int(index))
        BROWSER.current = page
        await page.bring_to_front()
        return await BROWSER.state(page)

    return _run(select)


@tools.tool(
    "Close a tab",
    schema(index=number("The index of the tab to close. Closes current tab if not provided.")),
)
def browser_tab_close(ws: Workspace, index: float | None = None) -> str:
    async def close() -> str:
        current = await BROWSER.page()
        page = BROWSER.tab(int(index)) if index is not None else current
        await page.close()
        remaining = BROWSER.tab_lines()
        return "\n".join(["### Open tabs", *remaining]) if remaining else "No open tabs"

    return _run(close)


@tools.tool("Close the page", schema())
def browser_close(ws: Workspace) -> str:
    _run(BROWSER.close)
    return "Closed the browser; the next browser tool opens a new one"
