"""No secret is readable or derivable from inside a sandbox (issue 16, item 1), on every backend.

Code in sandbox A searches everything it can read - every process's environment and command
line (``/proc/1/environ`` was where the token leaked: docker-init holds the container's first
environment), its own environment, every file - for A's and B's tokens, and lists every
variable name a process there holds. The tokens are handed to it masked, so its own command
line and code never hold them. Then all it could find is tried on B's tool server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets

import httpx
import pytest

from functions.runtime.sandbox.launchers import get_launcher
from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from functions.sandbox.registry import Registry, SandboxRecord
from tests.sandbox.support import text_of

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|CREDENTIAL", re.I)

SCAN = """
import json, os
mask = bytes.fromhex({mask!r})
wanted = [bytes(a ^ b for a, b in zip(bytes.fromhex(t), mask)) for t in {masked!r}]
found, names, values = [], set(), set()

def check(path, data):
    if any(w in data for w in wanted):
        found.append(path)

for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for part in ("environ", "cmdline"):
        try:
            with open(f"/proc/{{pid}}/{{part}}", "rb") as f:
                data = f.read()
        except OSError:
            continue  # a non-dumpable process (the tool server), or one gone since
        check(f"/proc/{{pid}}/{{part}}", data)
        for item in filter(None, data.split(b"\\0")):
            name, _, value = item.partition(b"=")
            if part == "environ":
                names.add(name.decode(errors="replace"))
                values.add(value.decode(errors="replace"))
            else:
                values.add(item.decode(errors="replace"))
check("os.environ", repr(dict(os.environ)).encode())
files = 0
for root, dirs, names_here in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in names_here:
        path = os.path.join(root, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                check(path, f.read())
            files += 1
        except OSError:
            pass
print(json.dumps({{"found": found, "names": sorted(names), "values": sorted(values),
                  "files": files}}))
"""


def masked_scan(tokens: list[str]) -> str:
    """The scan, with ``tokens`` XOR-masked so neither the code nor any argv holds them."""
    mask = secrets.token_bytes(max(len(t) for t in tokens))
    masked = [bytes(a ^ b for a, b in zip(t.encode(), mask, strict=False)).hex() for t in tokens]
    return SCAN.format(mask=mask.hex(), masked=masked)


def record_of(settings: Settings, sid: str) -> SandboxRecord:
    async def get() -> SandboxRecord:
        found = await Registry(open_store(settings.store_url, settings)).get(sid)
        assert found is not None
        return found[0]

    return asyncio.run(get())


def test_no_token_or_key_is_readable_in_a_sandbox_nor_opens_another(serve, settings, caplog):
    caplog.set_level(logging.DEBUG)  # every log line of the function, launcher and emulator
    http = serve(settings)
    a, b = (http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"] for _ in "ab")
    mine, theirs = record_of(settings, a), record_of(settings, b)
    assert mine.token != theirs.token

    ran = http.post(
        f"/v1/sandboxes/{a}/tools/run_ipython_cell",
        json={"code": masked_scan([mine.token, theirs.token]), "timeout": 240},
    )
    assert ran.status_code == 200 and ran.json()["isError"] is False, ran.text[-2000:]
    seen = json.loads(text_of(ran.json()))
    assert seen["files"] > 1000  # the whole image was read, not an empty view
    assert seen["found"] == []
    assert [n for n in seen["names"] if SECRET_NAME.search(n)] == []
    assert "PATH" in seen["names"]  # environments were read, not hidden from the scan

    # all that A's code could read, tried as B's token: B's tool server opens to none of it
    # (reached as the launcher reaches it: on fc through the trigger, signed)
    launcher = get_launcher(settings)
    with httpx.Client(
        base_url=theirs.endpoint, headers=theirs.headers, auth=launcher.call_auth(), timeout=30
    ) as direct:
        assert direct.get("/healthz").status_code == 401
        for candidate in filter(None, seen["values"]):
            auth = launcher.tool_headers(candidate)
            assert direct.get("/healthz", headers=auth).status_code == 401, candidate
            assert direct.post("/claim", headers=auth).status_code in (400, 409)
        assert direct.get("/healthz", headers=launcher.tool_headers(theirs.token)).is_success
    assert caplog.records  # the logs were captured, and hold neither token
    assert mine.token not in caplog.text and theirs.token not in caplog.text


def test_code_in_a_sandbox_cannot_claim_its_own_tool_server(serve, settings):
    """It reaches its server on 127.0.0.1:8000 inside the container: claimed, so refused."""
    http = serve(settings)
    sid = http.post("/v1/sandboxes", json={"type": "base"}).json()["sandbox_id"]
    code = (
        "import urllib.request, urllib.error\n"
        "def status(path, method):\n"
        "    req = urllib.request.Request('http://127.0.0.1:8000' + path, method=method,\n"
        "                                 headers={'Authorization': 'Bearer ' + 'x' * 43})\n"
        "    try:\n"
        "        return urllib.request.urlopen(req).status\n"
        "    except urllib.error.HTTPError as e:\n"
        "        return e.code\n"
        "print(status('/claim', 'POST'), status('/healthz', 'GET'))"
    )
    ran = http.post(f"/v1/sandboxes/{sid}/tools/run_ipython_cell", json={"code": code})
    assert text_of(ran.json()).split() == ["409", "401"]


@pytest.mark.parametrize("sandbox_backend", ["fc"], indirect=True)  # docker: the scan above
def test_the_fc_functions_hold_no_secret_in_their_environment(settings):
    """On FC every session shares its function's environment: nothing secret may be there."""
    from alibabacloud_fc20230330 import models

    from functions.runtime.sandbox.launchers.fc import FcLauncher

    client = FcLauncher(settings).client()
    listed = client.list_functions(models.ListFunctionsRequest(prefix=""))
    assert listed.body.functions
    for function in listed.body.functions:
        env = function.environment_variables or {}
        assert [n for n in env if SECRET_NAME.search(n)] == [], function.function_name
