"""The built zips: manifest, contents, and each one running on its own, as in the cloud."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from local_emulator.artifacts import host_arch, host_python
from local_emulator.tokens import mint_token
from tests.fixtures.artifacts import load_packaging
from tests.fixtures.servers import free_port, wait_http
from tests.packaging.conftest import HOST_BUILD, build

FUNCTIONS = ("query", "state", "sandbox")
MEMORY_TIMEOUT = {"query": (1024, 300), "state": (512, 30), "sandbox": (512, 900)}
ARTIFACT_KEYS = {
    "function",
    "target",
    "runtime",
    "python",
    "arch",
    "handler",
    "command",
    "streaming_handler",
    "port",
    "memory_mb",
    "timeout_s",
    "environment",
    "zip",
    "sha256",
    "size",
    "unzipped_size",
}


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def top_levels(zip_path: Path) -> set[str]:
    return {name.split("/")[0] for name in names(zip_path)}


def artifact(manifest: dict, function: str, target: str) -> dict:
    (found,) = [
        a for a in manifest["artifacts"] if a["function"] == function and a["target"] == target
    ]
    return found


# --- manifest -------------------------------------------------------------------------------


def test_manifest_lists_every_host_artifact_with_its_platform_facts(built):
    _, manifest = built
    assert {k: manifest[k] for k in ("format", "project", "version")} == {
        "format": 1,
        "project": "agentscope-faas",
        "version": "0.1.0",
    }
    assert {(a["function"], a["target"]) for a in manifest["artifacts"]} == {
        (f, t) for f in FUNCTIONS for t in ("aws", "fc")
    }
    for a in manifest["artifacts"]:
        assert set(a) == ARTIFACT_KEYS
        assert (a["memory_mb"], a["timeout_s"]) == MEMORY_TIMEOUT[a["function"]]
        if a["target"] == "aws":
            assert (a["python"], a["arch"]) == (host_python(), host_arch())
            assert a["runtime"] == f"python{host_python()}"
            assert a["handler"] == f"functions.{a['function']}.handler.lambda_handler"
            assert a["command"] is None
            assert a["port"] == 8080
            assert a["streaming_handler"] == ("run.sh" if a["function"] == "query" else None)
            assert a["zip"] == f"aws/{a['function']}-python{host_python()}-{host_arch()}.zip"
        else:
            assert (a["python"], a["arch"]) == ("3.11", "x86_64")
            assert a["runtime"] == "custom.debian12"
            assert (a["handler"], a["command"], a["port"]) == (
                "bootstrap",
                ["/code/bootstrap"],
                9000,
            )
            assert a["streaming_handler"] is None
            assert a["zip"] == f"fc/{a['function']}-python3.11-x86_64.zip"
    assert artifact(manifest, "query", "aws")["environment"] == {
        "AGENT_APP": "examples.friday:agent_app"
    }
    assert artifact(manifest, "state", "fc")["environment"] == {}


def test_every_zip_exists_with_the_recorded_sha256_and_sizes(built):
    out, manifest = built
    for a in manifest["artifacts"]:
        data = (out / a["zip"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == a["sha256"]
        assert len(data) == a["size"]
        with zipfile.ZipFile(out / a["zip"]) as archive:
            assert sum(i.file_size for i in archive.infolist()) == a["unzipped_size"]
        assert a["size"] <= 30e6 and a["unzipped_size"] <= 120e6, a["zip"]


def test_the_same_inputs_give_the_same_bytes(built, tmp_path):
    out, manifest = built
    again = build(tmp_path, *HOST_BUILD, "--functions", "state,query")
    for a in again["artifacts"]:
        first = artifact(manifest, a["function"], a["target"])
        assert a == first
        assert (tmp_path / a["zip"]).read_bytes() == (out / a["zip"]).read_bytes()


# --- contents -------------------------------------------------------------------------------


def test_zips_are_normalised_sorted_dated_and_keep_executables(built):
    out, manifest = built
    for a in manifest["artifacts"]:
        entry = "run.sh" if a["target"] == "aws" else "bootstrap"
        with zipfile.ZipFile(out / a["zip"]) as archive:
            infos = archive.infolist()
            assert [i.filename for i in infos] == sorted(i.filename for i in infos)
            assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
            modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
            assert set(modes.values()) <= {0o644, 0o755}
            assert modes[entry] == 0o755
            assert modes["functions/__init__.py"] == 0o644
            script = archive.read(entry).decode()
        assert f"functions.{a['function']}.handler:app" in script
        assert "-m functions.runtime.serve" in script
        assert str(out) not in script and str(Path.cwd()) not in script


def test_query_zip_carries_the_agent_app_and_the_runtime(built):
    out, manifest = built
    for target in ("aws", "fc"):
        listing = set(names(out / artifact(manifest, "query", target)["zip"]))
        assert {"examples/__init__.py", "examples/friday.py"} <= listing
        assert "functions/query/handler.py" in listing
        assert "functions/runtime/serve.py" in listing
        assert not any(n.startswith(("functions/state/", "functions/sandbox/")) for n in listing)
    for function in ("state", "sandbox"):
        assert "examples" not in top_levels(out / artifact(manifest, function, "aws")["zip"])


def test_each_zip_holds_only_what_its_function_and_cloud_need(built):
    out, manifest = built
    tops = {(a["function"], a["target"]): top_levels(out / a["zip"]) for a in manifest["artifacts"]}
    for (function, target), top in tops.items():
        assert {"functions", "fastapi", "pydantic", "uvicorn"} <= top
        assert "docker" not in top  # no Docker engine in a function
        assert "bin" not in top and "tests" not in top
        assert ("openai" in top) == (function == "query")
        assert ("alibabacloud_fc20230330" in top) == (function == "sandbox")
        assert ("alibabacloud_agentrun20250910" in top) == (function == "sandbox")
        assert ("boto3" in top) == ("mangum" in top) == (target == "aws")
        assert ("oss2" in top) == (target == "fc")
        assert "moto" not in top and "pytest" not in top
    botocore_models = {
        n.split("/")[2]
        for n in names(out / artifact(manifest, "sandbox", "aws")["zip"])
        if n.startswith("botocore/data/") and n.count("/") > 2
    }
    assert botocore_models == {"s3", "sts", "sso", "sso-oidc", "secretsmanager"}
    # importlib.metadata's part of each .dist-info stays, the installers' records go
    query = names(out / artifact(manifest, "query", "fc")["zip"])
    metadata = {n.rsplit("/", 1)[-1] for n in query if ".dist-info/" in n}
    assert {"METADATA", "entry_points.txt"} <= metadata
    assert not metadata & {"RECORD", "INSTALLER", "REQUESTED"}
    assert not [n for n in query if n.endswith(".cyclonedx.json")]
    # aiohttp (under the FC SDK) without its compiled parser: its pure-Python one stays
    sandbox = names(out / artifact(manifest, "sandbox", "fc")["zip"])
    assert "aiohttp/http_parser.py" in sandbox and "aiohttp/_websocket/reader_py.py" in sandbox
    assert not [n for n in sandbox if n.startswith("aiohttp/_http_parser.")]


def test_bytecode_is_precompiled_for_the_building_python_only(built):
    out, manifest = built
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    listing = set(names(out / artifact(manifest, "state", "aws")["zip"]))
    assert f"functions/state/__pycache__/handler.{tag}.pyc" in listing
    assert f"fastapi/__pycache__/applications.{tag}.pyc" in listing


# --- running in isolation -------------------------------------------------------------------

PROBE = r"""
import importlib.util, json, sys
root, function, events = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, root)
handler = importlib.import_module(f"functions.{function}.handler")
answers = [handler.lambda_handler(event, None) for event in events]
print(json.dumps({
    "path": sys.path,
    "docker_importable": importlib.util.find_spec("docker") is not None,
    "answers": answers,
}))
"""


# the zips run as deployed: AUTH_MODE=jwt (a Function URL's Host is not loopback), so each
# event carries u1's token, which the zip verifies with its own PyJWT
JWT_SECRET = "artifact-tests-" + "k" * 32
U1_TOKEN = mint_token(JWT_SECRET, "u1", ttl_s=24 * 3600)


def function_url_event(method: str, path: str, body: dict | None = None, query: str = "") -> dict:
    """A Lambda Function URL request (payload format 2.0), body base64 as Lambda sends JSON."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {
        "host": "abc.lambda-url.us-east-1.on.aws",
        "user-agent": "pytest",
        "authorization": f"Bearer {U1_TOKEN}",
    }
    if body is not None:
        headers |= {"content-type": "application/json", "content-length": str(len(raw))}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": "6b5a4e0c-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2025:12:00:00 +0000",
            "timeEpoch": 1764000000000,
        },
        "body": base64.b64encode(raw).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


