"""The sandbox type registry is the one list: everything that names types agrees with it."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest

from functions.runtime.sandbox import client as sdk
from functions.runtime.sandbox.types import SANDBOX_TYPES, get_sandbox_type
from sandbox_images import build
from tests.infra.hcl import root


def toolserver_toolsets() -> tuple[str, ...]:
    """The tool server's own ``TOOLSETS`` (read from its source: it runs in the images)."""
    source = (build.HERE / "toolserver" / "toolserver" / "tools" / "__init__.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TOOLSETS":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("the tool server defines no TOOLSETS")


def test_tool_sets_are_the_tool_servers():
    named = {name for t in SANDBOX_TYPES.values() for name in t.toolsets}
    assert named == set(toolserver_toolsets()), (
        "a tool set the tool server lacks, or one no type uses"
    )
    for t in SANDBOX_TYPES.values():
        assert t.toolsets[0] == "base", f"{t.name}: every sandbox offers the base tools"
        if t.parent is not None:
            parent = SANDBOX_TYPES[t.parent]
            if parent.desktop:  # built on a desktop image for its desktop, not its tools
                assert t.desktop, f"{t.name} is built on a desktop but has none"
            else:
                assert set(parent.toolsets) <= set(t.toolsets), f"{t.name} drops its parent's tools"


def test_the_image_build_builds_each_type_from_its_folder():
    assert build.TYPES == tuple(SANDBOX_TYPES)
    assert build.build_order(["filesystem"]) == ["base", "filesystem"]
    for name in SANDBOX_TYPES:
        dockerfile = (build.HERE / name / "Dockerfile").read_text()
        assert f'agentscope-faas.sandbox-type="{name}"' in dockerfile


def test_built_images_carry_the_registry_s_type_and_tool_sets(
    sandbox_images_built: dict[str, str], docker_client: Any
):
    assert set(sandbox_images_built) == set(SANDBOX_TYPES)
    for name, image in sandbox_images_built.items():
        config = docker_client.images.get(image).attrs["Config"]
        assert config["Labels"]["agentscope-faas.sandbox-type"] == name
        toolsets = ",".join(SANDBOX_TYPES[name].toolsets)
        assert f"TOOLSERVER_TOOLSETS={toolsets}" in config["Env"]


def test_the_sdk_has_a_class_per_type():
    classes = {
        cls.sandbox_type: cls
        for cls in vars(sdk).values()
        if inspect.isclass(cls) and issubclass(cls, sdk.BaseSandbox)
    }
    assert set(classes) == set(SANDBOX_TYPES)


def test_terraform_deploys_the_registry_s_types_by_default():
    variable = root("alicloud").variable["sandbox_types"]
    assert variable["default"] == list(SANDBOX_TYPES)


def test_an_unknown_type_is_a_named_422():
    from functions.runtime.sandbox.errors import UnknownSandboxType

    with pytest.raises(UnknownSandboxType) as raised:
        get_sandbox_type("gpu")
    assert raised.value.status == 422 and "base" in str(raised.value)
