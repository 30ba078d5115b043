"""Sandbox handles: where the calls go (the sandbox function or the container) and the tools.

The tool methods are written once, in ``toolsets`` (one class per image's tool sets): each
builds its arguments and hands them to ``call_tool``, which is blocking in the sync classes
and a coroutine in the async ones, so both families have the same methods with the same
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
from urllib.parse import quote

from .. import tracing
from ..settings import Settings, get_settings
from ..tools import ToolError
from .desktop import has_desktop
from .errors import SandboxError, error_for, tool_name
from .toolsets import BaseTools, BrowserTools, FilesystemTools, GuiTools, arguments

CALL_TIMEOUT_S = 900.0


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

    def tool(self, name: str) -> str:
        return f"{self.tools()}/{segment(tool_name(name))}"

    def mcp_servers(self) -> str:
        return f"{self.base}{self.prefix}/mcp-servers"


def segment(value: str) -> str:
    """``value`` as one path segment of a URL: every reserved character escaped (``/``,
    ``?``, ``#``, ``%``), and ``.`` / ``..``, which URL clients resolve as the current and the
    parent path, escaped as ``%2E``, so a tool or sandbox name never reaches another route."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


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


def _trace_context(request: Any) -> None:
    """httpx request hook: the current span's ``traceparent`` on every call (tracing on),
    so the sandbox function and the tool server join the caller's trace."""
    tracing.inject(request.headers)


async def _atrace_context(request: Any) -> None:
    _trace_context(request)


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
        mcp_servers: dict[str, Any] | None = None,
    ) -> None:
        """``mcp_servers``: MCP servers to start in a new sandbox (``{"mcpServers": {name:
        {command, args, env} | {url, headers}}}``), as ``add_mcp_servers`` does."""
        self.settings = settings or get_settings()
        self.mcp_servers = mcp_servers
        self.token = token
        self.base_url = (base_url or self.settings.sandbox_url or "").rstrip("/") or None
        self.sandbox_id = sandbox_id
        self.session_id = session_id
        self.user_id = user_id
        self.ttl_s = ttl_s
        self._route: _Route | None = None
        self._owned = False  # delete it on close: we made it, and no session keeps it
        self._launched: Any = None  # embedded mode: (launcher, handle)
        # the live view (browser and gui types): from the create/get answer, or (embedded on
        # Docker) the container's own live-view port; None for types without a desktop
        self.desktop_url: str | None = None
        self._attached = sandbox_id is not None  # its info (desktop_url) is read on start
        if sandbox_id is not None:
            if self.base_url is None:
                raise SandboxError("attaching to a sandbox by id needs SANDBOX_URL")
            self._route = _Route(self.base_url, f"/v1/sandboxes/{segment(sandbox_id)}")

    def _url_auth(self) -> Any:
        """How calls to the sandbox function are signed (SANDBOX_URL_AUTH); None: not at all.

        Embedded sandboxes are called on their own endpoint with their token, signed as its
        backend's gateway requires (``Launcher.call_auth``: an FC trigger's function auth).
        """
        if self.base_url is None:
            return self._launched[0].call_auth() if self._launched is not None else None
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
        from ..settings import secret_value

        token = self.token or secret_value(self.settings.sandbox_token)
        token = token or current_principal().token
        if not token:
            return {}
        signed = self.settings.sandbox_url_auth != "none"
        return {"X-Forwarded-Authorization" if signed else "Authorization": f"Bearer {token}"}

    def _create_body(self) -> dict[str, Any]:
        return arguments(
            type=self.sandbox_type,
            session_id=self.session_id,
            user_id=self.user_id,
            ttl_s=self.ttl_s,
            mcp_servers=self.mcp_servers,
        )

    def _remote_created(self, body: dict[str, Any], status: int) -> None:
        assert self.base_url is not None
        self.sandbox_id = body["sandbox_id"]
        self._route = _Route(self.base_url, f"/v1/sandboxes/{segment(self.sandbox_id)}")
        self._owned = status == 201 and self.session_id is None
        self.desktop_url = body.get("desktop_url")

    def _url(self) -> str:
        """This sandbox's URL at the sandbox function."""
        assert self.base_url is not None and self.sandbox_id is not None
        return f"{self.base_url}/v1/sandboxes/{segment(self.sandbox_id)}"

    def _info_url(self) -> str | None:
        """Where an attached handle of a desktop type reads its info (desktop_url) on start;
        None when there is nothing to read."""
        if not self._attached or not has_desktop(self.sandbox_type):
            return None
        self._attached = False
        return self._url()

    async def _launch_embedded(self) -> None:
        from .launchers import get_launcher

        launcher = get_launcher(self.settings, owner="embedded")
        token = secrets.token_urlsafe(32)
        self.sandbox_id = f"sbx-{secrets.token_hex(12)}"
        launched = await launcher.start(self.sandbox_type, self.sandbox_id, token, self.ttl_s)
        self._launched = (launcher, launched.handle)
        headers = {**launched.headers, **launcher.tool_headers(token)}
        self._route = _Route(launched.endpoint, "", headers)
        self._owned = True
        if launched.desktop_endpoint:  # a browser opens it with no headers: Docker's port only
            from .desktop import desktop_url

            self.desktop_url = desktop_url(launched.desktop_endpoint, token)

    def _require_route(self) -> _Route:
        if self._route is None:
            raise SandboxError("the sandbox is not started: use it in a with block or call start()")
        return self._route