USER_TEXT = {
    "role": "user",
    "content": [{"type": "text", "text": "What is the capital of France?"}],
}
EVENTS = {
    "query": [
        function_url_event("GET", "/health"),
        function_url_event("POST", "/process", {"input": [USER_TEXT], "stream": False}),
    ],
    "state": [
        function_url_event("GET", "/health"),
        function_url_event("POST", "/v1/users/u1/sessions", {"session_id": "s1"}),
        function_url_event("GET", "/v1/users/u1/sessions", query="limit=10"),
    ],
    "sandbox": [
        function_url_event("GET", "/health"),
        function_url_event("POST", "/v1/sandboxes", {"type": "base", "ttl_s": -1}),
    ],
}


def isolated_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AGENT_APP"))}
    return env | {
        "STORE_URL": f"file://{tmp_path}/store",
        "AUTH_MODE": "jwt",
        "AUTH_JWT_SECRET": JWT_SECRET,
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_aws_zip_answers_function_url_events_in_an_isolated_interpreter(
    function, built, unpacked, tmp_path
):
    _, manifest = built
    root = unpacked[artifact(manifest, function, "aws")["zip"]]
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            PROBE,
            str(root),
            function,
            json.dumps(EVENTS[function]),
        ],
        cwd=tmp_path,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the artifact and the standard library, nothing installed: a missing dependency fails
    assert result["path"][0] == str(root)
    assert not any("site-packages" in p for p in result["path"])
    assert result["docker_importable"] is False
    answers = result["answers"]
    assert [a["statusCode"] for a in answers][:1] == [200]
    assert json.loads(answers[0]["body"])["status"] == "ok"
    if function == "query":
        assert answers[1]["statusCode"] == 200
        final = json.loads(answers[1]["body"])
        assert final["status"] == "completed"
        assert "capital of France" in json.dumps(final["output"])
    elif function == "state":
        assert [a["statusCode"] for a in answers[1:]] == [201, 200]
        listed = json.loads(answers[2]["body"])
        assert [s["id"] for s in listed["items"]] == ["s1"]
    else:
        assert answers[1]["statusCode"] == 422
        assert "ttl_s" in answers[1]["body"]


