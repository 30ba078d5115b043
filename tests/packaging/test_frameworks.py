"""An agent app's framework in the query zip: which extra its imports call for, what is pruned."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.artifacts import load_packaging
from tests.packaging.conftest import ROOT

frameworks = load_packaging("frameworks")
build = load_packaging("build")


def source(spec: str) -> Path:
    return build.app_module_source(spec)


def test_the_apps_own_module_decides_its_framework():
    assert source("examples.agentscope_friday:agent_app") == ROOT / "examples/agentscope_friday.py"
    assert frameworks.framework_extras(source("examples.agentscope_friday:a")) == ("agentscope",)
    assert frameworks.framework_extras(source("examples.seed_friday_v1:a")) == ("agentscope1",)
    assert frameworks.framework_extras(source("examples.friday:agent_app")) == ()
    assert frameworks.framework_extras(source("tests.apps:echo_app")) == ()


def test_agentscope_prunes_what_the_app_does_not_name(tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text("from agentscope.agent import Agent\n")
    claude = tmp_path / "claude.py"
    claude.write_text("from agentscope.model import AnthropicChatModel\n")
    left_out = {p.top_level for p in frameworks.pruned(("agentscope",), plain, frozenset())}
    assert left_out == {"anthropic", "dashscope", "grpc"}
    named = {p.top_level for p in frameworks.pruned(("agentscope",), claude, frozenset())}
    assert named == {"dashscope", "grpc"}
    kept = frameworks.pruned(("agentscope",), plain, frozenset({"grpc"}))
    assert {p.top_level for p in kept} == {"anthropic", "dashscope"}
    v1 = {p.top_level for p in frameworks.pruned(("agentscope1",), plain, frozenset())}
    assert v1 == {"anthropic", "grpc"}  # 1.x's DashScopeChatModel needs dashscope


def test_a_prune_takes_the_package_its_libs_and_its_metadata_only():
    prunes = frameworks.pruned(("agentscope",), source("examples.agentscope_friday:a"), frozenset())
    gone = [
        ("anthropic", "__init__.py"),
        ("anthropic-0.80.0.dist-info", "METADATA"),
        ("grpc", "_cython", "cygrpc.so"),
        ("grpcio-1.80.0.dist-info", "RECORD"),
        ("opentelemetry", "exporter", "otlp", "proto", "grpc", "__init__.py"),
        ("opentelemetry_exporter_otlp_proto_grpc-1.45.2.dist-info", "entry_points.txt"),
    ]
    kept = [
        ("agentscope", "__init__.py"),
        ("opentelemetry", "exporter", "otlp", "proto", "http", "__init__.py"),
        ("anthropic_helper", "x.py"),
        ("openai", "__init__.py"),
    ]
    assert all(frameworks.is_pruned(rel, prunes) for rel in gone)
    assert not any(frameworks.is_pruned(rel, prunes) for rel in kept)
