"""The filesystem tool set, called in-process: results, error cases, confinement, output cap."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sandbox_images" / "toolserver"))

import pytest
from toolserver.registry import Tool, ToolError, check_arguments
from toolserver.tools import load
from toolserver.tools.filesystem import tools as filesystem_tools
from toolserver.workspace import Workspace

from tests.sandbox_images.expected import FILESYSTEM_TOOLS

TOOL_NAMES = FILESYSTEM_TOOLS


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a file the tools must never reach."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("secret")
    return out


@pytest.fixture
def tools(ws: Path) -> dict[str, Tool]:
    return {tool.name: tool for tool in filesystem_tools.bind(Workspace(str(ws)))}


@pytest.fixture
def call(tools: dict[str, Tool]):
    def call(name: str, **args: object) -> str:
        tool = tools[name]
        return tool.fn(**check_arguments(tool, args))

    return call


def test_offers_the_mcp_filesystem_tools_with_their_argument_names(ws, tools):
    assert set(tools) == TOOL_NAMES
    assert set(load(["filesystem"], Workspace(str(ws)))) == TOOL_NAMES
    props = {name: set(tool.parameters["properties"]) for name, tool in tools.items()}
    assert props["edit_file"] == {"path", "edits", "dryRun"}
    assert props["search_files"] == {"path", "pattern", "excludePatterns"}
    assert props["move_file"] == {"source", "destination"}
    assert props["read_multiple_files"] == {"paths"}
    assert tools["edit_file"].parameters["required"] == ["path", "edits"]


def test_write_then_read_round_trip_creating_parents(ws, call):
    text = "héllo\nwörld\n"
    assert call("write_file", path="a/b/c.txt", content=text) == "Successfully wrote to a/b/c.txt"
    assert (ws / "a" / "b" / "c.txt").read_text(encoding="utf-8") == text
    assert call("read_file", path="a/b/c.txt") == text
    assert call("read_file", path=str(ws / "a" / "b" / "c.txt")) == text  # absolute inside


def test_write_overwrites_atomically_keeping_the_mode_and_leaving_no_temp_file(ws, call):
    target = ws / "run.sh"
    target.write_text("old")
    target.chmod(0o751)
    call("write_file", path="run.sh", content="new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert sorted(p.name for p in ws.iterdir()) == ["run.sh"]


def test_write_refuses_a_directory(ws, call):
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        call("write_file", path="d", content="x")
    assert (ws / "d").is_dir()


def test_read_file_refuses_a_missing_file_and_a_directory(ws, call):
    with pytest.raises(ToolError, match="no such file"):
        call("read_file", path="nope.txt")
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        call("read_file", path="d")


def test_read_file_replaces_invalid_utf8(ws, call):
    (ws / "bin").write_bytes(b"ok\xff\xfe!")
    assert call("read_file", path="bin") == "ok\ufffd\ufffd!"


def test_read_multiple_files_reports_a_failure_without_failing_the_others(ws, call):
    (ws / "a.txt").write_text("alpha")
    (ws / "d").mkdir()
    (ws / "d" / "b.txt").write_text("beta")
    result = call("read_multiple_files", paths=["a.txt", "missing.txt", "d/b.txt", "../x"])
    parts = result.split("\n---\n")
    assert len(parts) == 4
    assert parts[0] == "a.txt:\nalpha\n"
    assert parts[1].startswith("missing.txt: Error - ") and "no such file" in parts[1]
    assert parts[2] == "d/b.txt:\nbeta\n"
    assert parts[3].startswith("../x: Error - ") and ".." in parts[3]


def test_read_multiple_files_refuses_non_string_paths(call):
    with pytest.raises(ToolError, match="array of strings"):
        call("read_multiple_files", paths=["a.txt", 3])


def test_edit_file_applies_edits_in_order_and_returns_a_diff(ws, call):
    (ws / "m.py").write_text("def f():\n    return 1\n\nx = f()\n")
    diff = call(
        "edit_file",
        path="m.py",
        edits=[
            {"oldText": "return 1", "newText": "return 2"},
            {"oldText": "return 2\n", "newText": "return 2  # two\n"},  # sees the first edit
        ],
    )
    assert (ws / "m.py").read_text() == "def f():\n    return 2  # two\n\nx = f()\n"
    assert "--- a/m.py\n+++ b/m.py\n" in diff
    assert "\n-    return 1\n+    return 2  # two\n" in diff


def test_edit_file_dry_run_returns_the_diff_and_leaves_the_file(ws, call):
    (ws / "t.txt").write_text("one\ntwo\n")
    before = (ws / "t.txt").stat().st_mtime_ns
    diff = call(
        "edit_file", path="t.txt", edits=[{"oldText": "two", "newText": "deux"}], dryRun=True
    )
    assert "-two\n+deux\n" in diff
    assert (ws / "t.txt").read_text() == "one\ntwo\n"
    assert (ws / "t.txt").stat().st_mtime_ns == before


def test_edit_file_old_text_not_found_names_the_edit_and_writes_nothing(ws, call):
    (ws / "t.txt").write_text("one\ntwo\n")
    edits = [{"oldText": "one", "newText": "1"}, {"oldText": "three", "newText": "3"}]
    with pytest.raises(ToolError, match="edit 2: oldText not found"):
        call("edit_file", path="t.txt", edits=edits)
    assert (ws / "t.txt").read_text() == "one\ntwo\n"  # the first edit was not written either


@pytest.mark.parametrize(
    ("content", "old"),
    [("x = 1\nx = 1\n", "x = 1"), ("aaa", "aa")],  # the second: overlapping occurrences
)
def test_edit_file_refuses_an_ambiguous_old_text(ws, call, content, old):
    (ws / "t.txt").write_text(content)
    with pytest.raises(ToolError, match="edit 1: oldText is ambiguous"):
        call("edit_file", path="t.txt", edits=[{"oldText": old, "newText": "y"}])
    assert (ws / "t.txt").read_text() == content


def test_edit_file_refuses_malformed_edits(ws, call):
    (ws / "t.txt").write_text("abc")
    with pytest.raises(ToolError, match="edit 1 must be an object"):
        call("edit_file", path="t.txt", edits=[{"oldText": "a"}])
    with pytest.raises(ToolError, match="oldText is empty"):
        call("edit_file", path="t.txt", edits=[{"oldText": "", "newText": "z"}])
    assert (ws / "t.txt").read_text() == "abc"


def test_edit_file_keeps_crlf_and_refuses_non_utf8(ws, call):
    (ws / "win.txt").write_bytes(b"a\r\nb\r\n")
    call("edit_file", path="win.txt", edits=[{"oldText": "b", "newText": "c"}])
    assert (ws / "win.txt").read_bytes() == b"a\r\nc\r\n"
    (ws / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ToolError, match="not UTF-8"):
        call("edit_file", path="latin1.txt", edits=[{"oldText": "caf", "newText": "bar"}])
    assert (ws / "latin1.txt").read_bytes() == b"caf\xe9"


def test_create_and_list_directory(ws, call):
    assert call("create_directory", path="x/y/z") == "Successfully created directory x/y/z"
    assert (ws / "x" / "y" / "z").is_dir()
    assert call("create_directory", path="x/y/z") == "Successfully created directory x/y/z"
    (ws / "x" / "b.txt").write_text("")
    (ws / "x" / "a.txt").write_text("")
    assert call("list_directory", path="x") == "[FILE] a.txt\n[FILE] b.txt\n[DIR] y"
    with pytest.raises(ToolError, match="not a directory"):
        call("list_directory", path="x/a.txt")


def test_create_directory_over_a_file_is_a_tool_error(ws, call):
    (ws / "f").write_text("keep")
    with pytest.raises(ToolError, match="create_directory: File exists: f"):
        call("create_directory", path="f")
    assert (ws / "f").read_text() == "keep"


def test_directory_tree_is_json_and_does_not_follow_symlinked_dirs(ws, call):
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "pkg" / "m.py").write_text("")
    (ws / "README").write_text("")
    (ws / "loop").symlink_to(ws / "src", target_is_directory=True)
    tree = json.loads(call("directory_tree", path="."))
    assert tree == [
        {"name": "README", "type": "file"},
        {"name": "loop", "type": "file"},
        {
            "name": "src",
            "type": "directory",
            "children": [
                {
                    "name": "pkg",
                    "type": "directory",
                    "children": [{"name": "m.py", "type": "file"}],
                }
            ],
        },
    ]
    assert json.loads(call("directory_tree", path="src/pkg")) == [{"name": "m.py", "type": "file"}]


def test_move_file_renames_and_creates_destination_parents(ws, call):
    (ws / "a.txt").write_text("A")
    assert call("move_file", source="a.txt", destination="new/dir/b.txt") == (
        "Successfully moved a.txt to new/dir/b.txt"
    )
    assert not (ws / "a.txt").exists()
    assert (ws / "new" / "dir" / "b.txt").read_text() == "A"


def test_move_file_refuses_an_existing_destination(ws, call):
    (ws / "a.txt").write_text("A")
    (ws / "b.txt").write_text("B")
    with pytest.raises(ToolError, match="already exists"):
        call("move_file", source="a.txt", destination="b.txt")
    assert (ws / "a.txt").read_text() == "A"
    assert (ws / "b.txt").read_text() == "B"


def test_move_file_refuses_a_missing_source_and_a_move_into_itself(ws, call):
    with pytest.raises(ToolError, match="no such file"):
        call("move_file", source="ghost", destination="b")
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="into itself"):
        call("move_file", source="d", destination="d/sub")
    assert (ws / "d").is_dir()
    with pytest.raises(ToolError, match="workspace itself"):
        call("move_file", source=".", destination="elsewhere")


def test_move_file_moves_a_symlink_not_its_target(ws, call):
    (ws / "target.txt").write_text("T")
    (ws / "link").symlink_to("target.txt")
    call("move_file", source="link", destination="link2")
    assert (ws / "target.txt").read_text() == "T"
    assert not os.path.lexists(ws / "link")
    assert (ws / "link2").is_symlink() and (ws / "link2").read_text() == "T"


def test_search_files_substring_glob_case_and_excludes(ws, call):
    for rel in ["src/Main.py", "src/util.py", "src/notes.txt", "node_modules/lib/x.py", "MAIN.md"]:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("")
    assert call("search_files", path=".", pattern="main") == "MAIN.md\nsrc/Main.py"
    assert call("search_files", path=".", pattern="*.PY").splitlines() == [
        "node_modules/lib/x.py",
        "src/Main.py",
        "src/util.py",
    ]
    assert call(
        "search_files", path=".", pattern="*.py", excludePatterns=["node_modules"]
    ).splitlines() == ["src/Main.py", "src/util.py"]
    assert call("search_files", path="src", pattern="*", excludePatterns=["*.py"]) == (
        "src/notes.txt"
    )
    assert call("search_files", path=".", pattern="zzz") == "No matches found"


def test_get_file_info(ws, call):
    (ws / "f.txt").write_text("12345")
    (ws / "f.txt").chmod(0o640)
    info = dict(line.split(": ", 1) for line in call("get_file_info", path="f.txt").splitlines())
    assert list(info) == [
        "size",
        "created",
        "modified",
        "accessed",
        "isDirectory",
        "isFile",
        "permissions",
    ]
    assert info["size"] == "5"
    assert (info["isDirectory"], info["isFile"], info["permissions"]) == ("false", "true", "640")
    modified = datetime.fromisoformat(info["modified"].replace("Z", "+00:00"))
    assert modified.utcoffset().total_seconds() == 0
    assert abs(modified.timestamp() - (ws / "f.txt").stat().st_mtime) < 0.001
    dir_info = call("get_file_info", path=".")
    assert "isDirectory: true" in dir_info and "isFile: false" in dir_info
    with pytest.raises(ToolError, match="no such file"):
        call("get_file_info", path="ghost")


def test_list_allowed_directories_names_the_workspace(ws, call):
    assert call("list_allowed_directories") == f"Allowed directories:\n{os.path.realpath(ws)}"


ESCAPE_CALLS = {
    "read_file": ("read_file", {"path": "{p}/secret.txt"}),
    "write_file": ("write_file", {"path": "{p}/new.txt", "content": "pwned"}),
    "edit_file": (
        "edit_file",
        {"path": "{p}/secret.txt", "edits": [{"oldText": "secret", "newText": "pwned"}]},
    ),
    "create_directory": ("create_directory", {"path": "{p}/newdir"}),
    "list_directory": ("list_directory", {"path": "{p}"}),
    "directory_tree": ("directory_tree", {"path": "{p}"}),
    "move_file_source": ("move_file", {"source": "{p}/secret.txt", "destination": "in.txt"}),
    "move_file_destination": ("move_file", {"source": "here.txt", "destination": "{p}/x.txt"}),
    "search_files": ("search_files", {"path": "{p}", "pattern": "secret"}),
    "get_file_info": ("get_file_info", {"path": "{p}/secret.txt"}),
}


def _fill(value: object, p: str) -> object:
    if isinstance(value, str):
        return value.replace("{p}", p)
    if isinstance(value, list):
        return [_fill(v, p) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, p) for k, v in value.items()}
    return value


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
@pytest.mark.parametrize("case", ESCAPE_CALLS)
def test_every_path_argument_is_confined_to_the_workspace(ws, outside, call, how, case):
    (ws / "here.txt").write_text("here")
    (ws / "escape").symlink_to(outside, target_is_directory=True)
    p = {"dotdot": "../outside", "absolute": str(outside), "symlink": "escape"}[how]
    name, args = ESCAPE_CALLS[case]
    with pytest.raises(ToolError, match=r"'\.\.'|outside the workspace"):
        call(name, **_fill(args, p))
    assert sorted(q.name for q in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert (ws / "here.txt").read_text() == "here"
    assert not (ws / "in.txt").exists()


def test_a_symlink_inside_the_workspace_pointing_inside_is_fine(ws, call):
    (ws / "real.txt").write_text("R")
    (ws / "alias.txt").symlink_to("real.txt")
    assert call("read_file", path="alias.txt") == "R"


def test_check_arguments_refuses_unknown_missing_and_mistyped_arguments(tools):
    with pytest.raises(ToolError, match="unknown argument"):
        check_arguments(tools["read_file"], {"path": "a", "encoding": "latin-1"})
    with pytest.raises(ToolError, match=r"missing required argument.*content"):
        check_arguments(tools["write_file"], {"path": "a"})
    with pytest.raises(ToolError, match="'paths' must be array"):
        check_arguments(tools["read_multiple_files"], {"paths": "a.txt"})
    with pytest.raises(ToolError, match="'dryRun' must be boolean"):
        check_arguments(tools["edit_file"], {"path": "a", "edits": [], "dryRun": "yes"})


def test_output_is_capped_for_big_files_and_listings(ws, call, monkeypatch):
    monkeypatch.setenv("TOOLSERVER_OUTPUT_LIMIT", "100")
    (ws / "big.txt").write_text("x" * 10_000)
    out = call("read_file", path="big.txt")
    assert out == "x" * 100 + "\n[... output truncated: 9900 more bytes not shown ...]"
    many = call("read_multiple_files", paths=["big.txt", "big.txt"])
    assert many.startswith("big.txt:\nxxx") and "output truncated" in many
    assert len(many.split("\n[...")[0].encode()) == 100
    for i in range(50):
        (ws / f"file_{i:02}.txt").write_text("")
    listing = call("search_files", path=".", pattern="file_")
    assert listing.startswith("file_00.txt\nfile_01.txt") and "output truncated" in listing
    tree = call("directory_tree", path=".")
    assert tree.startswith('[\n  {\n    "name": "big.txt"') and "output truncated" in tree
    assert "output truncated" in call("list_directory", path=".")


def test_small_output_is_not_marked_as_cut(ws, call, monkeypatch):
    monkeypatch.setenv("TOOLSERVER_OUTPUT_LIMIT", "100")
    (ws / "small.txt").write_text("x" * 100)
    assert call("read_file", path="small.txt") == "x" * 100
