"""The handler's ``msgs``: the request's input as agentscope 2.x ``Msg`` objects."""

from __future__ import annotations

import json

from agentscope.message import DataBlock, Msg, ThinkingBlock, ToolCallBlock, ToolResultBlock

from functions.runtime.adapters import get_inbound
from functions.runtime.protocol import AgentRequest

PNG = "iVBORw0KGgo="


def inbound(*messages: dict) -> list[Msg]:
    request = AgentRequest.model_validate({"input": list(messages)})
    return get_inbound("agentscope")(request.input)


def test_user_parts_become_text_and_data_blocks():
    (msg,) = inbound(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "image_url": f"data:image/png;base64,{PNG}"},
                {"type": "image", "image_url": "https://example.com/cat.jpg"},
                {"type": "audio", "data": "UklGRg==", "format": "wav"},
                {"type": "video", "video_url": "https://example.com/v.mp4"},
                {"type": "file", "file_url": "https://example.com/a.pdf", "filename": "a.pdf"},
                {"type": "data", "data": {"k": 1}},
            ],
        }
    )
    assert isinstance(msg, Msg) and msg.role == "user"
    text, png, jpg, wav, mp4, pdf, data = msg.content
    assert text.text == "look"
    assert isinstance(png, DataBlock) and png.source.type == "base64"
    assert (png.source.data, png.source.media_type) == (PNG, "image/png")
    assert str(jpg.source.url) == "https://example.com/cat.jpg"
    assert jpg.source.media_type == "image/jpeg"
    assert (wav.source.data, wav.source.media_type) == ("UklGRg==", "audio/wav")
    assert mp4.source.media_type == "video/mp4"
    assert pdf.name == "a.pdf" and pdf.source.media_type == "application/pdf"
    assert json.loads(data.text) == {"k": 1}


def test_calls_outputs_and_reasoning_become_their_blocks():
    call, output, mcp, thought = inbound(
        {
            "role": "assistant",
            "type": "function_call",
            "content": [
                {"type": "data", "data": {"call_id": "c1", "name": "add", "arguments": "{}"}}
            ],
        },
        {
            "role": "tool",
            "type": "plugin_call_output",
            "content": [{"type": "data", "data": {"call_id": "c1", "name": "add", "output": "3"}}],
        },
        {
            "role": "assistant",
            "type": "mcp_call",
            "content": [
                {"type": "data", "data": {"call_id": "c2", "name": "mcp__s__t", "arguments": {}}}
            ],
        },
        {"role": "assistant", "type": "reasoning", "content": [{"type": "text", "text": "hm"}]},
    )
    (block,) = call.content
    assert isinstance(block, ToolCallBlock) and (block.id, block.name) == ("c1", "add")
    (block,) = output.content
    assert isinstance(block, ToolResultBlock) and block.output == "3"
    assert output.role == "assistant"  # where a 2.x agent keeps tool results
    (block,) = mcp.content
    assert isinstance(block, ToolCallBlock) and block.input == "{}"
    (block,) = thought.content
    assert isinstance(block, ThinkingBlock) and block.thinking == "hm"


def test_other_frameworks_keep_the_protocol_messages():
    request = AgentRequest.model_validate(
        {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    )
    assert get_inbound("native")(request.input) is request.input


def test_the_adapter_loads_only_for_apps_that_declare_it_and_agentscope_lazily():
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import functions.query.app, examples.friday\n"
        "assert 'functions.runtime.adapters.agentscope' not in sys.modules\n"
        "from functions.runtime.app import AgentApp\n"
        "app = AgentApp()\n"
        "app.query(framework='agentscope')(lambda self, msgs, request: None)\n"
        "assert 'functions.runtime.adapters.agentscope' in sys.modules\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'agentscope'], 'eager'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
