"""``/v1/sandboxes/{sandbox_id}/files[/{path}]``: the sandbox's workspace, read and written."""

import re

from fastapi import APIRouter, Request, Response
from starlette.types import Scope

from functions.runtime.auth import Principal, PrincipalDep
from functions.runtime.body_limit import Limit
from functions.runtime.http_errors import errors
from functions.runtime.settings import Settings

from ..deps import SandboxInstance, SandboxInstanceDep
from ..models import FileDeleted, FileMoved, FileWritten, WorkspaceListing
from ..proxy import checked, forward, raw_tail

router = APIRouter(prefix="/v1/sandboxes/{sandbox_id}/files")


_UPLOAD = re.compile(r"^/v1/sandboxes/[^/]+/files/.")


def is_upload(scope: Scope) -> bool:
    """``PUT .../files/<path>``: a file's raw bytes, not JSON."""
    return scope["method"] == "PUT" and _UPLOAD.match(scope["path"]) is not None


def body_limit(settings: Settings) -> Limit:
    """Uploads may be as large as ``MAX_UPLOAD_BYTES``; any other body of this function as
    ``MAX_REQUEST_BYTES``."""
    upload, other = settings.max_upload_bytes, settings.max_request_bytes
    return lambda scope: upload if is_upload(scope) else other


# the tool server's own answers included: 400 a path it refuses, 507 a full workspace
FILE_ERRORS = errors(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 502, 503, 507)


@router.get(
    "",
    operation_id="list_workspace",
    response_model=WorkspaceListing,
    responses=FILE_ERRORS,
)
async def files_root(
    sandbox_id: str, request: Request, instance: SandboxInstanceDep, principal: PrincipalDep
) -> Response:
    """The workspace's top-level entries."""
    return await forward(instance, principal, sandbox_id, "GET", "/workspace", request)


async def _file(
    sandbox_id: str, path: str, request: Request, instance: SandboxInstance, principal: Principal
) -> Response:
    """``path`` (decoded, for the route) as the caller wrote it: the raw path goes on."""
    raw = checked(raw_tail(request, 4), "a file path")
    return await forward(
        instance, principal, sandbox_id, request.method, f"/workspace/{raw}", request
    )


FILE = "/{path:path}"


@router.get(
    FILE,
    operation_id="read_file",
    responses={
        **FILE_ERRORS,
        200: {
            "description": "the file's bytes, or a directory's listing",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/WorkspaceListing"}},
            },
        },
    },
)
async def read_file(
    sandbox_id: str,
    path: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
) -> Response:
    """A file's bytes, or a directory's entries."""
    return await _file(sandbox_id, path, request, instance, principal)


@router.put(FILE, operation_id="write_file", response_model=FileWritten, responses=FILE_ERRORS)
async def write_file(
    sandbox_id: str,
    path: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
) -> Response:
    """Write the body's bytes to the file (parents made): ``{path, size}``."""
    return await _file(sandbox_id, path, request, instance, principal)


@router.post(FILE, operation_id="file_operation", response_model=FileMoved, responses=FILE_ERRORS)
async def file_operation(
    sandbox_id: str,
    path: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
) -> Response:
    """``{"op": "mkdir"}`` or ``{"op": "move", "to": <path>}``."""
    return await _file(sandbox_id, path, request, instance, principal)


@router.delete(FILE, operation_id="delete_file", response_model=FileDeleted, responses=FILE_ERRORS)
async def delete_file(
    sandbox_id: str,
    path: str,
    request: Request,
    instance: SandboxInstanceDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a file, an empty directory, or any directory with ``?recursive=true``."""
    return await _file(sandbox_id, path, request, instance, principal)
