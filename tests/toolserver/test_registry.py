"""Tool sets as modules of decorated functions, and what a tool may return."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sandbox_images" / "toolserver"))

from toolserver import server as toolserver_server
from toolserver.registry import ToolSet, content_of, image, schema, string, text
from toolserver.workspace import Workspace

from functions.runtime.sandbox import desktop


def test_a_tool_set_binds_its_functions_to_the_workspace(tmp_path: Path):
    tools = ToolSet("demo")
    started: list[Path] = []

    @tools.tool("Echo with the workspace.", schema(["word"], word=string("a word")))
    def echo(ws: Workspace, word: str) -> str:
        return f"{ws.root.name}:{word}"

    @tools.on_start
    def start(ws: Workspace) -> None:
        started.append(ws.root)

    (bound,) = tools.bind(Workspace(str(tmp_path)))
    assert bound.name == "echo"
    assert bound.describe()["parameters"]["required"] == ["word"]
    assert bound.fn(word="hi") == f"{tmp_path.name}:hi"
    assert echo.__name__ == "echo"  # the decorator hands the function back unchanged
    tools.starters[0](Workspace(str(tmp_path)))
    assert started == [tmp_path]


def test_results_become_mcp_content():
    assert content_of("plain") == [{"type": "text", "text": "plain"}]
    png = b"\x89PNG\r\n\x1a\n"
    parts = [text("a picture"), image(png)]
    assert content_of(parts) == parts
    assert parts[1] == {
        "type": "image",
        "data": base64.b64encode(png).decode(),
        "mimeType": "image/png",
    }


def test_view_token_is_derived_alike_on_both_sides():
    token = "tool-token-123"
    assert toolserver_server.view_token(token) == desktop.view_token(token)
    assert desktop.view_token(token) != desktop.view_token("other")
    assert token not in desktop.view_token(token)
    url = desktop.desktop_url("http://127.0.0.1:6080/", token)
    assert url == (
        "http://127.0.0.1:6080/vnc.html?autoconnect=true&resize=scale"
        f"&path=websockify%3Ftoken%3D{desktop.view_token(token)}"
    )
    # the view relayed under a prefix (the tool port's /desktop, a proxy's route)
    relayed = desktop.desktop_url("http://127.0.0.1:8000/desktop", token)
    assert relayed.startswith("http://127.0.0.1:8000/desktop/vnc.html?")
    assert relayed.endswith(f"&path=desktop%2Fwebsockify%3Ftoken%3D{desktop.view_token(token)}")


def test_docker_extras_touch_desktop_types_only():
    base = {
        "read_only": True,
        "cap_drop": ["ALL"],
        "pids_limit": 256,
        "tmpfs": {"/workspace": "rw,size=512m", "/tmp": "rw,size=64m"},
        "ports": {"8000/tcp": ("127.0.0.1", None)},
    }
    assert desktop.docker_run_extras("base", base) is base
    extra = desktop.docker_run_extras("browser", base)
    assert extra["read_only"] is True and extra["cap_drop"] == ["ALL"]
    assert extra["tmpfs"]["/workspace"] == "rw,size=512m"
    assert "/home/sandbox" in extra["tmpfs"]
    assert extra["ports"] == {
        "8000/tcp": ("127.0.0.1", None),
        "6080/tcp": ("127.0.0.1", None),
    }
    assert extra["pids_limit"] == 1024
    assert base["tmpfs"] == {"/workspace": "rw,size=512m", "/tmp": "rw,size=64m"}  # untouched