class BaseSandbox(_Handle, BaseTools):
    """A sandbox used from blocking code; ``with BaseSandbox() as box: ...``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: Any = None

    @property
    def _http(self) -> Any:
        # made on first use: a handle an agent builds per turn costs no httpx import until
        # a tool is called
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=httpx.Timeout(CALL_TIMEOUT_S, connect=10),
                auth=self._url_auth(),
                headers=self._identity(),
                event_hooks={"request": [_trace_context]},
            )
        return self._client

    def start(self) -> BaseSandbox:
        if self._route is not None:
            info = self._info_url()
            if info is not None:
                self.desktop_url = _result(self._http.get(info)).get("desktop_url")
            return self
        if self.base_url is None:
            _run_sync(self._launch_embedded())
            if self.mcp_servers:  # the sandbox function starts them; here, we do
                try:
                    self.add_mcp_servers(self.mcp_servers)
                except BaseException:
                    self.close()
                    raise
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
                self._http.delete(self._url())
        finally:
            self._owned = False
            self._route = None
            if self._client is not None:
                self._client.close()
                self._client = None

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
        resp = self._http.post(route.tool(name), json=arguments or {}, headers=route.headers)
        return _result(resp)

    def add_mcp_servers(
        self, server_configs: dict[str, Any], overwrite: bool = False
    ) -> dict[str, Any]:
        """Start MCP servers in the sandbox (``{"mcpServers": {...}}``, all or none); their
        tools join ``list_tools`` as ``<server>__<tool>``. Returns ``{"servers": [...]}``;
        a server that does not start raises ``McpServerFailed`` saying why."""
        route = self._require_route()
        body = {**server_configs, "overwrite": overwrite}
        return _result(self._http.post(route.mcp_servers(), json=body, headers=route.headers))


class FilesystemSandbox(BaseSandbox, FilesystemTools):
    sandbox_type = "filesystem"


class BrowserSandbox(BaseSandbox, BrowserTools):
    """Chromium driven with Playwright MCP's tools; watch it live at ``desktop_url``."""

    sandbox_type = "browser"


class GuiSandbox(BaseSandbox, GuiTools):
    """A desktop driven with ``computer_use``; watch it live at ``desktop_url``."""

    sandbox_type = "gui"


class AsyncBaseSandbox(_Handle, BaseTools):
    """The async twin: ``async with AsyncBaseSandbox() as box: await box.run_ipython_cell(...)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: Any = None

    @property
    def _http(self) -> Any:
        if self._client is None:  # made on first use (see BaseSandbox._http)
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(CALL_TIMEOUT_S, connect=10),
                auth=self._url_auth(),
                headers=self._identity(),
                event_hooks={"request": [_atrace_context]},
            )
        return self._client

    async def start(self) -> AsyncBaseSandbox:
        if self._route is not None:
            info = self._info_url()
            if info is not None:
                self.desktop_url = _result(await self._http.get(info)).get("desktop_url")
            return self
        if self.base_url is None:
            await self._launch_embedded()
            if self.mcp_servers:  # the sandbox function starts them; here, we do
                try:
                    await self.add_mcp_servers(self.mcp_servers)
                except BaseException:
                    await self.close()
                    raise
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
                await self._http.delete(self._url())
        finally:
            self._owned = False
            self._route = None
            if self._client is not None:
                await self._client.aclose()
                self._client = None

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
        resp = await self._http.post(route.tool(name), json=arguments or {}, headers=route.headers)
        return _result(resp)

    async def add_mcp_servers(
        self, server_configs: dict[str, Any], overwrite: bool = False
    ) -> dict[str, Any]:
        """Start MCP servers in the sandbox (see ``BaseSandbox.add_mcp_servers``)."""
        route = self._require_route()
        body = {**server_configs, "overwrite": overwrite}
        resp = await self._http.post(route.mcp_servers(), json=body, headers=route.headers)
        return _result(resp)


class AsyncFilesystemSandbox(AsyncBaseSandbox, FilesystemTools):
    sandbox_type = "filesystem"


class AsyncBrowserSandbox(AsyncBaseSandbox, BrowserTools):
    sandbox_type = "browser"


class AsyncGuiSandbox(AsyncBaseSandbox, GuiTools):
    sandbox_type = "gui"


def result_images(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool result's image parts, as MCP gives them: ``{type: "image", data (base64),
    mimeType}``."""
    return [p for p in result.get("content", []) if p.get("type") == "image"]