def fc_python() -> str:
    """FC's interpreter is Debian 12's /usr/bin/python3 (3.11); use it when this machine has
    that, else this interpreter (bootstrap runs it with -S, so no site-packages either)."""
    probe = (
        subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
            capture_output=True,
            text=True,
        )
        if Path("/usr/bin/python3").exists()
        else None
    )
    return "/usr/bin/python3" if probe and probe.stdout.strip() == "True" else sys.executable


@pytest.mark.parametrize("function", FUNCTIONS)
def test_fc_bootstrap_serves_the_function_on_fc_port(function, built, unpacked, tmp_path):
    _, manifest = built
    root = unpacked[artifact(manifest, function, "fc")["zip"]]
    port = free_port()
    env = isolated_env(tmp_path) | {
        "FC_SERVER_PORT": str(port),
        "SERVE_HOST": "127.0.0.1",  # FC needs 0.0.0.0; tests stay on loopback
        "FAAS_PYTHON": fc_python(),
        "FC_FUNCTION_NAME": f"agentscope-{function}",
    }
    proc = subprocess.Popen(
        [str(root / "bootstrap")],
        cwd=tmp_path,  # bootstrap moves to its own folder, as FC's /code
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc)
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        if function == "query":
            anonymous = httpx.post(f"{base}/process", json={"input": [USER_TEXT]}, timeout=30)
            assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
            with httpx.stream(
                "POST",
                f"{base}/process",
                json={"input": [USER_TEXT]},
                headers={"Authorization": f"Bearer {U1_TOKEN}"},
                timeout=30,
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                events = [
                    json.loads(line.removeprefix("data: "))
                    for line in response.iter_lines()
                    if line.startswith("data: ")
                ]
            assert events[-1]["object"] == "response" and events[-1]["status"] == "completed"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err, err


# --- the pieces -----------------------------------------------------------------------------


def test_requirements_come_from_the_pyproject_extras():
    deps = load_packaging("deps")
    sandbox_aws = deps.requirements(("sandbox", "fc", "agentrun", "aws", "serve"))
    joined = " ".join(sandbox_aws)
    for name in ("fastapi", "pydantic", "httpx", "alibabacloud-fc20230330", "boto3", "uvicorn"):
        assert name in joined
    assert "docker" not in joined and "openai" not in joined and "oss2" not in joined
    meta = {
        "name": "demo",
        "dependencies": ["a"],
        "optional-dependencies": {"x": ["b"], "y": ["c"], "all": ["demo[x, y]", "d"]},
    }
    assert deps.requirements(("all",), meta) == ["a", "b", "c", "d"]
    with pytest.raises(SystemExit, match="no extra 'nope'"):
        deps.requirements(("nope",), meta)


def test_zip_bytes_do_not_depend_on_mtimes_or_permissions(tmp_path, monkeypatch):
    reprozip = load_packaging("reprozip")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    written = []
    for i, (mode, mtime) in enumerate(((0o600, 1_700_000_000), (0o664, 1_800_000_000))):
        folder = tmp_path / f"tree{i}"
        folder.mkdir()
        for name, data in (("b.py", b"print(1)\n"), ("a/run.sh", b"#!/bin/sh\n")):
            path = folder / name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o700 if name.endswith(".sh") else mode)
            os.utime(path, (mtime, mtime))
        entries = [reprozip.Entry.file(n, folder / n) for n in ("b.py", "a/run.sh")]
        written.append(reprozip.write_zip(tmp_path / f"{i}.zip", entries[:: 1 if i else -1]))
    assert written[0] == written[1]
    with zipfile.ZipFile(tmp_path / "0.zip") as archive:
        assert archive.namelist() == ["a/run.sh", "b.py"]
        assert (archive.getinfo("a/run.sh").external_attr >> 16) & 0o777 == 0o755
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    later = reprozip.write_zip(tmp_path / "2.zip", [reprozip.Entry("x", b"x", False)])
    with zipfile.ZipFile(tmp_path / "2.zip") as archive:
        assert archive.getinfo("x").date_time == (2023, 11, 14, 22, 13, 20)
    assert later.unzipped_size == 1


