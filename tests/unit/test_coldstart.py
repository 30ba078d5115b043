"""The handler modules' start: the collector off while they import, what they built frozen."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.runtime.coldstart import starting

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def collector():
    was_on = gc.isenabled()
    yield
    gc.unfreeze()  # the test's frozen objects back to the oldest generation
    (gc.enable if was_on else gc.disable)()


def test_the_collector_is_off_inside_and_what_was_built_is_frozen(collector):
    gc.enable()
    frozen = gc.get_freeze_count()
    with starting():
        assert not gc.isenabled()
        built = [[index] for index in range(1000)]  # objects the collector tracks
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(built)


def test_a_failed_start_turns_the_collector_back_on(collector):
    gc.enable()
    with pytest.raises(ImportError), starting():
        raise ImportError("no module named agent")
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off(collector):
    gc.disable()
    with starting():
        pass
    assert not gc.isenabled()


PROBE = """
import contextlib, gc, importlib, json, sys
import functions.runtime.coldstart as coldstart
if sys.argv[2] == "without":
    coldstart.starting = contextlib.nullcontext
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
importlib.import_module(f"functions.{sys.argv[1]}.handler")
print(json.dumps([len(collections), gc.isenabled(), gc.get_freeze_count()]))
"""


def _start(function: str, helper: str) -> list:
    """(collections while the handler imported, collector on after, objects frozen)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, function, helper],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "STORE_URL": "memory://"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_a_handler_module_imports_with_the_collector_off_and_freezes_what_it_built(function):
    # a fresh interpreter, as a new instance is; the same import with the helper made a
    # no-op shows what the collector would have done
    collections, on_after, frozen = _start(function, "with")
    without, _, frozen_without = _start(function, "without")
    assert without >= 10 and collections <= 1  # at most one, compiling the module itself
    assert on_after and frozen > 50_000 and frozen_without == 0


V1_PROBE = """
import importlib, sys
importlib.import_module(f"functions.{sys.argv[1]}.handler")
print("pydantic.v1" in sys.modules)
"""


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_a_handler_starts_without_importing_pydantic_v1(function):
    out = subprocess.run(
        [sys.executable, "-c", V1_PROBE, function],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "STORE_URL": "memory://"},
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_fastapi_still_refuses_a_pydantic_v1_model_once_one_is_loaded():
    from fastapi import FastAPI
    from fastapi.exceptions import PydanticV1NotSupportedError

    from functions.runtime.coldstart import check_pydantic_v1_once_loaded

    check_pydantic_v1_once_loaded()
    check_pydantic_v1_once_loaded()  # idempotent: one guard, not one inside another
    import fastapi.utils
    from pydantic import v1

    assert not getattr(fastapi.utils.annotation_is_pydantic_v1.__wrapped__, "once_loaded", False)

    class Legacy(v1.BaseModel):
        name: str

    async def legacy(body: Legacy) -> None: ...

    legacy.__annotations__ = {"body": Legacy}  # the class itself, not this module's string
    with pytest.raises(PydanticV1NotSupportedError):
        FastAPI().post("/legacy")(legacy)


BUILT_PROBE = """
import importlib, json, sys
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from functions.runtime.wire import WireModel
handler = importlib.import_module(f"functions.{sys.argv[1]}.handler")

def built():
    # the type adapters FastAPI made of each route's body and answer models
    adapters = {}
    for route in handler.app.routes:
        if isinstance(route, APIRoute):
            for kind, field in (("body", route.body_field), ("answer", route.response_field)):
                model = field.field_info.annotation if field is not None else None
                if isinstance(model, type) and issubclass(model, WireModel):
                    key = f"{kind} {route.name} {field.field_info.annotation.__name__}"
                    adapters[key] = field._type_adapter.pydantic_complete
    return sorted(key for key, done in adapters.items() if done), len(adapters)

at_start, adapters = built()
client = TestClient(handler.app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
answer = client.request(sys.argv[2], sys.argv[3], json=json.loads(sys.argv[4]))
after, _ = built()
print(json.dumps([at_start, adapters, after, answer.status_code, answer.json()]))
"""


def _first_request(function: str, method: str, path: str, body: object) -> list:
    """(adapters built at start, adapters, built after the request, its status, its body)."""
    out = subprocess.run(
        [sys.executable, "-c", BUILT_PROBE, function, method, path, json.dumps(body)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "STORE_URL": "memory://", "AUTH_MODE": "none"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_sandbox_function_builds_a_routes_models_when_a_request_first_uses_them():
    # a create with a bad ttl: its body model is built to refuse it, nothing else
    at_start, adapters, after, status, body = _first_request(
        "sandbox", "POST", "/v1/sandboxes", {"type": "base", "ttl_s": -1}
    )
    assert at_start == [] and adapters >= 20
    assert status == 422 and body["code"] == "invalid_request"
    assert [error["loc"] for error in body["detail"]] == [["body", "ttl_s"]]
    assert after == ["body create CreateSandbox"]


def test_the_state_function_builds_the_models_of_the_route_a_request_first_uses():
    at_start, adapters, after, status, body = _first_request(
        "state", "POST", "/v1/users/u1/memory/search", {"query": "tea"}
    )
    assert at_start == [] and adapters >= 10
    assert status == 200 and body["items"] == []
    assert after == ["answer search_memory MemoryItems", "body search_memory MemorySearchBody"]


STRICT_PROBE = """
import importlib, json, re, sys
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from functions.runtime.wire import WireModel
handler = importlib.import_module(f"functions.{sys.argv[1]}.handler")
client = TestClient(handler.app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
answers = {"GET /openapi.json": client.get("/openapi.json").status_code}
for route in handler.app.routes:
    body = getattr(route, "body_field", None)
    if isinstance(route, APIRoute) and body is not None:
        model = body.field_info.annotation
        if isinstance(model, type) and issubclass(model, WireModel):
            path = re.sub(r"{[^}]+}", "x1", route.path)
            for method in route.methods:
                answer = client.request(method, path, json=[])
                answers[f"{method} {route.path}"] = answer.status_code
print(json.dumps(answers))
"""


@pytest.mark.parametrize("function", ["query", "state", "sandbox"])
def test_a_models_first_build_warns_of_nothing_a_strict_process_would_fail_on(function):
    # -W error: FastAPI silences pydantic's warning about the alias it gives a body only
    # while it builds the body's adapter itself, which a deferred model leaves to first use
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", STRICT_PROBE, function],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "STORE_URL": "memory://", "AUTH_MODE": "none"},
    )
    answers = json.loads(out.stdout.strip().splitlines()[-1])
    assert answers.pop("GET /openapi.json") == 200
    assert answers and all(400 <= status < 500 for status in answers.values()), answers