def _image_note(part: dict[str, Any]) -> str:
    data = part.get("data", "")
    size = len(data) * 3 // 4 - data[-2:].count("=")  # base64's length, less its padding
    return f"[image: {part.get('mimeType', 'image')}, {size} bytes]"


def result_text(result: dict[str, Any]) -> str:
    """A tool result's text, each image part as a short note in its place (``[image:
    image/png, 52311 bytes]``: the picture itself is ``result_images``); an error result
    raises ToolError with that text."""
    parts = []
    for part in result.get("content", []):
        if part.get("type") == "text":
            parts.append(part.get("text", ""))
        elif part.get("type") == "image":
            parts.append(("\n" if parts else "") + _image_note(part))
    text = "".join(parts)
    if result.get("isError"):
        raise ToolError(text)
    return text


class ToolText(str):
    """A tool's text for a model, with the result's images beside it (``images``: MCP image
    parts). It is a ``str``, so any toolkit takes it as text; ``Toolkit.run`` also hands the
    images on (``ToolOutput.images``) for a model that accepts them."""

    images: list[dict[str, Any]]

    def __new__(cls, text: str, images: list[dict[str, Any]] | None = None) -> ToolText:
        made = super().__new__(cls, text)
        made.images = images or []
        return made


def _tool_value(result: dict[str, Any], framework: str) -> Any:
    text = result_text(result)
    images = result_images(result)
    if framework != "agentscope" or not images:
        return ToolText(text, images)
    # AgentScope 2.x: a ToolChunk of blocks, so the model gets the images (MCPTool does alike)
    from agentscope.message import Base64Source, DataBlock, TextBlock
    from agentscope.tool import ToolChunk

    blocks: list[Any] = [
        TextBlock(text=p.get("text", "")) for p in result["content"] if p.get("type") == "text"
    ]
    blocks += [
        DataBlock(source=Base64Source(media_type=p["mimeType"], data=p["data"])) for p in images
    ]
    return ToolChunk(content=blocks)


def sandbox_tool_adapter(
    method: Callable[..., Any], *, framework: str = "native"
) -> Callable[..., Any]:
    """A sandbox method as a tool: same name, signature and docstring.

    Our ``Toolkit.register`` takes it, and so does AgentScope's ``FunctionTool`` (for its
    ``Toolkit.add_tool``), which builds the schema from that signature and docstring. It
    returns the result's text (``result_text``: an image as a short note) as a ``ToolText``
    carrying the images; with ``framework="agentscope"``, a result with images is an
    AgentScope ``ToolChunk`` of text and data blocks instead, so the model sees them. An
    error result raises with the sandbox's output, so either toolkit reports it to the model
    as a failure it can read.
    """
    if framework not in ("native", "agentscope"):
        raise ValueError(f"framework must be native or agentscope, got {framework!r}")
    owner = getattr(method, "__self__", None)  # a bound tool method of a sandbox handle
    if inspect.iscoroutinefunction(getattr(owner, "call_tool", None)):

        @functools.wraps(method)
        async def tool(**kwargs: Any) -> Any:
            return _tool_value(await method(**kwargs), framework)
    else:

        @functools.wraps(method)
        def tool(**kwargs: Any) -> Any:
            return _tool_value(method(**kwargs), framework)

    tool.__annotations__ = {**method.__annotations__, "return": "str"}
    return tool
