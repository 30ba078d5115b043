"""The SDK has one method per tool of its image, with the tool server's argument names, and
image results stay usable: noted in the text, handed on to a model that takes images."""

from __future__ import annotations

import asyncio
import base64
import inspect
import sys
from pathlib import Path

import pytest

from functions.runtime import sandbox as sdk
from functions.runtime.sandbox import ToolText, result_images, result_text, sandbox_tool_adapter
from functions.runtime.sandbox.types import SANDBOX_TYPES
from functions.runtime.tools import Toolkit
from tests.sandbox_images.expected import EXPECTED_TOOLS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sandbox_images" / "toolserver"))

from toolserver import tools as toolserver_tools
from toolserver.workspace import Workspace

CLASSES = {
    "base": (sdk.BaseSandbox, sdk.AsyncBaseSandbox),
    "filesystem": (sdk.FilesystemSandbox, sdk.AsyncFilesystemSandbox),
    "browser": (sdk.BrowserSandbox, sdk.AsyncBrowserSandbox),
    "gui": (sdk.GuiSandbox, sdk.AsyncGuiSandbox),
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def schemas(sandbox_type: str, tmp_path: Path) -> dict[str, dict]:
    """The tool server's own descriptions of the type's tools."""
    names = list(SANDBOX_TYPES[sandbox_type].toolsets)
    offered = toolserver_tools.load(names, Workspace(str(tmp_path)))
    return {name: tool.describe()["parameters"] for name, tool in offered.items()}


@pytest.mark.parametrize("sandbox_type", list(SANDBOX_TYPES))
def test_each_tool_is_a_method_with_the_tool_server_s_arguments(sandbox_type, tmp_path):
    tools = schemas(sandbox_type, tmp_path)
    assert set(tools) == EXPECTED_TOOLS[sandbox_type]
    for cls in CLASSES[sandbox_type]:
        assert cls.sandbox_type == sandbox_type
        for name, parameters in tools.items():
            params = inspect.signature(getattr(cls, name)).parameters
            args = {n: p for n, p in params.items() if n != "self"}
            assert set(args) == set(parameters.get("properties", {})), f"{cls.__name__}.{name}"
            required = [n for n, p in args.items() if p.default is inspect.Parameter.empty]
            assert set(required) == set(parameters.get("required", [])), f"{cls.__name__}.{name}"


def screenshot_result() -> dict:
    return {
        "content": [
            {"type": "text", "text": "Took a screenshot"},
            {"type": "image", "data": base64.b64encode(PNG).decode(), "mimeType": "image/png"},
        ],
        "isError": False,
    }


def test_an_image_is_a_note_in_the_text_and_kept_beside_it():
    result = screenshot_result()
    assert result_text(result) == f"Took a screenshot\n[image: image/png, {len(PNG)} bytes]"
    assert result_images(result) == [result["content"][1]]


class FakeBox(sdk.BrowserSandbox):
    """A handle whose calls answer a screenshot (no sandbox needed for the adapter)."""

    def __init__(self) -> None:  # no HTTP client, no settings: call_tool is all it has
        pass

    def call_tool(self, name, arguments=None):
        return screenshot_result()


def test_our_toolkit_hands_the_images_on_for_a_model_that_takes_them():
    toolkit = Toolkit()
    toolkit.register(sandbox_tool_adapter(FakeBox().browser_take_screenshot))
    output = asyncio.run(toolkit.run("browser_take_screenshot", "{}"))
    assert output.is_error is False and output.text.startswith("Took a screenshot\n[image:")
    assert output.images == result_images(screenshot_result())
    message = output.image_message()
    assert message is not None and message["role"] == "user"
    url = message["content"][1]["image_url"]["url"]
    assert url == f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    assert asyncio.run(toolkit.call("browser_take_screenshot", "{}")) == (output.text, False)


def test_the_agentscope_adapter_gives_image_blocks():
    pytest.importorskip("agentscope")
    from agentscope.tool import FunctionTool

    tool = FunctionTool(
        sandbox_tool_adapter(FakeBox().browser_take_screenshot, framework="agentscope")
    )
    chunk = asyncio.run(tool.call())
    kinds = [block.type for block in chunk.content]
    assert kinds == ["text", "data"]
    data = chunk.content[1]
    assert data.source.media_type == "image/png"
    assert base64.b64decode(data.source.data) == PNG
    plain = sandbox_tool_adapter(FakeBox().browser_take_screenshot)()
    assert isinstance(plain, ToolText) and plain.images
