"""What the query zip adds for an agent app that brings an agent framework, and prunes from it.

An app that imports agentscope needs it in the query zip: build.py reads the app's sources
(without importing them) and adds the pyproject extra of the framework's generation:
``agentscope`` (2.x), or ``agentscope1`` when the app uses names only 1.x has
(``ReActAgent``, ``stream_printing_messages``). An app that connects to MCP servers itself
(``McpServer`` of ``functions.runtime.mcp_tools``, or the ``mcp`` package) gets the ``mcp``
extra (agentscope 2.x brings ``mcp`` already). ``--app-extras`` names them instead.

With bytecode for Python 3.11 the query zip of an agentscope app is about 245 MB unzipped
(2.x) or 251 MB (1.x) before pruning: at or over Lambda's 250 MB limit, which counts the
Lambda Web Adapter layer too. Measured on this build, the bulk the framework never imports
unless an app uses one particular feature is three packages, left out unless the app's
sources name them (or ``--keep`` does):

* ``anthropic`` (~16 MB, ~37 MB with 2.x's): imported only by ``AnthropicChatModel`` (and
  1.x's Anthropic token counter), at first use;
* ``dashscope`` (~15 MB), 2.x only: its TTS and embedding models (2.x's
  ``DashScopeChatModel`` speaks DashScope's OpenAI-compatible protocol through ``openai``;
  1.x's is built on the SDK and imports it at cold start, so 1.x keeps it);
* ``grpc`` (~19 MB) and the OTLP/gRPC span exporter: agentscope's tracing exports over
  OTLP/HTTP, which stays.

A pruned package that an app does import fails in the emulator's artifact mode exactly as it
would in the cloud (``ModuleNotFoundError``), which is what ``make local ARTIFACTS=1`` is for.
This was chosen over a container image (Lambda allows 10 GB there) because the zip keeps
the same packaging, emulator, Terraform and cold start path as every other function; the
sizes and cold start are in benchmarks/results/package_report.txt.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Prune:
    top_level: str  # an import name whose folder (and dist-info) is left out
    why: str
    # words in an app's sources that mean it uses what needs the package
    wanted_by: tuple[str, ...]
    dists: tuple[str, ...]  # distributions whose .dist-info goes too (import metadata)
    also: tuple[str, ...] = ()  # further paths (relative to site-packages) to leave out


ANTHROPIC = Prune(
    "anthropic", "AnthropicChatModel's SDK", ("anthropic", "Anthropic"), ("anthropic",)
)
DASHSCOPE = Prune(
    "dashscope",
    "DashScope's TTS and embedding SDK",
    ("import dashscope", "from dashscope", "DashScopeTTS", "DashScopeEmbedding"),
    ("dashscope",),
)
GRPC = Prune(
    "grpc",
    "the OTLP/gRPC span exporter",
    ("grpc",),
    ("grpcio", "opentelemetry_exporter_otlp_proto_grpc"),
    also=("opentelemetry/exporter/otlp/proto/grpc",),
)
PRUNES: dict[str, tuple[Prune, ...]] = {
    "agentscope": (ANTHROPIC, DASHSCOPE, GRPC),
    # 1.x's DashScopeChatModel is built on the dashscope SDK (imported at cold start): kept
    "agentscope1": (ANTHROPIC, GRPC),
}

MCP_TOOLS = "functions.runtime.mcp_tools"  # McpServer from it needs the mcp package

# names only agentscope 1.x has: an app using one needs the 1.x extra
V1_NAMES = frozenset({"ReActAgent", "stream_printing_messages", "InMemoryMemory"})


def _sources(app_src: Path) -> list[Path]:
    return sorted(app_src.rglob("*.py")) if app_src.is_dir() else [app_src]


def framework_extras(app_src: Path) -> tuple[str, ...]:
    """The pyproject extras an app's imports call for (``()`` when it brings no framework)."""
    imports_agentscope = False
    v1 = False
    uses_mcp = False
    for path in _sources(app_src):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module.split(".")[0] == "agentscope":
                    v1 = v1 or any(a.name in V1_NAMES for a in node.names)
                if node.module == MCP_TOOLS:
                    uses_mcp = uses_mcp or any(a.name == "McpServer" for a in node.names)
            else:
                continue
            imports_agentscope = imports_agentscope or any(
                n.split(".")[0] == "agentscope" for n in names
            )
            uses_mcp = uses_mcp or any(n.split(".")[0] == "mcp" for n in names)
    if not imports_agentscope:
        return ("mcp",) if uses_mcp else ()
    return ("agentscope1",) if v1 else ("agentscope",)


def pruned(extras: tuple[str, ...], app_src: Path, keep: frozenset[str]) -> tuple[Prune, ...]:
    """What to leave out of the query zip for ``extras``, minus what the app names."""
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in _sources(app_src))
    out = []
    for extra in extras:
        for prune in PRUNES.get(extra, ()):
            if prune.top_level in keep or any(word in text for word in prune.wanted_by):
                continue
            out.append(prune)
    return tuple(out)


def is_pruned(rel: tuple[str, ...], prunes: tuple[Prune, ...]) -> bool:
    """Whether a site-packages file (path parts) is left out by ``prunes``."""
    top = rel[0]
    if top.endswith(".dist-info"):
        dist = top.split("-")[0].lower().replace(".", "_")
        return any(dist in prune.dists for prune in prunes)
    for prune in prunes:
        if top in (prune.top_level, f"{prune.top_level}.libs"):
            return True
        if any(rel[: len(parts)] == parts for parts in (tuple(a.split("/")) for a in prune.also)):
            return True
    return False
