"""The Terraform configuration as data, parsed with python-hcl2 (no provider, no terraform).

``load_dir`` merges a directory's ``*.tf`` files into one dict per block kind, keyed by
label the way Terraform addresses them: ``config.resource["aws_s3_bucket"]["state"]``,
``config.module["query"]``, ``config.variable["region"]``. Nested blocks stay lists of
dicts (``body["rule"][0]``); expressions stay strings such as ``"${var.region}"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "infra" / "terraform"
ROOTS = ("aws", "alicloud")
MODULES = ("manifest", "lambda_function", "fc_function", "function_environment")

_OPTIONS = hcl2.SerializationOptions(
    explicit_blocks=False, strip_string_quotes=True, with_comments=False
)


@dataclass
class Config:
    path: Path
    resource: dict[str, dict[str, dict]] = field(default_factory=dict)
    data: dict[str, dict[str, dict]] = field(default_factory=dict)
    module: dict[str, dict] = field(default_factory=dict)
    variable: dict[str, dict] = field(default_factory=dict)
    output: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)
    provider: dict[str, dict] = field(default_factory=dict)

    def text(self) -> str:
        """Every .tf file of the directory, for checks on raw source."""
        return "\n".join(p.read_text() for p in sorted(self.path.glob("*.tf")))


def parse_file(path: Path) -> dict:
    with path.open() as f:
        return hcl2.load(f, serialization_options=_OPTIONS)


def load_dir(path: Path) -> Config:
    config = Config(path)
    for tf in sorted(path.glob("*.tf")):
        parsed = parse_file(tf)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        target = getattr(config, kind).setdefault(type_, {})
                        assert name not in target, f"{type_}.{name} declared twice in {path}"
                        target[name] = body
        for kind in ("module", "variable", "output", "provider"):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    assert name not in getattr(config, kind), f"{kind} {name} twice in {path}"
                    getattr(config, kind)[name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in config.locals, f"local.{name} twice in {path}"
                config.locals[name] = value
        config.terraform += parsed.get("terraform", [])
    return config


def root(name: str) -> Config:
    return load_dir(TERRAFORM / name)


def module(name: str) -> Config:
    return load_dir(TERRAFORM / "modules" / name)


def expr(value: Any) -> str:
    """An attribute's expression without its ``${ }`` wrapper, whitespace squeezed, ``{a}``."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\{ ", "{", re.sub(r" \}", "}", text))


def setting_names() -> set[str]:
    """Every environment variable (lower-case) the settings read, second names included."""
    from functions.runtime.settings import Settings

    names = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.add(name)
        names.update(str(choice) for choice in getattr(alias, "choices", ()))
    return names


# Read by the OpenTelemetry SDK itself (the OTel environment variable specification), not by
# functions/runtime/settings.py.
OTEL_SDK_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
}

# Settings the code side of issues 14 (identity), 20 (logs) and 22 (limits) adds, on branches
# merged beside this one, under exactly these names. Before an issue's code is here, Settings
# knows none of its names and Terraform may set them ahead; once Settings reads any of them,
# it must read every one Terraform sets (a misspelt name fails the test then).
CODE_SIDE_SETTINGS = {
    14: {
        "AUTH_MODE",
        "AUTH_JWKS_URL",
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "AUTH_USER_CLAIM",
        "AUTH_ADMIN_SCOPE",
        "AUTH_JWT_SECRET",
    },
    16: {"MAX_REQUEST_BYTES"},
    20: {"LOG_FORMAT"},
    22: {
        "TURN_MAX_SECONDS",
        "TURN_MAX_MODEL_CALLS",
        "TURN_MAX_TOOL_CALLS",
        "TURN_MAX_OUTPUT_TOKENS",
        "TURN_MAX_OUTPUT_CHARS",
        "USER_MAX_TURNS_PER_MINUTE",
        "USER_MAX_SANDBOXES",
        "FUNCTION_TIMEOUT_S",
    },
}


def unread_settings(written: set[str]) -> set[str]:
    """Of these environment variable names, those no part of the functions reads."""
    fields = setting_names()
    pending = set()
    for names in CODE_SIDE_SETTINGS.values():
        if not any(n.lower() in fields for n in names):
            pending |= names  # that code is not merged yet
    return {k for k in written if k.lower() not in fields and k not in OTEL_SDK_ENV | pending}


def env_keys(expression: str) -> set[str]:
    """Environment variable names written as object keys in an expression."""
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=(?!=)", expression))
