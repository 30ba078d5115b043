"""The GUI tool set: ``computer_use`` on the sandbox's desktop, as AgentScope Runtime's GUI
sandbox offers it.

``computer_use(action, coordinate?, text?)`` with the seed's actions: ``key`` (an xdotool
key name or chord such as ``Return`` or ``ctrl+a``, in ``text``), ``type`` (``text``),
``mouse_move``, ``left_click``, ``right_click``, ``middle_click``, ``double_click`` (at
``coordinate`` ``[x, y]`` in screen pixels, or where the cursor is), ``left_click_drag``
(from the cursor to ``coordinate``), ``get_screenshot`` (a PNG of the whole display, as MCP
image content) and ``get_cursor_position``. Input goes through xdotool, the screenshot is
``toolserver.screenshot``. Programs are started with the base set's ``run_shell_command``
(``DISPLAY`` points at the desktop), out of the command's process group, which ends with the
command, and waiting for their window: ``setsid xterm >/dev/null 2>&1 & xdotool search
--sync --name xterm``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from .. import desktop
from ..registry import ToolError, ToolSet, image, schema, string
from ..registry import text as text_content
from ..workspace import Workspace

tools = ToolSet("gui")

ACTIONS = (
    "key",
    "type",
    "mouse_move",
    "left_click",
    "left_click_drag",
    "right_click",
    "middle_click",
    "double_click",
    "get_screenshot",
    "get_cursor_position",
)
BUTTONS = {"left_click": "1", "middle_click": "2", "right_click": "3"}
TIMEOUT_S = 30.0
TYPE_CHUNK = 50  # characters per xdotool call: long texts in pieces, each with its own timeout


@tools.on_start
def _start(_ws: Workspace) -> None:
    desktop.DESKTOP.ensure()


def _run(argv: list[str]) -> bytes:
    env = {**os.environ, "DISPLAY": desktop.display()}
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{argv[0]} did not finish within {TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise ToolError(f"{argv[0]} failed: {reason}")
    return proc.stdout


def _xdotool(*args: str) -> str:
    return _run(["xdotool", *args]).decode(errors="replace")


def _point(coordinate: Any) -> tuple[int, int]:
    width, height = desktop.geometry()
    if (
        not isinstance(coordinate, list)
        or len(coordinate) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in coordinate)
    ):
        raise ToolError("coordinate must be [x, y], two numbers of screen pixels")
    x, y = int(coordinate[0]), int(coordinate[1])
    if not (0 <= x < width and 0 <= y < height):
        raise ToolError(f"coordinate {[x, y]} is off the {width}x{height} screen")
    return x, y


def cursor() -> tuple[int, int]:
    out = _xdotool("getmouselocation", "--shell")
    values = dict(re.findall(r"^(\w+)=(\d+)$", out, re.M))
    return int(values["X"]), int(values["Y"])


def screenshot() -> bytes:
    """A PNG of the desktop (its own process: see ``toolserver.screenshot``)."""
    return _run([sys.executable, "-m", "toolserver.screenshot"])


@tools.tool(
    "Use the mouse and keyboard of the sandbox's desktop and take screenshots of it. "
    "Coordinates are screen pixels [x, y] from the top-left corner.",
    schema(
        ["action"],
        action={"type": "string", "enum": list(ACTIONS), "description": "what to do"},
        coordinate={
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
            "description": "[x, y]: where to move or click (for left_click_drag: where to "
            "drag to, from the cursor); clicks without it click where the cursor is",
        },
        text=string("for key: a key name or chord (Return, ctrl+a); for type: the text"),
    ),
)
def computer_use(
    ws: Workspace, action: str, coordinate: list[float] | None = None, text: str | None = None
) -> str | list[dict[str, Any]]:
    if action not in ACTIONS:
        raise ToolError(f"unknown action {action!r}; one of: {', '.join(ACTIONS)}")
    desktop.DESKTOP.ensure()  # a display the user's code killed comes back
    if action in ("key", "type"):
        if not text:
            raise ToolError(f"{action} needs text")
        if coordinate is not None:
            raise ToolError(f"{action} takes no coordinate")
        if action == "key":
            _xdotool("key", "--clearmodifiers", "--", *text.split())
            return f"Pressed {text}"
        for start in range(0, len(text), TYPE_CHUNK):
            _xdotool("type", "--delay", "12", "--", text[start : start + TYPE_CHUNK])
        return f"Typed {len(text)} characters"
    if text is not None:
        raise ToolError(f"{action} takes no text")
    if action == "get_screenshot":
        width, height = desktop.geometry()
        return [text_content(f"Screenshot of the {width}x{height} desktop"), image(screenshot())]
    if action == "get_cursor_position":
        x, y = cursor()
        return f"X={x},Y={y}"
    if action in ("mouse_move", "left_click_drag") and coordinate is None:
        raise ToolError(f"{action} needs a coordinate")
    point = _point(coordinate) if coordinate is not None else None
    if action == "mouse_move":
        assert point is not None
        _xdotool("mousemove", "--sync", str(point[0]), str(point[1]))
        return f"Moved the mouse to ({point[0]}, {point[1]})"
    if action == "left_click_drag":
        assert point is not None
        _xdotool(
            "mousedown", "1", "mousemove", "--sync", str(point[0]), str(point[1]), "mouseup", "1"
        )
        return f"Dragged to ({point[0]}, {point[1]})"
    move = ["mousemove", "--sync", str(point[0]), str(point[1])] if point else []
    if action == "double_click":
        _xdotool(*move, "click", "--repeat", "2", "--delay", "80", "1")
    else:
        _xdotool(*move, "click", BUTTONS[action])
    x, y = point or cursor()
    return f"{action.replace('_', ' ').capitalize()} at ({x}, {y})"
