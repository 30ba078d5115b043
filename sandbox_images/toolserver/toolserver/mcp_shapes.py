"""What an MCP server in the sandbox sends, made well-formed before it leaves the tool server.

Such a server runs what the sandbox's user wrote, so its answers are anyone's: any JSON at
all (and some that is no JSON: ``NaN``, ``Infinity``, lone UTF-16 surrogates, which
Python's ``json`` reads and writes, while strict parsers refuse them and UTF-8 cannot carry
them). The function in front of the sandbox, the model's provider and the MCP clients of the
function's MCP doors all parse what the tool server answers, so it answers only the shapes
of the MCP specification (2025-06-18, "Tools" and "Schema"):

* a ``CallToolResult``: ``content`` a list of content blocks (``text``, ``image``,
  ``audio``, ``resource_link``, ``resource``), ``structuredContent`` an object, ``isError``
  a boolean, ``_meta`` an object. A block that is not one of these shapes is replaced by a
  text block saying what was wrong with it, a ``structuredContent`` that is no object (or
  holds what JSON cannot carry) is left out with such a note; optional fields that are
  malformed (``_meta: 5``, an annotation's ``priority: "high"``) are dropped, as are fields
  the specification does not name.
* a ``Tool`` as the tool server lists it: a name of 1-128 characters (the 2025-11-25
  revision's bound), a string description, an ``inputSchema`` that is an object schema
  (``{"type": "object"}`` for one that is none); a tool without a usable name is left out.

Everywhere, lone surrogates become U+FFFD, and a non-finite number or nesting deeper than
``MAX_DEPTH`` makes the value malformed.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # levels of nesting in one value; MCP's structures need far fewer
MAX_TOOL_NAME = 128
# content blocks of one result (its notes aside), and tools of one server: the function
# checks each answer on an event loop all its callers share (it refuses a result of more
# than 1024 blocks), and no model has a use for more
MAX_BLOCKS = 1000
MAX_TOOLS = 1000
QUOTED = 80  # characters of a malformed value quoted in a note
_SURROGATE = re.compile("[\ud800-\udfff]")
AUDIENCES = ("user", "assistant")


class Malformed(ValueError):
    """A value that is not the shape it must have; the message says how."""


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate (Python keeps no paired ones) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def clean_json(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that every JSON parser takes, lone surrogates replaced;
    ``Malformed`` for a non-finite number, nesting deeper than ``MAX_DEPTH`` or a value
    that is no JSON type."""
    if depth > MAX_DEPTH:
        raise Malformed(f"it is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Malformed(f"it holds {value!r}, a number JSON cannot carry")
        return value
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    raise Malformed(f"it holds a {type(value).__name__}")


def quoted(value: Any) -> str:
    """A short, clean rendering of a malformed value for a note."""
    try:
        text = json.dumps(clean_json(value), ensure_ascii=False)
    except Malformed:
        text = f"a {type(value).__name__}"
    return text if len(text) <= QUOTED else text[:QUOTED] + "..."


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "a boolean"
    )


# -- tool results -------------------------------------------------------------------------


def _string(item: dict[str, Any], field: str, what: str) -> str:
    value = item.get(field)
    if not isinstance(value, str):
        raise Malformed(f"a {what} needs a string {field!r}, got {_kind(value)}")
    return clean_text(value)


def _base64(item: dict[str, Any], field: str, what: str) -> str:
    value = _string(item, field, what)
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"a {what}'s {field!r} is not base64") from None
    return value


def _keep_meta(source: dict[str, Any], out: dict[str, Any]) -> None:
    """``source``'s ``_meta`` into ``out`` when it is a well-formed object; else none."""
    meta = source.get("_meta")
    if isinstance(meta, dict):
        try:
            out["_meta"] = clean_json(meta)
        except Malformed:
            pass


def _optional(item: dict[str, Any], out: dict[str, Any]) -> None:
    """The optional fields every block may have, kept when well-formed."""
    _keep_meta(item, out)
    notes = item.get("annotations")
    if isinstance(notes, dict):
        kept: dict[str, Any] = {}
        audience = notes.get("audience")
        if isinstance(audience, list) and all(a in AUDIENCES for a in audience):
            kept["audience"] = list(audience)
        priority = notes.get("priority")
        if type(priority) in (int, float) and 0 <= priority <= 1:
            kept["priority"] = priority
        if isinstance(notes.get("lastModified"), str):
            kept["lastModified"] = clean_text(notes["lastModified"])
        if kept:
            out["annotations"] = kept


