"""What the emulated Function Compute keeps and does: functions, HTTP triggers, sessions.

A session is one container of its function's image on the local Docker engine, run with the
same hardening as every sandbox (``DockerLauncher.run_image``) and the function's environment:
SESSION_EXCLUSIVE, one session per instance, one instance per session. Sessions end at their
TTL or idle timeout (checked on every use and by a sweep) or when their container dies; an
ended session keeps answering ``GetSession`` as ``Expired`` for a while, as FC's do.

Time is ``time.time() + offset``; ``advance()`` moves it, so tests can expire sessions without
sleeping. All state is in memory: an emulator that stops takes its containers with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from functions.runtime.sandbox.errors import LaunchError
from functions.runtime.sandbox.launchers.docker import LABEL_OWNER, LABEL_SANDBOX, DockerLauncher
from functions.runtime.settings import Settings

from . import exceptions as err

LABEL_FUNCTION = "agentscope-faas.fc-function"
SESSION_AFFINITIES = ("HEADER_FIELD", "GENERATED_COOKIE")
MAX_SESSION_S = 21600
DEFAULT_TTL_S = 21600
DEFAULT_IDLE_S = 1800
EXPIRED_KEPT_S = 3600.0  # an ended session still answers GetSession (as Expired) this long
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{4,39}$")


def emulator_owner(account_id: str) -> str:
    """The owner label of the containers an emulator for ``account_id`` runs."""
    return f"fc-emulator-{account_id}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise err.InvalidArgument(f"{name} must be an integer from {low} to {high}")
    return value


@dataclass
class FakeFunction:
    name: str
    spec: dict[str, Any]  # CreateFunctionInput as sent, camelCase (plus updates)
    account_id: str
    region: str
    created: float
    modified: float
    function_id: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def affinity(self) -> str | None:
        return self.spec.get("sessionAffinity")

    @property
    def affinity_config(self) -> dict[str, Any]:
        raw = self.spec.get("sessionAffinityConfig") or "{}"
        return json.loads(raw) if isinstance(raw, str) else dict(raw)

    @property
    def header_name(self) -> str | None:
        return self.affinity_config.get("affinityHeaderFieldName")

    @property
    def image(self) -> str:
        return (self.spec.get("customContainerConfig") or {}).get("image", "")

    @property
    def port(self) -> int:
        return int((self.spec.get("customContainerConfig") or {}).get("port") or 9000)

    def describe(self) -> dict[str, Any]:
        return {
            **self.spec,
            "functionName": self.name,
            "functionId": self.function_id,
            "functionArn": f"acs:fc:{self.region}:{self.account_id}:functions/{self.name}",
            "createdTime": iso(self.created),
            "lastModifiedTime": iso(self.modified),
            "state": "Active",
            "lastUpdateStatus": "Successful",
        }


@dataclass
class FakeTrigger:
    function: str
    name: str
    trigger_type: str
    config: str  # triggerConfig: a JSON string, as the API carries it
    qualifier: str
    url: str
    created: float
    modified: float
    trigger_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def auth_type(self) -> str:
        try:
            return json.loads(self.config or "{}").get("authType", "anonymous")
        except ValueError:
            return "anonymous"

    def describe(self) -> dict[str, Any]:
        return {
            "triggerName": self.name,
            "triggerType": self.trigger_type,
            "triggerConfig": self.config,
            "triggerId": self.trigger_id,
            "qualifier": self.qualifier,
            "createdTime": iso(self.created),
            "lastModifiedTime": iso(self.modified),
            "status": "Ready",
            "httpTrigger": {"urlInternet": self.url, "urlIntranet": self.url},
        }


@dataclass
class FakeSession:
    function: str
    session_id: str
    qualifier: str
    affinity: str
    ttl_s: int
    idle_s: int
    disable_reuse: bool
    allow_internet: bool
    auto_resume: bool
    created: float
    last_used: float
    status: str = "Active"  # Active | Paused | Expired
    in_flight: int = 0  # trigger requests being served: a session serving one is not idle
    ended: float | None = None
    container: Any = None
    port: int = 0  # the container's port on 127.0.0.1

    def due(self, now: float) -> bool:
        """Past its TTL, or (running) idle past its idle timeout; paused sessions do not idle,
        nor do sessions serving a request (idle time counts from a request's end)."""
        if now >= self.created + self.ttl_s:
            return True
        idle = self.status == "Active" and self.idle_s > 0 and self.in_flight == 0
        return idle and now >= self.last_used + self.idle_s

    def describe(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "functionName": self.function,
            "qualifier": self.qualifier,
            "sessionAffinityType": self.affinity,
            "sessionTTLInSeconds": self.ttl_s,
            "sessionIdleTimeoutInSeconds": self.idle_s,
            "sessionStatus": self.status,
            "disableSessionIdReuse": self.disable_reuse,
            "allowInternetAccess": self.allow_internet,
            "enableAutoResume": self.auto_resume,
            "createdTime": iso(self.created),
            "lastModifiedTime": iso(self.last_used),
            "containerId": f"c-{self.container.id[:24]}" if self.container is not None else None,
        }


@dataclass
class Fault:
    """A spoiled answer of the control plane, for tests of how a client takes one.

    The action runs as FC would run it (a CreateSession makes its session), then its answer
    is replaced: by FC's error shape (``status`` with ``{Code, Message, RequestId}``; FC's
    own 500 ``InternalServerError`` by default), standing for an answer lost on the way,
    or by ``body`` verbatim with ``status`` (a 200 whose body is not what the API
    documents). ``action`` is the API action's handler name (``create_session``, ...).
    """

    action: str
    status: int = 500
    code: str = "InternalServerError"
    body: bytes | None = None
    times: int = 1


def _page(items: list[Any], key: Any, limit: Any, next_token: str | None) -> tuple[list, str]:
    """FC-style paging: sorted by ``key``, ``nextToken`` is the key of the next item."""
    size = _int(int(limit), "limit", 1, 100) if limit not in (None, "") else 20
    ordered = sorted(items, key=key)
    if next_token:
        ordered = [item for item in ordered if key(item) >= next_token]
    page, rest = ordered[:size], ordered[size:]
    return page, key(rest[0]) if rest else ""


class FcBackend:
    """One account in one region: its functions, triggers and sessions."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str = "cn-hangzhou",
        settings: Settings | None = None,
        max_sessions: int = 100,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.settings = settings or Settings()
        self.max_sessions = max_sessions  # FC's default instance limit per region
        self.owner = emulator_owner(account_id)
        self.base_url = ""  # set by the server once it listens: the triggers' URLs hang off it
        self.functions: dict[str, FakeFunction] = {}
        self.triggers: dict[str, dict[str, FakeTrigger]] = {}
        self.sessions: dict[tuple[str, str], FakeSession] = {}
        # ids that may not start a session again (``disableSessionIdReuse``): deleted
        # sessions', and expired ones' once forgotten
        self.retired: set[tuple[str, str]] = set()
        self._starting: set[tuple[str, str]] = set()
        self.calls: Counter[str] = Counter()  # requests per API action, "invoke" per trigger call
        self.faults: list[Fault] = []  # answers to spoil (``spoil``): tests' control-plane faults
        self.offset = 0.0
        self._launcher = DockerLauncher(self.settings, owner=self.owner)

    # -- faults ----------------------------------------------------------------------------

    def spoil(self, fault: Fault) -> None:
        """Spoil the answers of the next ``fault.times`` calls of ``fault.action``."""
        self.faults.append(fault)

    def take_fault(self, action: str) -> Fault | None:
        """The fault due for this call of ``action`` (used up by it), if any."""
        for fault in self.faults:
            if fault.action == action and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock (sessions then expire on their next use or sweep)."""
        self.offset += seconds

    # -- functions -------------------------------------------------------------------------

    def _validate(self, spec: dict[str, Any]) -> None:
        runtime = spec.get("runtime")
        if runtime != "custom-container" or not (spec.get("customContainerConfig") or {}).get(
            "image"
        ):
            raise err.InvalidArgument(
                "the emulator runs custom-container functions only: runtime must be "
                "custom-container, with customContainerConfig.image"
            )
        affinity = spec.get("sessionAffinity")
        if affinity not in (None, "NONE", *SESSION_AFFINITIES):
            raise err.InvalidArgument(f"sessionAffinity {affinity!r} is not supported")
        raw = spec.get("sessionAffinityConfig")
        if raw:
            try:
                config = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                raise err.InvalidArgument("sessionAffinityConfig is not valid JSON") from None
            if not isinstance(config, dict):
                raise err.InvalidArgument("sessionAffinityConfig must be a JSON object")
            header = config.get("affinityHeaderFieldName")
            if affinity == "HEADER_FIELD" and (
                not isinstance(header, str)
                or not _HEADER_NAME.match(header)
                or header.lower().startswith("x-fc-")
            ):
                raise err.InvalidArgument(
                    "affinityHeaderFieldName must be 5 to 40 letters, digits, '-' or '_', "
                    "start with a letter and not start with x-fc-"
                )
            for name, low in (("sessionTTLInSeconds", 1), ("sessionIdleTimeoutInSeconds", 0)):
                if name in config:
                    _int(config[name], name, low, MAX_SESSION_S)
            if "sessionConcurrencyPerInstance" in config:
                _int(
                    config["sessionConcurrencyPerInstance"], "sessionConcurrencyPerInstance", 1, 200
                )
        elif affinity == "HEADER_FIELD":
            raise err.InvalidArgument("HEADER_FIELD affinity needs sessionAffinityConfig")
        if spec.get("instanceIsolationMode") == "SESSION_EXCLUSIVE":
            if affinity not in SESSION_AFFINITIES:
                raise err.InvalidArgument("SESSION_EXCLUSIVE isolation needs session affinity")
            if float(spec.get("cpu") or 0) < 2:
                raise err.InvalidArgument("session isolation needs an instance of 2 or more vCPUs")

    def create_function(self, spec: dict[str, Any]) -> FakeFunction:
        name = spec.get("functionName")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise err.InvalidArgument(f"functionName {name!r} is not valid")
        if name in self.functions:
            raise err.FunctionAlreadyExists(name)
        self._validate(spec)
        now = self.now()
        function = FakeFunction(name, dict(spec), self.account_id, self.region, now, now)
        self.functions[name] = function
        self.triggers[name] = {}
        return function

    def get_function(self, name: str) -> FakeFunction:
        function = self.functions.get(name)
        if function is None:
            raise err.FunctionNotFound(name)
        return function

    def update_function(self, name: str, changes: dict[str, Any]) -> FakeFunction:
        function = self.get_function(name)
        spec = {**function.spec, **changes, "functionName": name}
        self._validate(spec)
        function.spec, function.modified = spec, self.now()
        return function

    async def delete_function(self, name: str) -> None:
        self.get_function(name)
        for key in [k for k in self.sessions if k[0] == name]:
            await self._remove(self.sessions.pop(key))
        del self.functions[name]
        self.triggers.pop(name, None)

    def list_functions(
        self, prefix: str | None, limit: Any, next_token: str | None
    ) -> tuple[list[FakeFunction], str]:
        found = [f for f in self.functions.values() if f.name.startswith(prefix or "")]
        return _page(found, lambda f: f.name, limit, next_token)

    # -- triggers --------------------------------------------------------------------------

    def create_trigger(self, function_name: str, spec: dict[str, Any]) -> FakeTrigger:
        self.get_function(function_name)
        name = spec.get("triggerName")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise err.InvalidArgument(f"triggerName {name!r} is not valid")
        if spec.get("triggerType") != "http":
            raise err.InvalidArgument("the emulator serves HTTP triggers only (triggerType http)")
        if name in self.triggers[function_name]:
            raise err.TriggerAlreadyExists(function_name, name)
        config = spec.get("triggerConfig") or "{}"
        if not isinstance(config, str):
            config = json.dumps(config)
        now = self.now()
        trigger = FakeTrigger(
            function_name,
            name,
            "http",
            config,
            spec.get("qualifier") or "LATEST",
            f"{self.base_url}/http-triggers/{function_name}/{name}",
            now,
            now,
        )
        self.triggers[function_name][name] = trigger
        return trigger

    def get_trigger(self, function_name: str, name: str) -> FakeTrigger:
        self.get_function(function_name)
        trigger = self.triggers[function_name].get(name)
        if trigger is None:
            raise err.TriggerNotFound(function_name, name)
        return trigger

    def delete_trigger(self, function_name: str, name: str) -> None:
        self.get_trigger(function_name, name)
        del self.triggers[function_name][name]

    def list_triggers(
        self, function_name: str, prefix: str | None, limit: Any, next_token: str | None
    ) -> tuple[list[FakeTrigger], str]:
        self.get_function(function_name)
        found = [
            t for t in self.triggers[function_name].values() if t.name.startswith(prefix or "")
        ]
        return _page(found, lambda t: t.name, limit, next_token)

    # -- sessions --------------------------------------------------------------------------

    def _running(self) -> int:
        """Instances in use: running sessions and those starting (paused ones hold none)."""
        return len(self._starting) + sum(s.status == "Active" for s in self.sessions.values())

    async def create_session(
        self, function_name: str, spec: dict[str, Any], qualifier: str | None
    ) -> FakeSession:
        function = self.get_function(function_name)
        if function.affinity not in SESSION_AFFINITIES:
            raise err.InvalidArgument(
                "CreateSession needs a function with HEADER_FIELD or GENERATED_COOKIE affinity"
            )
        defaults = function.affinity_config
        session_id = spec.get("sessionId") or secrets.token_hex(16)
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            raise err.InvalidArgument(f"sessionId {session_id!r} is not valid")
        ttl = _int(
            spec.get("sessionTTLInSeconds", defaults.get("sessionTTLInSeconds", DEFAULT_TTL_S)),
            "sessionTTLInSeconds",
            1,
            MAX_SESSION_S,
        )
        idle = _int(
            spec.get(
                "sessionIdleTimeoutInSeconds",
                defaults.get("sessionIdleTimeoutInSeconds", min(DEFAULT_IDLE_S, ttl)),
            ),
            "sessionIdleTimeoutInSeconds",
            0,
            ttl,
        )
        key = (function_name, session_id)
        if key in self.retired:
            raise err.SessionExpired(function_name, session_id)
        existing = self.sessions.get(key)
        if existing is not None:
            await self._expire_if_due(existing)
            if existing.status != "Expired":
                raise err.SessionAlreadyExists(function_name, session_id)
            if existing.disable_reuse:
                raise err.SessionExpired(function_name, session_id)
        if key in self._starting:
            raise err.SessionAlreadyExists(function_name, session_id)
        if self._running() >= self.max_sessions:
            raise err.ResourceExhausted(self.max_sessions)
        allow_internet = bool(spec.get("allowInternetAccess", True))
        self._starting.add(key)
        try:
            container, port = await self._start_instance(function, session_id, allow_internet)
        finally:
            self._starting.discard(key)
        now = self.now()
        session = FakeSession(
            function=function_name,
            session_id=session_id,
            qualifier=qualifier or "LATEST",
            affinity=function.affinity or "HEADER_FIELD",
            ttl_s=ttl,
            idle_s=idle,
            disable_reuse=bool(
                spec.get("disableSessionIdReuse", defaults.get("disableSessionIdReuse", False))
            ),
            allow_internet=allow_internet,
            auto_resume=bool(spec.get("enableAutoResume", False)),
            created=now,
            last_used=now,
            container=container,
            port=port,
        )
        self.sessions[key] = session
        return session

    async def _start_instance(
        self, function: FakeFunction, session_id: str, allow_internet: bool
    ) -> tuple[Any, int]:
        """A container of the function's image, listening: what FC's instance start waits for.

        Without ``allowInternetAccess`` it runs on the offline sandbox network, as a session
        without internet access does on FC.
        """
        env = {
            **(function.spec.get("environmentVariables") or {}),
            "FC_FUNCTION_NAME": function.name,
            "FC_REGION": self.region,
            "FC_ACCOUNT_ID": self.account_id,
            "FC_CUSTOM_LISTEN_PORT": str(function.port),
        }
        try:
            container, port = await asyncio.to_thread(
                self._launcher.run_image,
                function.image,
                name=f"fcemu-{self.account_id}-{session_id}",
                environment=env,
                labels={LABEL_SANDBOX: session_id, LABEL_FUNCTION: function.name},
                port=function.port,
                internet_access=allow_internet,
            )
        except LaunchError as exc:
            raise err.CAExited(str(exc)) from None
        try:
            # FC waits for the port, not for any particular answer
            await self._launcher.wait_ready(container, f"http://127.0.0.1:{port}")
        except BaseException as exc:
            await asyncio.to_thread(container.remove, force=True)
            if isinstance(exc, LaunchError):
                raise err.CAExited(str(exc)) from None
            raise
        return container, port

    async def _remove(self, session: FakeSession) -> None:
        container, session.container = session.container, None
        if container is not None:
            await asyncio.to_thread(_force_remove, container)

    async def _expire(self, session: FakeSession) -> None:
        session.status, session.ended = "Expired", self.now()
        await self._remove(session)

    async def _expire_if_due(self, session: FakeSession) -> None:
        if session.status != "Expired" and session.due(self.now()):
            await self._expire(session)

    async def session(self, function_name: str, session_id: str) -> FakeSession:
        self.get_function(function_name)
        session = self.sessions.get((function_name, session_id))
        if session is None:
            raise err.SessionNotFound(function_name, session_id)
        await self._expire_if_due(session)
        return session

    async def live_session(self, function_name: str, session_id: str) -> FakeSession:
        session = await self.session(function_name, session_id)
        if session.status == "Expired":
            raise err.SessionExpired(function_name, session_id)
        return session

    async def list_sessions(
        self,
        function_name: str,
        *,
        status: str | None,
        session_id: str | None,
        limit: Any,
        next_token: str | None,
    ) -> tuple[list[FakeSession], str]:
        self.get_function(function_name)
        found = []
        for (name, sid), session in list(self.sessions.items()):
            if name != function_name or (session_id and sid != session_id):
                continue
            await self._expire_if_due(session)
            if status in (None, "", session.status):
                found.append(session)
        return _page(found, lambda s: s.session_id, limit, next_token)

    async def update_session(
        self, function_name: str, session_id: str, changes: dict[str, Any]
    ) -> FakeSession:
        session = await self.live_session(function_name, session_id)
        if "sessionTTLInSeconds" in changes:
            session.ttl_s = _int(
                changes["sessionTTLInSeconds"], "sessionTTLInSeconds", 1, MAX_SESSION_S
            )
        if "sessionIdleTimeoutInSeconds" in changes:
            session.idle_s = _int(
                changes["sessionIdleTimeoutInSeconds"],
                "sessionIdleTimeoutInSeconds",
                0,
                session.ttl_s,
            )
        if "disableSessionIdReuse" in changes:
            session.disable_reuse = bool(changes["disableSessionIdReuse"])
        return session

    async def delete_session(self, function_name: str, session_id: str) -> None:
        session = await self.session(function_name, session_id)
        del self.sessions[(function_name, session_id)]
        if session.disable_reuse:
            # the id may never start a session again: a trigger request naming it (one that
            # raced the delete) is refused rather than starting afresh
            self.retired.add((function_name, session_id))
        await self._remove(session)

    async def pause_session(self, function_name: str, session_id: str) -> FakeSession:
        """``docker pause``: its memory and files stay, its processes stop (idempotent)."""
        session = await self.live_session(function_name, session_id)
        if session.status == "Active":
            await self._container_step(session, "pause")
            session.status = "Paused"
        return session

    async def resume_session(self, function_name: str, session_id: str) -> FakeSession:
        session = await self.live_session(function_name, session_id)
        if session.status == "Paused":
            if self._running() >= self.max_sessions:
                raise err.ResourceExhausted(self.max_sessions)
            await self._container_step(session, "unpause")
            session.status, session.last_used = "Active", self.now()
        return session

    async def _container_step(self, session: FakeSession, step: str) -> None:
        import docker

        def run() -> None:
            container = session.container
            try:
                getattr(container, step)()
            except docker.errors.APIError:
                container.reload()  # gone: NotFound, an APIError too
                if container.attrs.get("State", {}).get("Paused") != (step == "pause"):
                    raise
                # a racing PauseSession (or ResumeSession) got there first: done, as asked

        try:
            await asyncio.to_thread(run)
        except docker.errors.APIError:  # its container is gone: so is the session
            await self._expire(session)
            raise err.SessionExpired(session.function, session.session_id) from None

    async def instance_alive(self, session: FakeSession) -> bool:
        """After a failed call: does its container still run? If not, the session ended."""
        import docker

        def status() -> str:
            try:
                session.container.reload()
                return session.container.status
            except (docker.errors.NotFound, AttributeError):
                return "gone"

        if session.container is not None and await asyncio.to_thread(status) in (
            "running",
            "paused",
        ):
            return True
        await self._expire(session)
        return False

    async def sweep(self) -> int:
        """End the sessions that are due, forget those ended long ago; how many ended now."""
        ended = 0
        now = self.now()
        for key, session in list(self.sessions.items()):
            if session.status != "Expired" and session.due(now):
                await self._expire(session)
                ended += 1
            elif session.status == "Expired" and now - (session.ended or now) > EXPIRED_KEPT_S:
                self.sessions.pop(key, None)
                if session.disable_reuse:
                    # forgotten, its id still may not start a session: FC refuses an expired
                    # id with disableSessionIdReuse for good, not only while it lists it
                    self.retired.add(key)
        return ended

    async def shutdown(self) -> None:
        """Remove every container this emulator runs (its state dies with it)."""
        for session in list(self.sessions.values()):
            await self._remove(session)
        await asyncio.to_thread(self.remove_leftovers)

    def remove_leftovers(self) -> None:
        """Containers of this account's emulator that no session holds (a killed run's)."""
        with contextlib.suppress(LaunchError):
            client = self._launcher.client()
            held = {s.container.id for s in self.sessions.values() if s.container is not None}
            for container in client.containers.list(
                all=True, filters={"label": f"{LABEL_OWNER}={self.owner}"}
            ):
                if container.id not in held:
                    _force_remove(container)


def _force_remove(container: Any) -> None:
    import docker

    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.remove(force=True)
