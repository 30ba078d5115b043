"""The sandbox SDK against the sandbox function (SANDBOX_URL); embedded mode: test_embedded.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from functions.runtime.sandbox import (
    AsyncFilesystemSandbox,
    BaseSandbox,
    FilesystemSandbox,
    SandboxError,
    sandbox_tool_adapter,
)
from functions.runtime.tools import Toolkit
from tests.sandbox.support import containers_of, text_of


@pytest.fixture
def url(serve, settings) -> str:
    return str(serve(settings).base_url)


def test_with_block_makes_uses_and_deletes_a_sandbox(url, settings, docker_client):
    with BaseSandbox(base_url=url, settings=settings) as box:
        names = {t["name"] for t in box.list_tools()}
        assert names == {"run_ipython_cell", "run_shell_command"}
        box.run_ipython_cell(code="total = 40")
        assert text_of(box.run_ipython_cell(code="total + 2")) == "42\n"
        assert text_of(box.run_shell_command(command="echo hello")) == "hello\n"
        failed = box.run_shell_command(command="exit 4")
        assert failed["isError"] is True
        assert len(containers_of(docker_client, settings)) == 1
    assert containers_of(docker_client, settings) == []
    with pytest.raises(SandboxError, match="not started"):
        box.run_shell_command(command="true")


def test_a_session_keeps_its_sandbox_across_with_blocks(url, settings, docker_client):
    with BaseSandbox(base_url=url, settings=settings, session_id="s1", user_id="u") as first:
        first.run_ipython_cell(code="remembered = 'turn one'")
        sid = first.sandbox_id
    with BaseSandbox(base_url=url, settings=settings, session_id="s1", user_id="u") as second:
        assert second.sandbox_id == sid
        assert text_of(second.run_ipython_cell(code="remembered")) == "'turn one'\n"
    assert len(containers_of(docker_client, settings)) == 1  # kept for the session's next turn
    with BaseSandbox(base_url=url, settings=settings, sandbox_id=sid) as attached:
        assert text_of(attached.run_shell_command(command="echo attached")) == "attached\n"


def test_unknown_sandbox_id_is_a_clear_error(url, settings):
    with BaseSandbox(base_url=url, settings=settings, sandbox_id="sbx-missing") as box:
        with pytest.raises(SandboxError) as err:
            box.list_tools()
    assert err.value.status == 404 and err.value.code == "sandbox_not_found"


def test_filesystem_sandbox_tools(url, settings):
    with FilesystemSandbox(base_url=url, settings=settings) as box:
        assert not box.create_directory(path="notes")["isError"]
        assert not box.write_file(path="notes/a.md", content="first line\n")["isError"]
        edit = box.edit_file(path="notes/a.md", edits=[{"oldText": "first", "newText": "1st"}])
        assert "+1st line" in text_of(edit)
        assert text_of(box.read_file(path="notes/a.md")) == "1st line\n"
        assert text_of(box.list_directory(path="notes")) == "[FILE] a.md"
        assert box.read_file(path="../etc/passwd")["isError"] is True


def test_async_twin(url, settings):
    async def scenario() -> tuple[str, str]:
        async with AsyncFilesystemSandbox(base_url=url, settings=settings) as box:
            await box.write_file(path="x.txt", content="async")
            read = await box.read_file(path="x.txt")
            shell = await box.run_shell_command(command="cat x.txt")
            return text_of(read), text_of(shell)

    assert asyncio.run(scenario()) == ("async", "async")


def test_sandbox_methods_become_toolkit_tools(url, settings):
    with BaseSandbox(base_url=url, settings=settings) as box:
        toolkit = Toolkit()
        toolkit.register(sandbox_tool_adapter(box.run_ipython_cell))
        (schema,) = toolkit.schemas()
        fn = schema["function"]
        assert fn["name"] == "run_ipython_cell"
        assert fn["parameters"]["required"] == ["code"]
        assert set(fn["parameters"]["properties"]) == {"code", "timeout"}
        assert "persistent interpreter" in fn["description"]
        ok = asyncio.run(toolkit.call("run_ipython_cell", json.dumps({"code": "1 + 1"})))
        assert ok == ("2\n", False)
        output, is_error = asyncio.run(toolkit.call("run_ipython_cell", '{"code": "1/0"}'))
        assert is_error and "ZeroDivisionError" in output


@pytest.mark.parametrize("name", ["../pause", "../../../sandboxes", "..", "run_shell_command?x=1"])
def test_a_tool_name_stays_a_tool_name_in_the_url(url, settings, docker_client, name):
    """A name that would be a path or a query in a URL names no tool: it never pauses, makes
    or calls anything else (the stdio MCP server passes names from its client so)."""
    with BaseSandbox(base_url=url, settings=settings) as box:
        with pytest.raises(SandboxError) as err:
            box.call_tool(name, {"command": "echo reached"})
        assert err.value.status in (400, 404), err.value  # no such tool, or no such route
        # the sandbox runs on, alone: nothing was paused and no sandbox made
        assert text_of(box.run_shell_command(command="echo alive")) == "alive\n"
        assert len(containers_of(docker_client, settings)) == 1


def test_an_id_stays_an_id_in_the_url(url, settings):
    with BaseSandbox(base_url=url, settings=settings, sandbox_id="../sandboxes?type=x") as box:
        with pytest.raises(SandboxError) as err:
            box.list_tools()
    assert err.value.status == 404  # no such sandbox, or no such route
