"""The live views' anonymous door in infra/terraform/alicloud: the sandbox zip deployed again,
serving the desktop routes alone behind an anonymous trigger, its role reading sandbox
records only, its URL told to the sandbox function."""

from __future__ import annotations

import pytest

from functions.runtime.sandbox.types import SANDBOX_TYPES
from tests.infra.hcl import expr, module, root


@pytest.fixture(scope="module")
def ali():
    return root("alicloud")


def test_the_door_is_the_sandbox_zip_serving_its_desktop_routes_alone(ali):
    door = ali.module["sandbox_desktop"]
    assert door["source"] == "../modules/fc_function"
    assert expr(door["artifact"]) == 'module.manifest[0].artifacts["sandbox"]'
    assert 'SANDBOX_ROUTES = "desktop"' in expr(door["environment"])
    assert door["trigger_auth_type"] == "anonymous"  # a browser can neither sign nor bear
    assert set(door["trigger_methods"]) == {"GET", "HEAD"}  # files and the WebSocket's GET
    assert door["state_read_only"] == "sandboxes/"
    # it relays through the sandbox functions' signed triggers: it signs as the FC launcher
    assert 'SANDBOX_BACKEND = "fc"' in expr(door["environment"])
    (invoke,) = door["extra_statements"]
    assert invoke["actions"] == ["fc:InvokeFunction"]
    assert [expr(r) for r in invoke["resources"]] == ["local.sandbox_functions_arn"]
    assert expr(door["count"]) == "local.deploy_desktop_door ? 1 : 0"
    deploy = expr(ali.locals["deploy_desktop_door"])
    for condition in ("var.sandbox_desktop_door", 'var.auth_mode == "jwt"', "local.desktop_types"):
        assert condition in deploy
    desktops = [name for name, t in SANDBOX_TYPES.items() if t.desktop]  # as the registry
    listed = expr(ali.locals["desktop_types"])
    assert all(f'"{name}"' in listed for name in desktops) and listed.count('"') == 2 * len(
        desktops
    )


def test_the_sandbox_function_names_the_door_in_desktop_url(ali):
    env = expr(ali.module["sandbox"]["environment"])
    assert "SANDBOX_DESKTOP_URL = module.sandbox_desktop[0].url" in env
    assert "local.deploy_desktop_door ?" in env
    assert "module.sandbox_desktop[0].url" in expr(ali.output["sandbox_desktop_url"]["value"])


def test_a_read_only_role_reads_one_prefix_and_nothing_else():
    fn = module("fc_function")
    statements = expr(fn.locals["state_statements"])
    read_only, _, full = statements.partition(" : ")
    assert read_only.startswith("var.state_read_only != null ?")
    assert '"oss:GetObject"' in read_only
    assert "PutObject" not in read_only and "DeleteObject" not in read_only
    assert "ListObjects" not in read_only
    assert "${var.state_prefix}${var.state_read_only}*" in read_only
    assert "oss:PutObject" in full and "oss:ListObjects" in full
