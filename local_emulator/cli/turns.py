"""``chat`` and ``invoke``: turns of the agent over ``POST /process``, streamed.

``invoke`` prints each event of the stream as one JSON line (the seed's event stream, as
``curl -N`` shows it without the ``data:`` framing), or with ``--json`` the final response,
or with ``--text`` the answer as ``chat`` shows it. ``chat`` reads messages from standard
input (a ``` fence keeps reading lines until it is closed), streams each answer, shows tool
calls and their outputs, and continues the session across runs (``recall.py``). Ctrl-C
during an answer stops the turn (``POST /process/stop``); the stream then ends as stopped.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from . import recall
from .http import Api, CliError

CALLS = ("plugin_call", "function_call", "mcp_call", "component_call")
OUTPUTS = tuple(f"{t}_output" for t in CALLS)
FINAL = ("completed", "failed", "canceled", "cancelled", "incomplete")
OUTPUT_LINES = 20


def user_message(text: str) -> dict:
    return {"role": "user", "type": "message", "content": [{"type": "text", "text": text}]}


def info(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Printer:
    """Draws a turn's events as text: the answer as it streams, tool calls and their output
    on lines of their own, reasoning marked (dimmed on a terminal)."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self.at_line_start = True
        self.printed: set[str] = set()  # message ids whose text went out as deltas
        self.kinds: dict[str, str] = {}  # message id -> its type

    def write(self, text: str) -> None:
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def line(self, text: str) -> None:
        if not self.at_line_start:
            self.write("\n")
        self.write(text.rstrip("\n") + "\n")

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.tty else text

    def event(self, ev: dict) -> None:
        kind = ev.get("object")
        if kind == "message":
            self._message(ev)
        elif kind == "content":
            self._content(ev)
        elif kind == "response" and ev.get("status") in FINAL:
            if not self.at_line_start:
                self.write("\n")

    def _message(self, msg: dict) -> None:
        msg_type = msg.get("type") or "message"
        msg_id = msg.get("id") or ""
        self.kinds[msg_id] = msg_type
        if msg.get("status") != "completed" and msg.get("status") != "incomplete":
            return
        data = next((c.get("data") for c in msg.get("content") or () if c.get("data")), None)
        if msg_type in CALLS and data:
            arguments = data.get("arguments")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            self.line(f"[tool] {data.get('name', '?')} {_clip(arguments, 300)}")
        elif msg_type in OUTPUTS and data:
            output = data.get("output")
            if not isinstance(output, str):
                output = json.dumps(output, ensure_ascii=False)
            lines = output.rstrip("\n").split("\n")
            shown = lines[:OUTPUT_LINES]
            if len(lines) > OUTPUT_LINES:
                shown.append(f"... ({len(lines) - OUTPUT_LINES} more lines)")
            self.line(f"[tool output] {shown[0] if shown else ''}")
            for rest in shown[1:]:
                self.line(f"              {rest}")
        elif msg_id not in self.printed:  # a message that came whole, not as deltas
            text = "".join(c.get("text") or "" for c in msg.get("content") or ())
            if text:
                self._text(msg_id, msg_type, text)
        if msg_type == "reasoning" and not self.at_line_start:
            self.write("\n")

    def _content(self, ev: dict) -> None:
        if ev.get("type") != "text" or not ev.get("delta"):
            return
        msg_id = ev.get("msg_id") or ""
        self._text(msg_id, self.kinds.get(msg_id, "message"), ev.get("text") or "")

    def _text(self, msg_id: str, msg_type: str, text: str) -> None:
        if msg_type == "reasoning":
            if msg_id not in self.printed:
                if not self.at_line_start:
                    self.write("\n")
                self.write(self._dim("(reasoning) "))
            self.write(self._dim(text))
        else:
            self.write(text)
        self.printed.add(msg_id)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def outcome(final: dict | None) -> None:
    """Raise the error a turn's last event means (None: the stream ended early)."""
    if final is None or final.get("object") != "response" or final.get("status") not in FINAL:
        raise CliError("the stream ended before the turn did")
    status = final["status"]
    if status == "completed":
        return
    if status in ("canceled", "cancelled"):
        raise CliError("the turn was stopped")
    error = final.get("error") or {}
    raise CliError(f"the turn {status}: {error.get('code', 'error')}: {error.get('message', '')}")


# --- invoke --------------------------------------------------------------------------------


