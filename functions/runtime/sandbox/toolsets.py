"""The sandbox images' tools as methods, one per tool, written once for both SDK families.

Each method builds the tool's arguments (names as the tool server's, which are the seed's,
the MCP filesystem server's and Playwright MCP's) and hands them to ``call_tool``, which is
blocking in the sync classes and a coroutine in the async ones. Each returns the tool's MCP
``CallToolResult``: ``{"content": [{"type": "text", "text"} | {"type": "image", "data",
"mimeType"}], "isError"}``. ``sandbox_tool_adapter`` reads a tool's JSON schema from a
method's signature and docstring, so both stay as the tool server describes the tool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def arguments(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class BaseTools:
    """The base image's tools (every image has them)."""

    call_tool: Callable[..., Any]

    def run_ipython_cell(self, code: str, timeout: float | None = None) -> Any:
        """Run Python code in the sandbox's persistent interpreter; variables survive calls."""
        return self.call_tool("run_ipython_cell", arguments(code=code, timeout=timeout))

    def run_shell_command(self, command: str, timeout: float | None = None) -> Any:
        """Run a shell command in the sandbox's workspace; returns its output."""
        return self.call_tool("run_shell_command", arguments(command=command, timeout=timeout))


class FilesystemTools(BaseTools):
    """The filesystem image's tools (the MCP filesystem server's names and arguments)."""

    def read_file(self, path: str) -> Any:
        """Read a text file in the workspace."""
        return self.call_tool("read_file", arguments(path=path))

    def read_multiple_files(self, paths: list[str]) -> Any:
        """Read several files at once; a failing one does not fail the others."""
        return self.call_tool("read_multiple_files", arguments(paths=paths))

    def write_file(self, path: str, content: str) -> Any:
        """Create or overwrite a file."""
        return self.call_tool("write_file", arguments(path=path, content=content))

    def edit_file(self, path: str, edits: list[dict], dryRun: bool = False) -> Any:
        """Replace text in a file: edits are {oldText, newText}; returns a diff."""
        return self.call_tool("edit_file", arguments(path=path, edits=edits, dryRun=dryRun))

    def create_directory(self, path: str) -> Any:
        """Create a directory and its parents."""
        return self.call_tool("create_directory", arguments(path=path))

    def list_directory(self, path: str) -> Any:
        """List a directory's entries."""
        return self.call_tool("list_directory", arguments(path=path))

    def directory_tree(self, path: str) -> Any:
        """A directory's tree as JSON."""
        return self.call_tool("directory_tree", arguments(path=path))

    def move_file(self, source: str, destination: str) -> Any:
        """Move or rename a file or directory."""
        return self.call_tool("move_file", arguments(source=source, destination=destination))

    def search_files(
        self,
        path: str,
        pattern: str,
        excludePatterns: list[str] | None = None,
    ) -> Any:
        """Find files whose names match a pattern under a directory."""
        return self.call_tool(
            "search_files", arguments(path=path, pattern=pattern, excludePatterns=excludePatterns)
        )

    def get_file_info(self, path: str) -> Any:
        """Size, times and permissions of a file or directory."""
        return self.call_tool("get_file_info", arguments(path=path))

    def list_allowed_directories(self) -> Any:
        """The directories the tools may touch."""
        return self.call_tool("list_allowed_directories", {})


