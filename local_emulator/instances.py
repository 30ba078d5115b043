"""Function instances as OS processes running an unpacked artifact, the way the cloud runs it.

- :class:`LambdaFunction`: Lambda's managed Python runtime. Each instance is a
  ``lambda_worker.py`` process that imports the handler from the manifest and takes one
  event at a time. An event with no idle instance starts a new one (a cold start, its init
  time printed like Lambda's REPORT line) up to ``max_instances``; beyond that the
  invocation is throttled (429), as Lambda throttles rather than queues synchronous calls.
  An invocation past the function's timeout kills its instance.
- :class:`ServerFunction`: an artifact that is itself an HTTP server - FC's custom runtime
  (``bootstrap``) or the Lambda Web Adapter (``run.sh``) - started in the unpacked folder
  with the platform's environment, on this machine's base interpreter (FAAS_PYTHON), which
  the scripts run with -S: the standard library and that folder, nothing installed. Its
  trigger (``triggers.StreamingProxy``) kills it when a request overruns ``timeout_s``, as
  the platform ends an instance that overran, and starts a new one for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("lambda_worker.py")
# the interpreter beneath any virtualenv: its standard library and nothing installed
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
_INHERITED_DROP = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_DROP}
    env.update(extra)
    return env


class InvokeError(Exception):
    """An invocation failed the way Lambda reports it: errorType and errorMessage."""

    def __init__(self, error_type: str, message: str, status: int = 502) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.status = status


async def _pipe_out(name: str, stream: asyncio.StreamReader | None) -> None:
    """Forward an instance's output to the console, one prefixed line at a time (its log)."""
    if stream is None:
        return
    while line := await stream.readline():
        print(f"[{name}] {line.decode(errors='replace').rstrip()}", flush=True)


@dataclass
class _Instance:
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    logs: asyncio.Task
    busy: bool = True


@dataclass
class LambdaFunction:
    name: str
    root: Path
    handler: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)
    max_instances: int = 8
    _instances: list[_Instance] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return child_env(
            {
                **self.environment,
                "AWS_LAMBDA_FUNCTION_NAME": self.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
                "LAMBDA_TASK_ROOT": str(self.root),
                "_HANDLER": self.handler,
                "PYTHONUNBUFFERED": "1",
            }
        )

    async def _start(self) -> _Instance:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        started = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                BASE_PYTHON, "-I", "-S", str(WORKER), str(self.root), self.handler,
                str(to_child_r), str(from_child_w),
                pass_fds=(to_child_r, from_child_w),
                env=self._env(),
                cwd=self.root,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_child_r, "rb", 0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_child_w, "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        instance = _Instance(
            proc, reader, writer, asyncio.create_task(_pipe_out(self.name, proc.stdout))
        )
        first = await reader.readline()
        message = json.loads(first) if first else {}
        if not message.get("ready"):
            await self._kill(instance)
            error = message.get("init_error") or {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"instance exited during init with code {proc.returncode}",
            }
            print(f"[{self.name}] INIT_REPORT Status: error {error['errorType']}", flush=True)
            raise InvokeError(error["errorType"], error["errorMessage"])
        init_ms = (time.perf_counter() - started) * 1000
        print(f"[{self.name}] INIT_REPORT Init Duration: {init_ms:.1f} ms", flush=True)
        self._instances.append(instance)
        return instance

    async def _kill(self, instance: _Instance) -> None:
        with contextlib.suppress(ProcessLookupError):
            instance.proc.kill()
        await instance.proc.wait()
        instance.writer.close()
        with contextlib.suppress(Exception):
            await instance.logs
        if instance in self._instances:
            self._instances.remove(instance)

    async def invoke(self, event: dict[str, Any]) -> Any:
        instance = next((i for i in self._instances if not i.busy), None)
        if instance is None:
            if len(self._instances) >= self.max_instances:
                raise InvokeError("TooManyRequestsException", "Rate Exceeded.", status=429)
            instance = await self._start()
        instance.busy = True
        request_id = event.get("requestContext", {}).get("requestId") or str(uuid.uuid4())
        deadline_ms = int((time.time() + self.timeout_s) * 1000)
        started = time.perf_counter()
        print(f"[{self.name}] START RequestId: {request_id}", flush=True)
        try:
            line = json.dumps(
                {"request_id": request_id, "deadline_ms": deadline_ms, "event": event}
            )
            instance.writer.write(line.encode() + b"\n")
            await instance.writer.drain()
            try:
                answer = await asyncio.wait_for(instance.reader.readline(), self.timeout_s)
            except asyncio.TimeoutError:
                await self._kill(instance)
                raise InvokeError(
                    "Sandbox.Timedout", f"Task timed out after {self.timeout_s:.2f} seconds"
                ) from None
            if not answer:
                await self._kill(instance)
                raise InvokeError("Runtime.ExitError", "the instance exited during the invocation")
            message = json.loads(answer)
            if "error" in message:
                raise InvokeError(message["error"]["errorType"], message["error"]["errorMessage"])
            return message["result"]
        finally:
            ms = (time.perf_counter() - started) * 1000
            print(f"[{self.name}] REPORT RequestId: {request_id} Duration: {ms:.1f} ms", flush=True)
            instance.busy = False

    async def close(self) -> None:
        for instance in list(self._instances):
            await self._kill(instance)


@dataclass
class ServerFunction:
    """An artifact that serves HTTP itself: started once, its port proxied to callers."""

    name: str
    root: Path
    command: list[str]
    port: int
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None  # the function's timeout: a request may take this long
    _proc: asyncio.subprocess.Process | None = None
    _logs: asyncio.Task | None = None

    async def start(self) -> None:
        env = child_env(
            {
                **self.environment,
                # the entry scripts run the platform's python3 with -S; here, this machine's
                "FAAS_PYTHON": BASE_PYTHON,
                "SERVE_HOST": "127.0.0.1",  # FC binds all interfaces; locally, loopback only
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._proc = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=self.root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._logs = asyncio.create_task(_pipe_out(self.name, self._proc.stdout))

    @property
    def exited(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def kill(self) -> None:
        """End the instance at once (SIGKILL), as the platform ends one that overran."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()
        if self._logs is not None:
            with contextlib.suppress(Exception):
                await self._logs

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._logs is not None:
            with contextlib.suppress(Exception):
                await self._logs
