"""Each function's OpenAPI document: valid, and true to what its servers answer.

The three functions run under uvicorn on 127.0.0.1 as deployed (``AUTH_MODE=jwt``); the
query function serves a trivial agent, the sandbox function real Docker sandboxes (at most
two at a time). Schemathesis (its CLI, as a user runs it) fuzzes each document with an
admin's dev token: no 5xx, every status, content type, header and body as declared, and
405s with ``Allow``. Bounded: examples per operation and seconds per function, the three
runs side by side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from functions.runtime.server import build_app
from functions.runtime.settings import Settings
from functions.sandbox.app import create_app as sandbox_app
from functions.state.app import create_app as state_app
from local_emulator.tokens import mint_token
from tests.apps import echo_app
from tests.fixtures.docker import remove_sandboxes_of
from tests.fixtures.servers import serve_app

SECRET = "schemathesis-dev-secret-0123456789abcdef"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "allow_header_conformance",
)
MAX_EXAMPLES = 30  # per operation
MAX_SECONDS = 35  # per function; the three run at once


@pytest.fixture(scope="module")
def functions(tmp_path_factory, sandbox_images_built, docker_client) -> Iterator[dict[str, str]]:
    store = tmp_path_factory.mktemp("store")
    settings = Settings(
        store_url=f"file://{store}",
        auth_mode="jwt",
        auth_jwt_secret=SECRET,
        max_sandbox_instances=2,
        sandbox_orphan_grace_s=0,
    )
    with contextlib.ExitStack() as stack:
        urls = {
            "query": stack.enter_context(serve_app(build_app(echo_app, settings))),
            "state": stack.enter_context(serve_app(state_app(settings))),
            "sandbox": stack.enter_context(serve_app(sandbox_app(settings))),
        }
        try:
            yield urls
        finally:
            remove_sandboxes_of({"STORE_URL": settings.store_url})


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_every_document_is_valid_openapi(functions, function):
    spec = httpx.get(f"{functions[function]}/openapi.json").json()
    validate(spec)  # every $ref resolves inside the document, every schema is well-formed
    assert "$defs" not in str(spec)


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_every_route_answers_a_wrong_method_with_405_and_allow(functions, function):
    base = functions[function]
    spec = httpx.get(f"{base}/openapi.json").json()
    auth = {"Authorization": f"Bearer {mint_token(SECRET, 'x')}"}
    for path, operations in spec["paths"].items():
        concrete = path.replace("{path}", "a.txt").replace("{name}", "t")
        for name in ("user_id", "session_id", "sandbox_id"):
            concrete = concrete.replace(f"{{{name}}}", "x")
        declared = {m.upper() for m in operations}
        wrong = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in declared)
        resp = httpx.request(wrong, base + concrete, headers=auth)
        assert resp.status_code == 405, (path, resp.text)
        assert resp.json()["code"] == "method_not_allowed"
        assert set(resp.headers["allow"].split(", ")) >= declared, (path, resp.headers)


def test_schemathesis_finds_nothing_on_any_function(functions, tmp_path):
    token = mint_token(SECRET, "fuzzer", admin=True)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is a dev dependency (pyproject.toml)"
    runs = {}
    for function, base in functions.items():
        workdir = tmp_path / function
        workdir.mkdir()
        command = [
            cli,
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS),
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
            "--request-timeout",
            "60",
        ]
        env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false"}
        runs[function] = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    failed = {}
    for function, proc in runs.items():
        out, _ = proc.communicate(timeout=MAX_SECONDS + 120)
        if proc.returncode != 0:
            failed[function] = out.decode(errors="replace")[-6000:]
    assert not failed, "\n\n".join(f"== {f} ==\n{out}" for f, out in failed.items())
