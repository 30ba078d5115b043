"""The sandbox's browser: Debian's Chromium under Python Playwright, headed on the desktop.

One per tool server, started in the background when the server starts: ``CHROMIUM_PATH``
(``/usr/lib/chromium/chromium``, Debian's binary itself: its ``/usr/bin/chromium`` wrapper
script only adds a shell, probes and flags Playwright's own defaults cover) launched by
Playwright (no ``playwright install``) on the sandbox's X display, so the live view shows
it, with its first context and page opened then too: the first tool call finds them ready.
How long each step took goes to stderr (the container's log) once, as ``toolserver: browser
ready in ...``. Chromium's own sandbox is off (``--no-sandbox``): it
needs user namespaces or a setuid helper, which a container with every capability dropped
and no-new-privileges does not give, and the container is the sandbox. Pages, tabs and
cookies live in one browser context until ``close``; the next call opens a fresh one.

Navigations that fail leave Chromium's error page (``chrome-error://chromewebdata/``), which
Chromium commits a little after Playwright reports the failure: ``Browser.navigate`` returns
the error only once that page is in, so it never cuts short the next navigation (which
Playwright would report as "interrupted by another navigation", though it loads).

Element refs: Playwright numbers a tab's main frame anew for each document it navigates to
from one that was not blank, and prefixes the frame's refs with that number (``f3e2``, as
an iframe's); the tools show and take the main frame's refs as ``e2`` all the same, as
Playwright MCP documents them (``Browser.state``, ``Browser.ref``), and keep the prefix of
an iframe's refs.

Playwright's API is bound to the event loop it started on, while the tool server answers
each request on a thread of its own: so Playwright lives on one loop in one thread, and
``Browser.call`` runs each tool's coroutine there, one call at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import desktop
from .registry import ToolError

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/lib/chromium/chromium"
VIEWPORT = {"width": 1280, "height": 720}
ACTION_TIMEOUT_MS = 5_000  # as Playwright MCP: an element that is not there fails fast
NAVIGATION_TIMEOUT_MS = 60_000
NAVIGATION_S = NAVIGATION_TIMEOUT_MS / 1000
PRIME_TIMEOUT_MS = 1_000  # the blank page's snapshot takes tens of ms; never hold calls long
CALL_TIMEOUT_S = 120.0  # a tool call's hard limit, the browser's start included
ERROR_PAGE = "chrome-error://"  # the document Chromium commits for a navigation that failed
ERROR_PAGE_TIMEOUT_S = 5.0  # it comes within a second; this only bounds a wait for none
INTERRUPTED_BY_ERROR_PAGE = f'interrupted by another navigation to "{ERROR_PAGE}'
CHROMIUM_ARGS = [
    "--no-sandbox",  # see the module docstring: the container is the sandbox
    "--no-first-run",
    "--start-maximized",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # /dev/shm is small in a container; Chromium uses /tmp
]


# one line of an AI snapshot: its key (``role "name" [attributes]``, single-quoted when YAML
# needs it) up to the ": " or ":" of its value, if any; and a key's ref (with what may follow
# it: Playwright puts [cursor=pointer] and [box=...] after the ref). A ref-like text inside a
# quoted name or in a value is never the key's ref.
_SNAPSHOT_KEY = re.compile(r"^(\s*- )('(?:[^']|'')*'|[^\n]*?)(?=:(?: |$)|$)", re.MULTILINE)
_KEY_REF = re.compile(r"\[ref=(f\d+)?(e\d+)\]((?: \[cursor=pointer\])?(?: \[box=[^\]]*\])?'?)$")
_MAIN_FRAME_REF = re.compile(r"e\d+")


def main_frame_refs(snapshot: str) -> tuple[str, str | None]:
    """``snapshot`` (a page's AI snapshot) with its main frame's refs as ``e<N>``, and the
    prefix Playwright gave them (``"f3"``; ``""`` for none), or None when it has no refs.

    The first ref is the main frame's (the snapshot starts at its root; an iframe's elements
    come after the iframe element), so its prefix is the main frame's.
    """
    prefix: str | None = None

    def key(match: re.Match[str]) -> str:
        nonlocal prefix
        lead, text = match.groups()
        ref = _KEY_REF.search(text)
        if ref is None:
            return match.group(0)
        if prefix is None:
            prefix = ref.group(1) or ""
        if not prefix or ref.group(1) != prefix:
            return match.group(0)
        return f"{lead}{text[: ref.start()]}[ref={ref.group(2)}]{ref.group(3)}"

    return _SNAPSHOT_KEY.sub(key, snapshot), prefix


async def _until(changed: asyncio.Event, done: Callable[[], bool], timeout: float) -> bool:
    """Whether ``done()`` came true within ``timeout`` seconds, checked each time ``changed``
    is set (by whatever can make it true)."""

    async def wait() -> None:
        while not done():
            changed.clear()
            await changed.wait()

    try:
        await asyncio.wait_for(wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


def _error(exc: BaseException) -> ToolError:
    """A Playwright error as a short message for the model (its call log left out)."""
    message = str(exc).split("\nCall log:", 1)[0].strip()
    if "Invalid frame in aria-ref selector" in message:  # see Browser.ref
        return ToolError(
            "Ref not found: the page (or the frame the ref was in) has changed since the "
            "snapshot it came from. Take a new snapshot with browser_snapshot and use its refs."
        )
    return ToolError(message or type(exc).__name__)


class Browser:
    """Playwright on an event loop of its own thread; tool calls run there one at a time."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="browser", daemon=True).start()
        self.playwright: Any = None
        self.browser: Any = None
        self.context: Any = None
        self.current: Any = None
        self.dialogs: dict[Any, Any] = {}  # page -> the dialog waiting for an answer
        self.choosers: dict[Any, Any] = {}  # page -> the file chooser waiting for files
        self.ref_prefixes: dict[Any, str] = {}  # page -> its main frame's ref prefix (state)
        self.lock: asyncio.Lock | None = None
        self.used = False  # a call has run: the first page is the user's, never primed
        self.starting: asyncio.Future | None = None
        self.modal_opened = asyncio.Event()  # set on the loop when a dialog or chooser opens

    def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn()`` on the browser's loop, after any call before it; its result."""

        async def serialized() -> Any:
            async with self._serial():
                self.used = True
                return await fn()

        future = asyncio.run_coroutine_threadsafe(serialized(), self.loop)
        try:
            return future.result(CALL_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise ToolError(f"the browser did not answer within {CALL_TIMEOUT_S:g} s") from None
        except ToolError:
            raise
        except Exception as exc:
            raise _error(exc) from None

    def _serial(self) -> asyncio.Lock:
        """The lock that runs calls one at a time (made on the browser's loop)."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        return self.lock

    def warm(self) -> concurrent.futures.Future:
        """Start the browser now, in the background, so the first call does not wait for it;
        the future is done once its page is open and primed (``_prime``)."""
        return asyncio.run_coroutine_threadsafe(self._warm(), self.loop)

    async def _warm(self) -> None:
        await self._launch_once()
        if self.used or self._serial().locked():  # a call came during the start: it is first
            return
        async with self._serial():
            await self._prime()

    async def _prime(self) -> None:
        """Take the blank first page's snapshot once. That compiles Playwright's injected
        script, which the first snapshot of any document needs, in the renderer the first
        navigation reuses, so that navigation finds it in V8's cache: a pooled sandbox's first
        ``browser_navigate`` about 40 ms sooner (measured on one CPU). Only a head start: once
        any call has run the browser is the user's and is left alone, a dialog is never
        waited on, and a failure is not the browser's."""
        page = self.current
        if self.used or page is None or page.is_closed() or self.modal(page):
            return
        try:
            await page.aria_snapshot(mode="ai", timeout=PRIME_TIMEOUT_MS)
        except Exception as exc:
            print(f"toolserver: priming the first page failed: {exc}", file=sys.stderr)

    async def _launch_once(self) -> None:
        if self.starting is None or (self.starting.done() and self.starting.exception()):
            self.starting = asyncio.ensure_future(self._launch())
        await asyncio.shield(self.starting)

    async def _launch(self) -> None:
        steps: list[str] = []
        begun = mark = time.monotonic()

        def step(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            steps.append(f"{name} {now - mark:.2f} s")
            mark = now

        if self.playwright is None:
            from playwright.async_api import async_playwright

            self.playwright = await async_playwright().start()
            step("playwright")
        if self.browser is None or not self.browser.is_connected():
            await asyncio.to_thread(desktop.DESKTOP.ensure)  # Chromium needs the display
            step("display")
            self.browser = await self.playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=False,
                args=CHROMIUM_ARGS,
                env={**os.environ, "DISPLAY": desktop.display()},
            )
            step("chromium")
        self.context = await self.browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.context.set_default_timeout(ACTION_TIMEOUT_MS)
        self.context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        self.context.on("page", self._watch)
        self.current = await self.context.new_page()
        step("page")
        print(
            f"toolserver: browser ready in {time.monotonic() - begun:.2f} s ({', '.join(steps)})",
            file=sys.stderr,
            flush=True,
        )

    def _watch(self, page: Any) -> None:
        """Keep a page's dialogs and file choosers for the tools that answer them."""

        def keep(waiting: dict[Any, Any], item: Any) -> None:
            waiting[page] = item
            self.modal_opened.set()

        page.on("dialog", lambda dialog: keep(self.dialogs, dialog))
        page.on("filechooser", lambda chooser: keep(self.choosers, chooser))
        page.on("close", lambda _: self._closed(page))

    def _closed(self, page: Any) -> None:
        self.dialogs.pop(page, None)
        self.choosers.pop(page, None)
        self.ref_prefixes.pop(page, None)
        if page is self.current:
            pages = self.context.pages if self.context else []
            self.current = pages[-1] if pages else None
            if self.current is not None:  # show the live view the tab the tools now act on
                shown = asyncio.ensure_future(self.current.bring_to_front())
                shown.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def page(self) -> Any:
        """The current tab, the browser (re)started or a tab opened when there is none."""
        if self.browser is not None and not self.browser.is_connected():
            self.context = self.starting = None  # Chromium died: start it again
        if self.context is None:  # not started yet, starting (warm), or closed
            await self._launch_once()
        if self.current is None or self.current.is_closed():
            self.current = await self.context.new_page()
        return self.current

    async def act(self, page: Any, action: Awaitable[Any]) -> None:
        """Run an action until it ends or opens a dialog or file chooser on ``page``.

        A JavaScript dialog blocks the page, so an action that opened one may not end until
        it is answered: the tool then reports the dialog (browser_handle_dialog answers it)
        and the action finishes on its own afterwards. A dialog or chooser may also be
        announced just after the action returns, so one round trip to the page follows: the
        browser's events reach us in order, before that round trip's answer.
        """
        self.modal_opened.clear()
        if await self._until_modal(page, action):
            return
        await self._until_modal(page, page.evaluate("0"), probe=True)

    async def _until_modal(self, page: Any, step: Awaitable[Any], probe: bool = False) -> bool:
        """Await ``step`` unless a modal opens first on ``page``; whether one did."""
        task = asyncio.ensure_future(step)
        opened = asyncio.ensure_future(self.modal_opened.wait())
        await asyncio.wait({task, opened}, return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()
        if not task.done() and self.modal(page):
            # it ends once the modal is answered; its outcome is of no interest then
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return True
        try:
            await task
        except Exception:
            if not probe:
                raise
        return bool(self.modal(page))

    async def navigate(self, page: Any, go: Callable[[], Awaitable[Any]]) -> None:
        """Run the navigation ``go()`` makes on ``page`` (a goto, back or forward).

        One that fails with a network error (``net::ERR_...``; not ``ERR_ABORTED``, which
        leaves the page as it was: a download, a 204, an external scheme) raises its error
        once Chromium's error page for it has committed. Chromium commits that page a little
        after it reports the failure, and one that commits while the next navigation runs
        cuts that one short ("interrupted by another navigation"), though it goes on and
        loads; a snapshot taken before it is of a page about to go.

        Should an error page still come in while this navigation runs (an earlier one's,
        say a form a key press submitted), the navigation is not taken as failed: it goes
        on, and this waits for its document as ``go()`` would have.
        """
        commits: list[str] = []  # the URLs the main frame has committed since go() began
        arrived = asyncio.Event()

        def committed(frame: Any) -> None:
            if frame is page.main_frame:
                commits.append(frame.url)
                arrived.set()

        def error_pages() -> int:
            return sum(url.startswith(ERROR_PAGE) for url in commits)

        def went_on() -> bool:  # a document other than an error page came, or a second one
            if error_pages() > 1:
                return True
            return bool(commits) and not commits[-1].startswith(ERROR_PAGE)

        page.on("framenavigated", committed)
        try:
            await go()
        except Exception as exc:
            message = str(exc)
            if INTERRUPTED_BY_ERROR_PAGE in message:
                if not await _until(arrived, went_on, NAVIGATION_S):
                    raise
                if error_pages() > 1:  # this navigation's own
                    raise ToolError(
                        "The navigation failed: the page shows Chromium's error page "
                        "(browser_snapshot reads it)"
                    ) from None
                await page.wait_for_load_state("domcontentloaded")
                return
            if "net::ERR_" in message and "net::ERR_ABORTED" not in message:
                await _until(arrived, lambda: error_pages() > 0, ERROR_PAGE_TIMEOUT_S)
                if error_pages():
                    with contextlib.suppress(Exception):  # the page closed: the error stands
                        await page.wait_for_load_state("domcontentloaded")
            raise
        finally:
            page.remove_listener("framenavigated", committed)

    def ref(self, page: Any, ref: str) -> Any:
        """The locator of the element ``ref`` names on ``page``, a ref of its last snapshot
        (``state``): ``e<N>``, the main frame's, with the prefix Playwright gave that
        snapshot's document put back; an iframe's ``f<M>e<N>`` as it is. A ref from a
        document the tab has left since fails at once (``_error``), as it should."""
        prefix = self.ref_prefixes.get(page, "")
        if prefix and _MAIN_FRAME_REF.fullmatch(ref):
            ref = prefix + ref
        return page.get_by_ref(ref)

    async def close(self) -> None:
        context, self.context, self.current, self.starting = self.context, None, None, None
        self.dialogs.clear()
        self.choosers.clear()
        self.ref_prefixes.clear()
        if context is not None:
            await context.close()

    # -- what the tools answer --------------------------------------------------------------

    def modal(self, page: Any) -> str:
        dialog = self.dialogs.get(page)
        if dialog is not None:
            return (
                f'- ["{dialog.type}" dialog with message "{dialog.message}"]: answer it with '
                "browser_handle_dialog"
            )
        if page in self.choosers:
            return "- [File chooser]: choose files with browser_file_upload"
        return ""

    async def state(self, page: Any | None = None) -> str:
        """The page's URL, title and AI snapshot (with refs), as Playwright MCP reports them."""
        page = page or await self.page()
        lines = []
        pages = self.context.pages
        if len(pages) > 1:
            lines += ["### Open tabs", *self.tab_lines(), ""]
        modal = self.modal(page)
        if modal:
            return "\n".join([*lines, "### Modal state", modal])
        # both at once: two round trips to the page, the answer waits for one
        snapshot, title = await asyncio.gather(page.aria_snapshot(mode="ai"), page.title())
        snapshot, prefix = main_frame_refs(snapshot)
        if prefix is not None:  # with no refs, the last prefix stays: its refs are stale
            self.ref_prefixes[page] = prefix
        lines += [
            "### Page state",
            f"- Page URL: {page.url}",
            f"- Page Title: {title}",
            "- Page Snapshot:",
            "```yaml",
            snapshot,
            "```",
        ]
        return "\n".join(lines)

    def tab_lines(self) -> list[str]:
        lines = []
        for i, page in enumerate(self.context.pages if self.context else []):
            mark = " (current)" if page is self.current else ""
            lines.append(f"- {i}:{mark} ({page.url})")
        return lines

    def tab(self, index: int) -> Any:
        pages = self.context.pages if self.context else []
        if not 0 <= index < len(pages):
            raise ToolError(f"no tab {index}; open tabs: 0..{len(pages) - 1}")
        return pages[index]


BROWSER = Browser()
