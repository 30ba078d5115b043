"""The state function under a real uvicorn server on 127.0.0.1, driven over HTTP by httpx."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions.runtime.settings import Settings
from functions.state.app import create_app
from tests.fixtures.servers import serve_app
from tests.messages import msg, texts


@pytest.fixture
def client(tmp_path) -> Iterator[httpx.Client]:
    app = create_app(Settings(store_url=f"file://{tmp_path / 'store'}"))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code and "detail" in body


def test_health_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    ops = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert ops >= {
        "health",
        "create_session",
        "list_sessions",
        "get_session",
        "delete_session",
        "list_messages",
        "append_messages",
        "get_state",
        "save_state",
        "save_state_post",
        "list_state_rounds",
        "add_memory",
        "search_memory",
        "list_memory",
        "delete_memory",
    }
    get_session = spec["paths"]["/v1/users/{user_id}/sessions/{session_id}"]["get"]
    assert get_session["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Session"
    }
    assert "404" in get_session["responses"]


def test_session_lifecycle(client):
    created = client.post("/v1/users/alice/sessions", json={"session_id": "s1"})
    assert created.status_code == 201
    body = created.json()
    assert body["id"] == "s1" and body["user_id"] == "alice" and body["messages"] == []
    assert client.post("/v1/users/alice/sessions/s1/messages", json=msg("hi")).status_code == 201
    again = client.post("/v1/users/alice/sessions", json={"session_id": "s1"})
    assert again.status_code == 200 and texts(again.json()["messages"]) == ["hi"]

    generated = client.post("/v1/users/alice/sessions")
    assert generated.status_code == 201 and generated.json()["id"] != "s1"
    assert client.post("/v1/users/alice/sessions", json={}).status_code == 201

    got = client.get("/v1/users/alice/sessions/s1").json()
    assert got["id"] == "s1" and texts(got["messages"]) == ["hi"]
    assert got["updated_at"] >= got["created_at"]

    assert client.delete("/v1/users/alice/sessions/s1").status_code == 204
    assert_error(client.get("/v1/users/alice/sessions/s1"), 404, "session_not_found")
    assert_error(client.delete("/v1/users/alice/sessions/s1"), 404, "session_not_found")


def test_list_sessions_walks_pages(client):
    ids = [f"s{i:02d}" for i in range(7)]
    for sid in reversed(ids):
        client.post("/v1/users/bob/sessions", json={"session_id": sid})
    client.post("/v1/users/carol/sessions", json={"session_id": "other"})
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/users/bob/sessions", params=params).json()
        pages += 1
        assert all(item["messages"] == [] for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    assert client.get("/v1/users/nobody/sessions").json() == {"items": [], "next_cursor": None}
    assert_error(client.get("/v1/users/bob/sessions", params={"limit": 0}), 422, "invalid_request")


def test_messages_append_and_page(client):
    client.post("/v1/users/u/sessions", json={"session_id": "chat"})
    one = client.post("/v1/users/u/sessions/chat/messages", json=msg("m0"))
    assert one.status_code == 201 and one.json()["sequence"] == 1
    batch = [msg(f"m{i}", "assistant" if i % 2 else "user") for i in range(1, 10)]
    many = client.post("/v1/users/u/sessions/chat/messages", json=batch)
    assert many.status_code == 201 and texts(many.json()["messages"]) == texts(batch)

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/users/u/sessions/chat/messages", params=params).json()
        seen += texts(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in range(10)]

    unknown = client.post("/v1/users/u/sessions/nope/messages", json=msg("lost"))
    assert_error(unknown, 404, "session_not_found")
    assert_error(client.get("/v1/users/u/sessions/nope/messages"), 404, "session_not_found")
    assert_error(client.post("/v1/users/u/sessions/chat/messages", json=[]), 422, "invalid_request")
    bad_body = client.post("/v1/users/u/sessions/chat/messages", json=["not an object"])
    assert_error(bad_body, 422, "invalid_request")
    bad_cursor = client.get("/v1/users/u/sessions/chat/messages", params={"cursor": "x"})
    assert_error(bad_cursor, 422, "invalid_cursor")


def test_state_rounds(client):
    base = "/v1/users/u/sessions/s/state"
    assert_error(client.get(base), 404, "state_not_found")
    assert client.put(base, json={"step": 1}).json() == {"round_id": 1}
    assert client.post(base, json={"step": 2}).json() == {"round_id": 2}
    assert client.put(base, params={"round_id": 1}, json={"step": "1b"}).json() == {"round_id": 1}
    assert client.get(base).json() == {"round_id": 2, "state": {"step": 2}}
    assert client.get(base, params={"round_id": 1}).json() == {
        "round_id": 1,
        "state": {"step": "1b"},
    }
    assert_error(client.get(base, params={"round_id": 7}), 404, "state_not_found")
    assert client.get(f"{base}/rounds").json() == {"rounds": [1, 2]}
    assert_error(client.get(base, params={"round_id": 0}), 422, "invalid_request")
    assert_error(client.put(base, json=[1, 2]), 422, "invalid_request")
    # a save after the highest round a caller may name numbers the next one itself: it is
    # listed, and read by its id, like any other (a save may not name it)
    top = 2**31 - 1
    assert client.put(base, params={"round_id": top}, json={"step": "top"}).status_code == 200
    assert client.put(base, json={"step": "past"}).json() == {"round_id": top + 1}
    assert client.get(f"{base}/rounds").json() == {"rounds": [1, 2, top, top + 1]}
    assert client.get(base, params={"round_id": top + 1}).json() == {
        "round_id": top + 1,
        "state": {"step": "past"},
    }
    past = client.put(base, params={"round_id": top + 1}, json={})
    assert_error(past, 422, "invalid_request")
    # deleting the session removes its state as well
    client.post("/v1/users/u/sessions", json={"session_id": "s"})
    assert client.delete("/v1/users/u/sessions/s").status_code == 204
    assert client.get(f"{base}/rounds").json() == {"rounds": []}
    # a session with saved state but no history: deleting it deletes that state, and says
    # so (204); a 404 removes nothing, as it says
    bare = "/v1/users/u/sessions/no-history"
    assert client.put(f"{bare}/state", json={"step": 1}).status_code == 200
    assert client.delete(bare).status_code == 204
    assert client.get(f"{bare}/state/rounds").json() == {"rounds": []}
    assert_error(client.delete(bare), 404, "session_not_found")


def test_memory_routes(client):
    base = "/v1/users/u/memory"
    added = client.post(
        base, json={"messages": [msg("green apples"), msg("apples apples")], "session_id": "s1"}
    )
    assert added.status_code == 201 and added.json() == {"added": 2}
    assert client.post(base, json={"messages": msg("red truck")}).json() == {"added": 1}

    found = client.post(f"{base}/search", json={"query": "apples"}).json()["items"]
    assert texts(found) == ["apples apples", "green apples"]
    top1 = client.post(f"{base}/search", json={"messages": [msg("apples")], "top_k": 1})
    assert texts(top1.json()["items"]) == ["apples apples"]
    assert client.post(f"{base}/search", json={"query": "pears"}).json() == {"items": []}
    assert_error(client.post(f"{base}/search", json={}), 422, "invalid_request")

    page1 = client.get(base, params={"page_num": 1, "page_size": 2}).json()
    page2 = client.get(base, params={"page_num": 2, "page_size": 2}).json()
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert page2["page_num"] == 2 and page2["page_size"] == 2

    assert client.delete(base, params={"session_id": "s1"}).status_code == 204
    assert texts(client.get(base).json()["items"]) == ["red truck"]
    assert client.delete(base).status_code == 204
    assert client.get(base).json()["items"] == []


# messages no agent could read: each a 422 naming the field, before anything is stored
UNREADABLE = [
    ({"role": "user", "content": 5}, "content"),
    ({"role": "user", "content": [{"type": "text", "text": 5}]}, "content"),
    ({"role": "user", "content": ["plain text"]}, "content"),
    ({"role": "user", "content": [{"text": "no type"}]}, "content"),
    ({"role": "user", "status": 5, "content": []}, "status"),
    ({"role": "robot", "content": []}, "role"),
    ({"role": "user", "type": ["message"]}, "type"),
    # a call or its result names its call by a string: the model gets it as an id
    *(
        (
            {"role": "assistant", "type": kind, "content": [{"type": "data", "data": data}]},
            "content",
        )
        for kind in ("function_call", "function_call_output", "plugin_call")
        for data in ({"call_id": {"a": 1}}, {"call_id": [1]}, {"call_id": 7}, {"call_id": ""})
    ),
    (
        {
            "role": "assistant",
            "type": "function_call",
            "content": [{"type": "data", "data": {"call_id": "c", "name": {"x": 1}}}],
        },
        "content",
    ),
]


@pytest.mark.parametrize(("bad", "field"), UNREADABLE)
def test_unreadable_messages_are_422_and_nothing_is_stored(client, bad, field):
    client.post("/v1/users/u/sessions", json={"session_id": "chat"})
    for body, loc in ((bad, ["body", field]), ([msg("fine"), bad], ["body", "1", field])):
        resp = client.post("/v1/users/u/sessions/chat/messages", json=body)
        assert_error(resp, 422, "invalid_request")
        assert resp.json()["detail"][0]["loc"][: len(loc)] == loc, resp.text
    assert client.get("/v1/users/u/sessions/chat/messages").json()["items"] == []
    memory = "/v1/users/u/memory"
    for route in (memory, f"{memory}/search"):
        resp = client.post(route, json={"messages": [msg("fine"), bad]})
        assert_error(resp, 422, "invalid_request")
        assert resp.json()["detail"][0]["loc"][:4] == ["body", "messages", "1", field]
        assert_error(client.post(route, json={"messages": bad}), 422, "invalid_request")
    assert client.get(memory).json()["items"] == []
    # what agents write stays writable: extra fields, tool calls, every content type
    kept = {
        **msg("hello"),
        "id": "m1",
        "status": "completed",
        "metadata": {"k": 1},
        "mine": [1],
    }
    call = {
        "type": "plugin_call",
        "role": "assistant",
        "content": [{"type": "data", "data": {"call_id": "c1", "name": "f", "arguments": "{}"}}],
    }
    resp = client.post("/v1/users/u/sessions/chat/messages", json=[kept, call])
    assert resp.status_code == 201 and resp.json()["messages"] == [kept, call]


def test_a_stored_item_of_any_shape_does_not_break_memory_search(tmp_path):
    """Items a version before the check let in (or another writer put in the store) are
    skipped by search, not a 500 for every search of their user."""
    import asyncio

    from functions.runtime.instance import Instance

    settings = Settings(store_url=f"file://{tmp_path / 'store'}")
    odd = [{"role": "user", "content": 5}, {"content": [7, None]}, {"role": "user"}]

    async def plant() -> None:
        instance = Instance(settings)
        try:
            await instance.memory.add_memory("u", [*odd, msg("green apples")])
        finally:
            await instance.close()

    asyncio.run(plant())
    app = create_app(settings)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        found = http.post("/v1/users/u/memory/search", json={"query": "apples"})
        assert found.status_code == 200 and texts(found.json()["items"]) == ["green apples"]


# ids that name nothing: over-long, empty, or holding a control character (sent encoded)
INVALID = ["x" * 257, "", "tab%09in", "nul%00", "del%7F"]


@pytest.mark.parametrize("bad", INVALID)
def test_invalid_ids_are_422_everywhere(client, bad):
    routes = [
        ("GET", f"/v1/users/{bad}/sessions"),
        ("POST", f"/v1/users/{bad}/sessions"),
        ("GET", f"/v1/users/ok/sessions/{bad}"),
        ("DELETE", f"/v1/users/ok/sessions/{bad}"),
        ("GET", f"/v1/users/{bad}/sessions/ok/messages"),
        ("POST", f"/v1/users/ok/sessions/{bad}/messages"),
        ("GET", f"/v1/users/ok/sessions/{bad}/state"),
        ("PUT", f"/v1/users/ok/sessions/{bad}/state"),
        ("GET", f"/v1/users/ok/sessions/{bad}/state/rounds"),
        ("GET", f"/v1/users/{bad}/memory"),
        ("POST", f"/v1/users/{bad}/memory/search"),
    ]
    for method, path in routes:
        body = {"query": "x"} if path.endswith("search") else msg("x")
        kwargs: dict[str, Any] = {"json": body} if method in ("POST", "PUT") else {}
        resp = client.request(method, path, **kwargs)
        assert_error(resp, 422, "invalid_id")
    decoded = urllib.parse.unquote(bad)
    assert_error(
        client.post("/v1/users/ok/sessions", json={"session_id": decoded}), 422, "invalid_id"
    )
    assert_error(
        client.delete("/v1/users/ok/memory", params={"session_id": decoded}), 422, "invalid_id"
    )
    assert_error(
        client.post("/v1/users/ok/memory", json={"messages": [msg("x")], "session_id": decoded}),
        422,
        "invalid_id",
    )


# ids as users have them, which could form a path if used raw
ODD = ["..", "a/b", "../../etc", ".hidden", "sp ace", "alice@example.com", "auth0|abc123", "日本"]


@pytest.mark.parametrize("odd", ODD)
def test_any_printable_id_works_in_every_route(client, odd):
    """Sent percent-encoded, as any client sends a path segment (``/`` as ``%2F``; dots
    too, or the client itself would resolve ``..``)."""
    user = session = urllib.parse.quote(odd, safe="").replace(".", "%2E")
    base = f"/v1/users/{user}/sessions"
    created = client.post(base, json={"session_id": odd})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == odd and created.json()["user_id"] == odd
    assert [s["id"] for s in client.get(base).json()["items"]] == [odd]
    appended = client.post(f"{base}/{session}/messages", json=msg("hi"))
    assert appended.status_code == 201, appended.text
    assert texts(client.get(f"{base}/{session}/messages").json()["items"]) == ["hi"]
    assert client.put(f"{base}/{session}/state", json={"k": 1}).json() == {"round_id": 1}
    assert client.get(f"{base}/{session}/state").json()["state"] == {"k": 1}
    memory = f"/v1/users/{user}/memory"
    assert client.post(memory, json={"messages": [msg("odd memory")], "session_id": odd}).is_success
    found = client.post(f"{memory}/search", json={"query": "odd"}).json()["items"]
    assert texts(found) == ["odd memory"]
    assert client.delete(f"{base}/{session}").status_code == 204
    assert client.get(base).json()["items"] == []


def test_unknown_routes_are_404_json(client):
    assert_error(client.get("/v1/users/ok/elsewhere"), 404, "not_found")
    assert_error(client.get("/nothing"), 404, "not_found")
    assert_error(client.patch("/v1/users/ok/sessions"), 405, "method_not_allowed")


def test_store_down_is_503_json(unreachable_store_settings):
    # A real S3 client dialling a port nobody listens on.
    with (
        serve_app(create_app(unreachable_store_settings)) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        assert_error(http.get("/v1/users/u/sessions/s"), 503, "store_unavailable")
        assert_error(http.put("/v1/users/u/sessions/s/state", json={}), 503, "store_unavailable")
        assert_error(
            http.post("/v1/users/u/memory/search", json={"query": "x"}), 503, "store_unavailable"
        )
        assert_error(http.get("/health"), 503, "store_unavailable")