class BrowserTools(BaseTools):
    """The browser image's tools: Playwright MCP's, on the sandbox's Chromium.

    Elements are named by the ``ref`` a ``browser_snapshot`` shows (``[ref=e5]``) and the
    ``element`` it describes; pages, tabs and cookies last until ``browser_close``.
    """

    def browser_navigate(self, url: str) -> Any:
        """Navigate to a URL; returns the page's snapshot."""
        return self.call_tool("browser_navigate", arguments(url=url))

    def browser_navigate_back(self) -> Any:
        """Go back to the previous page."""
        return self.call_tool("browser_navigate_back", {})

    def browser_navigate_forward(self) -> Any:
        """Go forward to the next page."""
        return self.call_tool("browser_navigate_forward", {})

    def browser_snapshot(self) -> Any:
        """Capture the page's accessibility snapshot (with element refs); better than a
        screenshot for acting on the page."""
        return self.call_tool("browser_snapshot", {})

    def browser_click(
        self,
        element: str,
        ref: str,
        doubleClick: bool = False,
        button: str | None = None,
        modifiers: list[str] | None = None,
    ) -> Any:
        """Click an element (button: left, right or middle; modifiers: Alt, Control,
        ControlOrMeta, Meta, Shift)."""
        return self.call_tool(
            "browser_click",
            arguments(
                element=element,
                ref=ref,
                doubleClick=doubleClick or None,
                button=button,
                modifiers=modifiers,
            ),
        )

    def browser_type(
        self, element: str, ref: str, text: str, submit: bool = False, slowly: bool = False
    ) -> Any:
        """Type text into an editable element; submit presses Enter after it."""
        return self.call_tool(
            "browser_type",
            arguments(element=element, ref=ref, text=text, submit=submit, slowly=slowly),
        )

    def browser_hover(self, element: str, ref: str) -> Any:
        """Hover over an element."""
        return self.call_tool("browser_hover", arguments(element=element, ref=ref))

    def browser_drag(self, startElement: str, startRef: str, endElement: str, endRef: str) -> Any:
        """Drag one element and drop it on another."""
        return self.call_tool(
            "browser_drag",
            arguments(
                startElement=startElement, startRef=startRef, endElement=endElement, endRef=endRef
            ),
        )

    def browser_select_option(self, element: str, ref: str, values: list[str]) -> Any:
        """Select one or more options in a dropdown."""
        return self.call_tool(
            "browser_select_option", arguments(element=element, ref=ref, values=values)
        )

    def browser_press_key(self, key: str) -> Any:
        """Press a key, such as ``ArrowLeft`` or ``a``."""
        return self.call_tool("browser_press_key", arguments(key=key))

    def browser_wait_for(
        self, time: float | None = None, text: str | None = None, textGone: str | None = None
    ) -> Any:
        """Wait for text to appear or disappear, or for some seconds to pass."""
        return self.call_tool(
            "browser_wait_for", arguments(time=time, text=text, textGone=textGone)
        )

    def browser_take_screenshot(
        self,
        type: str | None = None,
        filename: str | None = None,
        element: str | None = None,
        ref: str | None = None,
        fullPage: bool = False,
    ) -> Any:
        """Take a screenshot (png or jpeg) of the viewport, the full page or an element; the
        image comes back as image content and is saved to the workspace."""
        return self.call_tool(
            "browser_take_screenshot",
            arguments(
                type=type, filename=filename, element=element, ref=ref, fullPage=fullPage or None
            ),
        )

    def browser_pdf_save(self, filename: str | None = None) -> Any:
        """Save the page as a PDF in the workspace."""
        return self.call_tool("browser_pdf_save", arguments(filename=filename))

    def browser_file_upload(self, paths: list[str] | None = None) -> Any:
        """Choose workspace files in the open file chooser (none: cancel it)."""
        return self.call_tool("browser_file_upload", arguments(paths=paths))

    def browser_handle_dialog(self, accept: bool, promptText: str | None = None) -> Any:
        """Accept or dismiss the open dialog (promptText answers a prompt)."""
        return self.call_tool(
            "browser_handle_dialog", arguments(accept=accept, promptText=promptText)
        )

    def browser_resize(self, width: float, height: float) -> Any:
        """Resize the browser window."""
        return self.call_tool("browser_resize", arguments(width=width, height=height))

    def browser_console_messages(self, onlyErrors: bool = False) -> Any:
        """The page's console messages."""
        return self.call_tool("browser_console_messages", arguments(onlyErrors=onlyErrors or None))

    def browser_network_requests(self) -> Any:
        """The network requests since the page loaded."""
        return self.call_tool("browser_network_requests", {})

    def browser_tab_list(self) -> Any:
        """List the browser's tabs."""
        return self.call_tool("browser_tab_list", {})

    def browser_tab_new(self, url: str | None = None) -> Any:
        """Open a new tab (at url, else blank) and make it the current one."""
        return self.call_tool("browser_tab_new", arguments(url=url))

    def browser_tab_select(self, index: int) -> Any:
        """Make the tab at index the current one."""
        return self.call_tool("browser_tab_select", arguments(index=index))

    def browser_tab_close(self, index: int | None = None) -> Any:
        """Close the tab at index, else the current one."""
        return self.call_tool("browser_tab_close", arguments(index=index))

    def browser_close(self) -> Any:
        """Close the browser's pages; the next browser tool opens a fresh one."""
        return self.call_tool("browser_close", {})


class GuiTools(BaseTools):
    """The gui image's tool: the mouse, keyboard and screen of the sandbox's desktop."""

    def computer_use(
        self, action: str, coordinate: list[float] | None = None, text: str | None = None
    ) -> Any:
        """Use the desktop: action is key, type, mouse_move, left_click, left_click_drag,
        right_click, middle_click, double_click, get_screenshot or get_cursor_position;
        coordinate is [x, y] in screen pixels; text is what key presses or type types."""
        return self.call_tool(
            "computer_use", arguments(action=action, coordinate=coordinate, text=text)
        )
