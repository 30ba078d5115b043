"""``sessions`` (the state function) and ``sandbox`` (the sandbox function) commands.

Thin clients of the functions' HTTP APIs, as README documents them: tables for people,
``--json`` for scripts; ``sandbox create`` prints just the new id so that
``ID=$(agentscope-faas sandbox create)`` works.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from urllib.parse import quote

from .http import Api, CliError


def seg(value: str) -> str:
    """An id as one path segment (any printable id, ``/`` included, percent-encoded)."""
    return quote(value, safe="")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


# --- sessions (state function) ---------------------------------------------------------------


def sessions(args: argparse.Namespace, api: Api, user: str) -> int:
    base = f"/v1/users/{seg(user)}/sessions"
    if args.action == "list":
        items: list[dict] = []
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = api.call("GET", base, params=params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        items.sort(key=lambda s: s.get("updated_at") or s.get("created_at") or 0, reverse=True)
        if args.json:
            _dump(items)
        elif not items:
            print(f"no sessions for user {user}", file=sys.stderr)
        else:
            rows = [
                [
                    s["id"],
                    _when(s.get("updated_at") or s.get("created_at")),
                    _when(s.get("created_at")),
                ]
                for s in items
            ]
            _table(rows, ["SESSION", "UPDATED", "CREATED"])
        return 0
    if args.action == "show":
        session = api.call("GET", f"{base}/{seg(args.session_id)}")
        if args.json:
            _dump(session)
        else:
            for message in session.get("messages", []):
                print(describe(message))
        return 0
    api.call("DELETE", f"{base}/{seg(args.session_id)}")
    print(f"deleted session {args.session_id}")
    return 0


def describe(message: dict) -> str:
    """One stored message as a line or a few: ``role: text``, tool calls and outputs."""
    kind = message.get("type") or "message"
    parts = message.get("content") or []
    text = "".join(p.get("text") or "" for p in parts if p.get("type") == "text")
    data: dict = next(
        (p.get("data") for p in parts if p.get("type") == "data" and p.get("data")), {}
    )
    if kind.endswith("_call") and data:
        return f"[tool] {data.get('name', '?')} {data.get('arguments', '')}"
    if kind.endswith("_call_output") and data:
        output = data.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        return f"[tool output] {text.rstrip()}"
    if kind == "reasoning":
        return f"(reasoning) {text}"
    status = message.get("status")
    suffix = f" [{status}]" if status and status != "completed" else ""
    return f"{message.get('role') or kind}: {text.rstrip()}{suffix}"


# --- sandbox (sandbox function) ---------------------------------------------------------------


def sandbox(args: argparse.Namespace, api: Api) -> int:
    action = args.action
    if action == "create":
        body: dict[str, Any] = {"type": args.type}
        if args.session:
            body["session_id"] = args.session
        if args.ttl:
            body["ttl_s"] = args.ttl
        if args.user:
            body["user_id"] = args.user
        info = api.call("POST", "/v1/sandboxes", json=body)
        if args.json:
            _dump(info)
        else:
            print(info["sandbox_id"])
            if info.get("desktop_url"):
                print(f"live view: {info['desktop_url']}", file=sys.stderr)
        return 0
    if action == "ls":
        params = {"user_id": args.user} if args.user else None
        items = api.call("GET", "/v1/sandboxes", params=params)["items"]
        if args.json:
            _dump(items)
        elif not items:
            print("no sandboxes", file=sys.stderr)
        else:
            rows = [
                [
                    b["sandbox_id"],
                    b["type"],
                    b.get("session_id") or "-",
                    b["status"],
                    _when(b.get("expires_at")),
                    b.get("desktop_url") or "",
                ]
                for b in items
            ]
            _table(rows, ["SANDBOX", "TYPE", "SESSION", "STATUS", "EXPIRES", "LIVE VIEW"])
        return 0
    if action == "exec":
        code = args.code if args.code != "-" else sys.stdin.read()
        tool, arguments = (
            ("run_shell_command", {"command": code})
            if args.shell
            else ("run_ipython_cell", {"code": code})
        )
        if args.timeout:
            arguments["timeout"] = args.timeout
        path = f"/v1/sandboxes/{seg(args.sandbox_id)}/tools/{tool}"
        result = api.call("POST", path, json=arguments)
        if args.json:
            _dump(result)
        else:
            text = "".join(
                p.get("text") or "" for p in result.get("content", []) if p.get("type") == "text"
            )
            sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
        if result.get("isError"):
            raise CliError(f"{tool} reported an error in sandbox {args.sandbox_id}")
        return 0
    if action == "tools":
        tools = api.call("GET", f"/v1/sandboxes/{seg(args.sandbox_id)}/tools")["tools"]
        if args.json:
            _dump(tools)
        else:
            for tool in tools:
                summary = (tool.get("description") or "").strip().split("\n")[0]
                print(f"{tool['name']:<24} {summary}")
        return 0
    for sandbox_id in args.sandbox_ids:  # rm
        answer = api.call("DELETE", f"/v1/sandboxes/{seg(sandbox_id)}")
        gone = "removed" if answer.get("deleted") else "was already gone:"
        print(f"{gone} {sandbox_id}")
    return 0