def invoke(args: argparse.Namespace, api: Api) -> int:
    text = args.text if args.text not in (None, "-") else sys.stdin.read()
    if not text.strip():
        raise CliError("nothing to send: give the message as an argument or on stdin", 2)
    body: dict[str, Any] = {"input": [user_message(text)], "stream": not args.json}
    if args.session:
        body["session_id"] = args.session
    if args.user:
        body["user_id"] = args.user
    if args.json:
        final = api.call("POST", "/process", json=body)
        print(json.dumps(final, indent=2, ensure_ascii=False))
        outcome(final)
        return 0
    printer = Printer() if args.as_text else None
    last = None
    for ev in api.events("/process", body):
        last = ev
        if printer is not None:
            printer.event(ev)
        else:
            print(json.dumps(ev, ensure_ascii=False), flush=True)
    outcome(last)
    return 0


# --- chat ----------------------------------------------------------------------------------

HELP = "/new starts a new session, /session shows its id, /quit (or Ctrl-D) leaves"


def read_message(tty: bool) -> str | None:
    """One message from stdin: a line, longer when it ends with ``\\`` or a ``` fence is
    open (the message ends with the line closing it). None at EOF."""
    lines: list[str] = []
    while True:
        prompt = ("you> " if not lines else "...> ") if tty else ""
        try:
            line = input(prompt)
        except EOFError:
            return "\n".join(lines) if lines else None
        more = line.endswith("\\")
        lines.append(line[:-1] if more else line)
        fence_open = sum(part.lstrip().startswith("```") for part in lines) % 2 == 1
        if not more and not fence_open:
            return "\n".join(lines)


def chat(args: argparse.Namespace, api: Api, stopper: Callable[[], Api]) -> int:
    url = api.base_url
    session = args.session or (None if args.new else recall.last_session(url, args.user))
    tty = sys.stdin.isatty()
    if session:
        info(f"continuing session {session} (--new or /new starts another)")
    elif tty:
        info(f"new session; {HELP}")
    printer = Printer()
    while True:
        text = read_message(tty)
        if text is None:
            break
        command = text.strip()
        if command in ("/quit", "/exit"):
            break
        if command == "/new":
            session = None
            recall.remember(url, args.user, None)
            info("new session")
            continue
        if command == "/session":
            info(session or "(none yet)")
            continue
        if command in ("/help", "/?"):
            info(HELP)
            continue
        if not command:
            continue
        body: dict[str, Any] = {"input": [user_message(text)], "stream": True}
        if session:
            body["session_id"] = session
        if args.user:
            body["user_id"] = args.user
        final, session = _turn(api, body, printer, stopper, args.user, session)
        if session:
            recall.remember(url, args.user, session)
        try:
            outcome(final)
        except CliError as exc:
            info(f"[{exc}]")
    return 0


def _turn(
    api: Api,
    body: dict,
    printer: Printer,
    stopper: Callable[[], Api],
    user: str | None,
    session: str | None,
) -> tuple[dict | None, str | None]:
    """Stream one turn; Ctrl-C asks the function to stop it (twice: leave at once).

    The stream is read on a thread and Ctrl-C only posts a mark in the same queue
    (SimpleQueue's put may be called from a signal handler), so the interrupt is handled
    between events, never in the middle of the HTTP client's read or of printing.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            for ev in api.events("/process", body):
                events.put(("event", ev))
        except CliError as exc:
            events.put(("error", exc))
        except Exception as exc:  # a bug or a broken stream: reported, not a traceback
            events.put(("error", CliError(f"the stream broke: {exc}")))
        events.put(("end", None))

    interrupted = False

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        events.put(("interrupt", None))

    threading.Thread(target=read, daemon=True).start()
    final: dict | None = None
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        while True:
            kind, value = events.get()
            if kind == "end":
                return final, session
            if kind == "error":
                raise value
            if kind == "interrupt":
                if session is None:  # nothing to name in a stop: hang up instead
                    raise KeyboardInterrupt
                info("\n[stopping the turn; Ctrl-C again leaves]")
                _stop(stopper, session, user)
                continue
            if value.get("session_id"):
                session = value["session_id"]
            if value.get("object") == "response":
                final = value
            printer.event(value)
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(stopper: Callable[[], Api], session: str, user: str | None) -> None:
    body = {"session_id": session, **({"user_id": user} if user else {})}
    with stopper() as api:
        try:
            api.call("POST", "/process/stop", json=body)
        except CliError as exc:
            if "no_running_turn" not in str(exc):
                info(f"[stop: {exc}]")