def _resource(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"an embedded resource needs an object 'resource', got {_kind(value)}")
    out = {"uri": _string(value, "uri", "resource")}
    if isinstance(value.get("mimeType"), str):
        out["mimeType"] = clean_text(value["mimeType"])
    if isinstance(value.get("text"), str):
        out["text"] = clean_text(value["text"])
    elif "blob" in value:
        out["blob"] = _base64(value, "blob", "resource")
    else:
        raise Malformed("an embedded resource needs a string 'text' or a base64 'blob'")
    if isinstance(value.get("_meta"), dict):
        try:
            out["_meta"] = clean_json(value["_meta"])
        except Malformed:
            pass
    return out


def content_block(item: Any) -> dict[str, Any]:
    """``item`` as a well-formed content block; ``Malformed`` saying why it is none."""
    if not isinstance(item, dict):
        raise Malformed(f"a content block must be an object, got {_kind(item)}")
    kind = item.get("type")
    out: dict[str, Any] = {"type": kind}
    if kind == "text":
        out["text"] = _string(item, "text", "text block")
    elif kind in ("image", "audio"):
        out["data"] = _base64(item, "data", f"{kind} block")
        out["mimeType"] = _string(item, "mimeType", f"{kind} block")
    elif kind == "resource_link":
        out["uri"] = _string(item, "uri", "resource link")
        out["name"] = _string(item, "name", "resource link")
        for field in ("title", "description", "mimeType"):
            if isinstance(item.get(field), str):
                out[field] = clean_text(item[field])
        size = item.get("size")
        if type(size) in (int, float) and math.isfinite(size) and size >= 0:
            out["size"] = size
    elif kind == "resource":
        out["resource"] = _resource(item.get("resource"))
    else:
        raise Malformed(f"unknown content type {quoted(kind)}")
    _optional(item, out)
    return out


def _note(text: str) -> dict[str, Any]:
    return {"type": "text", "text": f"[{text}]"}


def call_result(result: dict[str, Any], server: str) -> dict[str, Any]:
    """The well-formed ``CallToolResult`` of ``server``'s ``result``: what is malformed in
    it is replaced or left out, and a text block says what and why."""
    content = result.get("content", [])
    blocks: list[dict[str, Any]] = []
    notes: list[str] = []
    if not isinstance(content, list):
        notes.append(f"the MCP server {server!r} sent content that is {_kind(content)}, no list")
        content = []
    if len(content) > MAX_BLOCKS:
        past = len(content) - MAX_BLOCKS
        notes.append(f"{past} content blocks of {server!r} past the first {MAX_BLOCKS} left out")
        content = content[:MAX_BLOCKS]
    for index, item in enumerate(content):
        try:
            blocks.append(content_block(item))
        except Malformed as exc:
            blocks.append(_note(f"content block {index} of {server!r} left out: {exc}"))
    is_error = result.get("isError", False)
    if not isinstance(is_error, bool):
        notes.append(f"isError was {quoted(is_error)}, no boolean: taken as an error")
        is_error = True
    answer: dict[str, Any] = {"content": blocks, "isError": is_error}
    structured = result.get("structuredContent")
    if structured is not None:
        try:
            if not isinstance(structured, dict):
                raise Malformed(f"it is {_kind(structured)}, no object")
            answer["structuredContent"] = clean_json(structured)
        except Malformed as exc:
            notes.append(f"structuredContent of {server!r} left out: {exc}")
    _keep_meta(result, answer)
    blocks += [_note(note) for note in notes]
    return answer


# -- tools ----------------------------------------------------------------------------------


def input_schema(schema: Any) -> tuple[dict[str, Any], str | None]:
    """An object schema for a tool's arguments from its ``inputSchema``, and what was
    changed (None when nothing was)."""
    if not isinstance(schema, dict):
        return {"type": "object"}, f"its inputSchema was {_kind(schema)}"
    try:
        schema = clean_json(schema)
    except Malformed as exc:
        return {"type": "object"}, f"its inputSchema was unusable: {exc}"
    why = None
    if schema.get("type") != "object":
        if "type" in schema:  # a schema of something else than an arguments object
            return {"type": "object"}, f'its inputSchema had "type": {quoted(schema["type"])}'
        schema, why = {**schema, "type": "object"}, 'its inputSchema had no "type"'
    if "properties" in schema and not isinstance(schema["properties"], dict):
        schema = {k: v for k, v in schema.items() if k != "properties"}
        why = "its inputSchema's properties were no object"
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        schema = {k: v for k, v in schema.items() if k != "required"}
        why = "its inputSchema's required was no list of strings"
    return schema, why


def tool_name(tool: dict[str, Any]) -> str:
    """The tool's own name; ``Malformed`` for one no call could name."""
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise Malformed(f"its name is {quoted(name)}, no non-empty string")
    if len(name) > MAX_TOOL_NAME:
        raise Malformed(f"its name has {len(name)} characters, over {MAX_TOOL_NAME}")
    if _SURROGATE.search(name) or any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise Malformed("its name holds a control character or a lone surrogate")
    return name
