"""Checks across the whole of infra/terraform: formatting, documentation, wiring.

`terraform validate` needs the providers' schemas, which cannot be downloaded here, so what
it would catch without them is checked from the parsed HCL: every module argument is a
variable of that module (and every required one is given), every var./local./module.
reference is declared, every example sets only declared variables.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import MODULES, ROOTS, TERRAFORM, expr, load_dir, parse_file

DIRS = [TERRAFORM / r for r in ROOTS] + [TERRAFORM / "modules" / m for m in MODULES]
META_ARGUMENTS = {"source", "version", "count", "for_each", "depends_on", "providers"}


def dir_id(path: Path) -> str:
    return str(path.relative_to(TERRAFORM))


def test_terraform_fmt_finds_nothing_to_change(terraform):
    done = terraform("fmt", "-check", "-recursive", "-diff", "-no-color", cwd=TERRAFORM)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_file_parses():
    files = sorted(TERRAFORM.rglob("*.tf")) + sorted(TERRAFORM.rglob("*.tfvars"))
    assert len(files) >= 20
    for path in files:
        assert isinstance(parse_file(path), dict), path


def test_no_sandbox_token_key_is_deployed():
    """Tool servers are claimed at first contact with a random token per sandbox (POST
    /claim), so no key derives tokens and none may come back: a TOOLSERVER_TOKEN(_KEY) in a
    sandbox's environment is readable by the code it runs (and stops the tool server)."""
    files = [p for p in sorted(TERRAFORM.rglob("*")) if p.is_file() and ".terraform" not in p.parts]
    assert len(files) >= 20
    for path in files:
        found = re.findall(
            r"\w*token_key\w*|TOOLSERVER_(?:TOKEN|SESSION_HEADER)\w*", path.read_text(), re.I
        )
        assert not found, f"{path.relative_to(TERRAFORM)}: {sorted(set(found))}"
    # the walkthroughs export no key either: every TF_VAR_ they set is a declared variable
    declared = {name for root in ROOTS for name in load_dir(TERRAFORM / root).variable}
    readme = (TERRAFORM.parents[1] / "README.md").read_text()
    exported = set(re.findall(r"\bTF_VAR_(\w+)", readme))
    assert exported and exported <= declared, exported - declared


@pytest.mark.parametrize("path", DIRS, ids=dir_id)
def test_every_variable_and_output_is_described(path):
    config = load_dir(path)
    assert config.variable or config.output
    for kind in ("variable", "output"):
        for name, body in getattr(config, kind).items():
            description = body.get("description", "")
            assert len(description) >= 10, f"{kind} {name} in {dir_id(path)}: no description"
    for name, body in config.variable.items():
        assert "type" in body, f"variable {name} in {dir_id(path)}: no type"


@pytest.mark.parametrize("path", DIRS, ids=dir_id)
def test_terraform_and_provider_versions_are_pinned(path):
    config = load_dir(path)
    (block,) = config.terraform
    # the roots' validations refer to other variables, which Terraform checks from 1.9 on
    assert block["required_version"] == (">= 1.9" if path.parent == TERRAFORM else ">= 1.5")
    sources = {
        name: spec["source"]
        for providers in block.get("required_providers", [])
        for name, spec in providers.items()
    }
    used = {t.split("_", 1)[0] for t in [*config.resource, *config.data]}
    used.discard("terraform")
    assert used <= set(sources), f"{dir_id(path)} uses {used} but requires {sources}"
    expected = {"aws": "hashicorp/aws", "alicloud": "aliyun/alicloud", "random": "hashicorp/random"}
    for name, source in sources.items():
        assert source == expected[name]


@pytest.mark.parametrize("root", ROOTS)
def test_each_root_configures_its_provider_from_a_variable(root):
    config = load_dir(TERRAFORM / root)
    provider = config.provider["aws" if root == "aws" else "alicloud"]
    assert expr(provider["region"]) == "var.region"


@pytest.mark.parametrize("root", ROOTS)
def test_module_calls_match_the_modules_variables(root):
    config = load_dir(TERRAFORM / root)
    assert config.module
    for name, call in config.module.items():
        target = (TERRAFORM / root / call["source"]).resolve()
        assert target.is_dir(), f"module {name}: no {call['source']}"
        variables = load_dir(target).variable
        given = set(call) - META_ARGUMENTS
        assert given <= set(variables), f"module {name}: unknown {given - set(variables)}"
        required = {v for v, body in variables.items() if "default" not in body}
        assert required <= given, f"module {name}: missing {required - given}"


@pytest.mark.parametrize("path", DIRS, ids=dir_id)
def test_every_reference_is_declared(path):
    config = load_dir(path)
    # comments may mention names freely; code may not
    source = re.sub(r"#[^\n]*", "", config.text())
    for kind, declared in (
        ("var", config.variable),
        ("local", config.locals),
        ("module", config.module),
    ):
        used = set(re.findall(rf"\b{kind}\.(\w+)", source))
        assert used <= set(declared), f"{dir_id(path)}: undeclared {kind}.{used - set(declared)}"
    for type_, name in set(re.findall(r"\bdata\.(\w+)\.(\w+)", source)):
        assert name in config.data.get(type_, {}), f"{dir_id(path)}: no data.{type_}.{name}"
    for type_, name in set(
        re.findall(r"(?<!data\.)\b((?:aws|alicloud|random)_\w+)\.(\w+)\b", source)
    ):
        assert name in config.resource.get(type_, {}), f"{dir_id(path)}: no {type_}.{name}"
    # variables nobody reads are a sign of a half-finished change
    unread = {v for v in config.variable if not re.search(rf"\bvar\.{v}\b", source)}
    assert not unread, f"{dir_id(path)}: unused variables {unread}"


@pytest.mark.parametrize("root", ROOTS)
def test_examples_set_only_declared_variables(root):
    variables = load_dir(TERRAFORM / root).variable
    examples = sorted((TERRAFORM / root / "examples").glob("*.tfvars"))
    assert examples, f"{root} has no examples/*.tfvars"
    for example in examples:
        values = parse_file(example)
        assert values, example
        unknown = set(values) - set(variables)
        assert not unknown, f"{example.name} sets undeclared {unknown}"
        # values offered as choices by a contains([...]) validation are among them
        for name, value in values.items():
            for validation in variables[name].get("validation", []):
                choices = re.match(
                    r"\$\{contains\(\[(.*?)\], var\.\w+\)\}$", validation["condition"]
                )
                if choices and isinstance(value, str):
                    assert f'"{value}"' in choices.group(1), f"{example.name}: {name} = {value}"


def test_the_provider_free_module_validates(terraform, tmp_path):
    """modules/manifest needs no provider, so terraform validate runs on it for real."""
    work = tmp_path / "manifest"
    work.mkdir()
    for tf in (TERRAFORM / "modules" / "manifest").glob("*.tf"):
        (work / tf.name).write_text(tf.read_text())
    init = terraform("init", "-backend=false", "-input=false", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform("validate", "-no-color", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The configuration is valid" in done.stdout
