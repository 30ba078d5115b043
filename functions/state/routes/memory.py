"""``/v1/users/{user_id}/memory``: long-term memory (add, search, list, forget)."""

from typing import Any

from fastapi import APIRouter, Query, Response

from functions.runtime.errors import InvalidRequest
from functions.runtime.http_errors import errors

from ..deps import ActingUser, Memory
from ..models import (
    MemoryAddBody,
    MemoryAdded,
    MemoryItems,
    MemoryPage,
    MemorySearchBody,
    checked_messages,
)

router = APIRouter(prefix="/v1/users/{user_id}/memory")


@router.post(
    "",
    operation_id="add_memory",
    response_model=MemoryAdded,
    status_code=201,
    responses=errors(401, 403, 422, 503),
)
async def add_memory(user_id: ActingUser, body: MemoryAddBody, memory: Memory) -> Any:
    """Remember messages (optionally tagged with the session they came from)."""
    messages = checked_messages(body.messages, ("body", "messages"))
    if not messages:
        raise InvalidRequest("no messages to remember")
    await memory.add_memory(user_id, messages, body.session_id)
    return MemoryAdded(added=len(messages))


@router.post(
    "/search",
    operation_id="search_memory",
    response_model=MemoryItems,
    responses=errors(401, 403, 422, 503),
)
async def search_memory(user_id: ActingUser, body: MemorySearchBody, memory: Memory) -> Any:
    """Memory items ranked by BM25 against the query (or the last message's text)."""
    if body.messages is not None:
        query: Any = checked_messages(body.messages, ("body", "messages"))
    elif body.query is not None:
        query = body.query
    else:
        raise InvalidRequest("give messages or query")
    return MemoryItems(items=await memory.search_memory(user_id, query, {"top_k": body.top_k}))


@router.get(
    "",
    operation_id="list_memory",
    response_model=MemoryPage,
    responses=errors(401, 403, 422, 503),
)
async def list_memory(
    user_id: ActingUser,
    memory: Memory,
    page_num: int = Query(1, ge=1),
    page_size: int = Query(10, ge=1, le=1000),
) -> Any:
    """One page of the user's memory items."""
    items = await memory.list_memory(user_id, {"page_num": page_num, "page_size": page_size})
    return MemoryPage(items=items, page_num=page_num, page_size=page_size)


@router.delete(
    "",
    operation_id="delete_memory",
    status_code=204,
    responses=errors(401, 403, 422, 503),
)
async def delete_memory(
    user_id: ActingUser, memory: Memory, session_id: str | None = Query(None)
) -> Response:
    """Forget one session's memory, or all of the user's when session_id is absent."""
    await memory.delete_memory(user_id, session_id)
    return Response(status_code=204)