def test_two_files_for_one_path_are_refused(tmp_path):
    reprozip = load_packaging("reprozip")
    with pytest.raises(ValueError, match="two files for the same path"):
        reprozip.write_zip(
            tmp_path / "x.zip", [reprozip.Entry("a", b"1", False), reprozip.Entry("a", b"2", False)]
        )


def test_unknown_choices_are_refused_before_anything_is_built(tmp_path):
    proc = subprocess.run(
        [sys.executable, "packaging/build.py", "--functions", "query,nope", "--out", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "unknown function nope" in proc.stderr
    assert not (tmp_path / "manifest.json").exists()


def test_an_sdist_only_package_becomes_a_pure_wheel_of_the_version_asked(tmp_path):
    """oss2 and its crcmod have no wheels on PyPI: each is built here as a pure one. A wheel
    of another version already in the wheelhouse does not stand in for the one asked."""
    deps = load_packaging("deps")
    targets = load_packaging("targets")
    (platform,) = [p for p in targets.PLATFORMS if p.target == "fc"]
    cache = tmp_path / "cache"

    def installed(req: str) -> set[str]:
        site = deps.install([req], platform, cache, refresh=False, quiet=True)
        return {p.name for p in site.iterdir() if p.name.endswith(".dist-info")}

    first = installed("oss2==2.19.0")
    assert "oss2-2.19.0.dist-info" in first
    assert any(name.startswith("crcmod-") for name in first)
    assert {w.name.split("-")[0] for w in (cache / "wheels").glob("*.whl")} == {"oss2", "crcmod"}
    assert "oss2-2.19.1.dist-info" in installed("oss2==2.19.1")
