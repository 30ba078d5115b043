"""Sandbox handles: where the calls go (the sandbox function or the container) and the tools.

The tool methods are written once, in ``_BaseTools`` / ``_FilesystemTools``: each builds its
arguments and hands them to ``call_tool``, which is blocking in the sync classes and a
coroutine in the async ones, so both families have the same methods with the same
signatures (and ``sandbox_tool_adapter`` reads its JSON schema from them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings, get_settings
from ..tools import ToolError
from .errors import SandboxError, error_for

CALL_TIMEOUT_S = 900.0


def _args(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from sync code, also when the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class _Route:
    """Where this sandbox's calls go: a base URL, a path prefix and the headers."""

    base: str
    prefix: str
    headers: dict[str, str] = field(default_factory=dict)

    def tools(self) -> str:
        return f"{self.base}{self.prefix}/tools"


def _result(resp: Any) -> Any:
    """The answer's JSON; an error answer raises its named error (``SandboxGone``...)."""
    if resp.status_code >= 400:
        try:
            body = resp.json()
            # ours say {code, detail}; Lambda's and FC's front doors {Message} / {message}
            detail = body.get("detail") or body.get("Message") or body.get("message")
            code = body.get("code") or body.get("Code")
        except (ValueError, AttributeError):
            detail, code = resp.text, None
        retry_after = resp.headers.get("retry-after")
        raise error_for(
            resp.status_code,
            code if isinstance(code, str) else None,
            f"sandbox call failed ({resp.status_code}): {detail}",
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    return resp.json()


class _Handle:
    """What both families share: the settings, the identity and how to reach the sandbox."""

    sandbox_type = "base"

    def __init__(
        self,
        *,
        sandbox_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        ttl_s: float | None = None,
        base_url: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.token = token
        self.base_url = (base_url or self.settings.sandbox_url or "").rstrip("/") or None
        self.sandbox_id = sandbox_id
        self.session_id = session_id
        self.user_id = user_id
        self.ttl_s = ttl_s
        self._route: _Route | None = None
        self._owned = False  # delete it on close: we made it, and no session keeps it
        self._launched: Any = None  # embedded mode: (launcher, handle)
        if sandbox_id is not None:
            if self.base_url is None:
                raise SandboxError("attaching to a sandbox by id needs SANDBOX_URL")
            self._route = _Route(self.base_url, f"/v1/sandboxes/{sandbox_id}")

    def _url_auth(self) -> Any:
        """How calls to the sandbox function are signed (SANDBOX_URL_AUTH); None: not at all.

        Embedded sandboxes are called on their own endpoint with their token: never signed.
        """
        if self.base_url is None:
            return None
        from .url_auth import sandbox_url_auth

        return sandbox_url_auth(self.settings)

    def _identity(self) -> dict[str, str]:
        """Who the calls to the sandbox function are made for: a bearer token - the one
        given, else ``SANDBOX_TOKEN``, else that of the request this code is serving (so
        the query function acts for its caller's user and no one else).

        It rides in ``Authorization``, or in ``X-Forwarded-Authorization`` where the
        platform's signature (``SANDBOX_URL_AUTH``) takes ``Authorization``.
        """
        if self.base_url is None:
            return {}
        from ..auth import current_principal
        from .launchers.alibaba import secret_value

        token = self.token or secret_value(self.settings.sandbox_token)
        token = token or current_principal().token
        if not token:
            return {}
        signed = self.settings.sandbox_url_auth != "none"
        return {"X-Forwarded-Authorization" if signed else "Authorization": f"Bearer {token}"}

    def _create_body(self) -> dict[str, Any]:
        return _args(
            type=self.sandbox_type,
            session_id=self.session_id,
            user_id=self.user_id,
            ttl_s=self.ttl_s,
        )

    def _remote_created(self, body: dict[str, Any], status: int) -> None:
        assert self.base_url is not None
        self.sandbox_id = body["sandbox_id"]
        self._route = _Route(self.base_url, f"/v1/sandboxes/{self.sandbox_id}")
        self._owned = status == 201 and self.session_id is None

    async def _launch_embedded(self) -> None:
        from .launchers import get_launcher

        launcher = get_launcher(self.settings, owner="embedded")
        token = secrets.token_urlsafe(32)
        self.sandbox_id = f"sbx-{secrets.token_hex(12)}"
        launched = await launcher.start(self.sandbox_type, self.sandbox_id, token, self.ttl_s)
        self._launched = (launcher, launched.handle)
        token = launched.token or token  # FC derives each session's token from its key
        headers = {**launched.headers, "Authorization": f"Bearer {token}"}
        self._route = _Route(launched.endpoint, "", headers)
        self._owned = True

    def _require_route(self) -> _Route:
        if self._route is None:
            raise SandboxError("the sandbox is not started: use it in a with block or call start()")
        return self._route


class _BaseTools:
    """The base image's tools."""

    call_tool: Callable[..., Any]

    def run_ipython_cell(self, code: str, timeout: float | None = None) -> Any:
        """Run Python code in the sandbox's persistent interpreter; variables survive calls."""
        return self.call_tool("run_ipython_cell", _args(code=code, timeout=timeout))

    def run_shell_command(self, command: str, timeout: float | None = None) -> Any:
        """Run a shell command in the sandbox's workspace; returns its output."""
        return self.call_tool("run_shell_command", _args(command=command, timeout=timeout))


class _FilesystemTools(_BaseTools):
    """The filesystem image's tools (the MCP filesystem server's names and arguments)."""

    def read_file(self, path: str) -> Any:
        """Read a text file in the workspace."""
        return self.call_tool("read_file", _args(path=path))

    def read_multiple_files(self, paths: list[str]) -> Any:
        """Read several files at once; a failing one does not fail the others."""
        return self.call_tool("read_multiple_files", _args(paths=paths))

    def write_file(self, path: str, content: str) -> Any:
        """Create or overwrite a file."""
        return self.call_tool("write_file", _args(path=path, content=content))

    def edit_file(self, path: str, edits: list[dict], dryRun: bool = False) -> Any:
        """Replace text in a file: edits are {oldText, newText}; returns a diff."""
        return self.call_tool("edit_file", _args(path=path, edits=edits, dryRun=dryRun))

    def create_directory(self, path: str) -> Any:
        """Create a directory and its parents."""
        return self.call_tool("create_directory", _args(path=path))

    def list_directory(self, path: str) -> Any:
        """List a directory's entries."""
        return self.call_tool("list_directory", _args(path=path))

    def directory_tree(self, path: str) -> Any:
        """A directory's tree as JSON."""
        return self.call_tool("directory_tree", _args(path=path))

    def move_file(self, source: str, destination: str) -> Any:
        """Move or rename a file or directory."""
        return self.call_tool("move_file", _args(source=source, destination=destination))

    def search_files(
        self,
        path: str,
        pattern: str,
        excludePatterns: list[str] | None = None,
    ) -> Any:
        """Find files whose names match a pattern under a directory."""
        return self.call_tool(
            "search_files", _args(path=path, pattern=pattern, excludePatterns=excludePatterns)
        )

    def get_file_info(self, path: str) -> Any:
        """Size, times and permissions of a file or directory."""
        return self.call_tool("get_file_info", _args(path=path))

    def list_allowed_directories(self) -> Any:
        """The directories the tools may touch."""
        return self.call_tool("list_allowed_directories", {})


class BaseSandbox(_Handle, _BaseTools):
    """A sandbox used from blocking code; ``with BaseSandbox() as box: ...``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import httpx

        self._http = httpx.Client(
            timeout=httpx.Timeout(CALL_TIMEOUT_S, connect=10),
            auth=self._url_auth(),
            headers=self._identity(),
        )

    def start(self) -> BaseSandbox:
        if self._route is not None:
            return self
        if self.base_url is None:
            _run_sync(self._launch_embedded())
            return self
        resp = self._http.post(f"{self.base_url}/v1/sandboxes", json=self._create_body())
        self._remote_created(_result(resp), resp.status_code)
        return self

    def close(self) -> None:
        try:
            if self._owned and self._launched is not None:
                launcher, handle = self._launched
                _run_sync(launcher.stop(handle))
            elif self._owned and self.base_url is not None:
                self._http.delete(f"{self.base_url}/v1/sandboxes/{self.sandbox_id}")
        finally:
            self._owned = False
            self._route = None
            self._http.close()

    def __enter__(self) -> BaseSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_tools(self) -> list[dict[str, Any]]:
        route = self._require_route()
        return _result(self._http.get(route.tools(), headers=route.headers))["tools"]

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call any tool; returns ``{content: [{type, text}], isError}``."""
        route = self._require_route()
        resp = self._http.post(
            f"{route.tools()}/{name}", json=arguments or {}, headers=route.headers
        )
        return _result(resp)


class FilesystemSandbox(BaseSandbox, _FilesystemTools):
    sandbox_type = "filesystem"


class AsyncBaseSandbox(_Handle, _BaseTools):
    """The async twin: ``async with AsyncBaseSandbox() as box: await box.run_ipython_cell(...)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import httpx

        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(CALL_TIMEOUT_S, connect=10),
            auth=self._url_auth(),
            headers=self._identity(),
        )

    async def start(self) -> AsyncBaseSandbox:
        if self._route is not None:
            return self
        if self.base_url is None:
            await self._launch_embedded()
            return self
        resp = await self._http.post(f"{self.base_url}/v1/sandboxes", json=self._create_body())
        self._remote_created(_result(resp), resp.status_code)
        return self

    async def close(self) -> None:
        try:
            if self._owned and self._launched is not None:
                launcher, handle = self._launched
                await launcher.stop(handle)
            elif self._owned and self.base_url is not None:
                await self._http.delete(f"{self.base_url}/v1/sandboxes/{self.sandbox_id}")
        finally:
            self._owned = False
            self._route = None
            await self._http.aclose()

    async def __aenter__(self) -> AsyncBaseSandbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def list_tools(self) -> list[dict[str, Any]]:
        route = self._require_route()
        return _result(await self._http.get(route.tools(), headers=route.headers))["tools"]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call any tool; returns ``{content: [{type, text}], isError}``."""
        route = self._require_route()
        resp = await self._http.post(
            f"{route.tools()}/{name}", json=arguments or {}, headers=route.headers
        )
        return _result(resp)


class AsyncFilesystemSandbox(AsyncBaseSandbox, _FilesystemTools):
    sandbox_type = "filesystem"


def result_text(result: dict[str, Any]) -> str:
    """A tool result's text; an error result raises ToolError with that text."""
    text = "".join(p.get("text", "") for p in result.get("content", []) if p.get("type") == "text")
    if result.get("isError"):
        raise ToolError(text)
    return text


def sandbox_tool_adapter(method: Callable[..., Any]) -> Callable[..., Any]:
    """A sandbox method as a tool: same name, signature and docstring, returning text.

    Our ``Toolkit.register`` takes it, and so does AgentScope's ``FunctionTool`` (for its
    ``Toolkit.add_tool``), which builds the schema from that signature and docstring and
    turns the returned string into a text block. An error result raises with the sandbox's
    output, so either toolkit reports it to the model as a failure it can read.
    """
    owner = getattr(method, "__self__", None)  # a bound tool method of a sandbox handle
    if inspect.iscoroutinefunction(getattr(owner, "call_tool", None)):

        @functools.wraps(method)
        async def tool(**kwargs: Any) -> str:
            return result_text(await method(**kwargs))
    else:

        @functools.wraps(method)
        def tool(**kwargs: Any) -> str:
            return result_text(method(**kwargs))

    tool.__annotations__ = {**method.__annotations__, "return": "str"}
    return tool
