"""A local Alibaba Cloud AgentRun (OpenAPI 2025-09-10) on Docker, shaped like moto.

``models`` is the behaviour (templates; sandboxes as hardened containers started by
``DockerLauncher.run_image``), ``responses`` the wire protocol, ``urls`` the routes the SDK
builds, ``exceptions`` AgentRun's error bodies, ``server`` the ASGI app and a runner
(``python -m local_emulator.agentrun``; the key pair comes from the environment). One port
serves both the control plane (what ``alibabacloud-agentrun20250910`` calls, at
``AGENTRUN_ENDPOINT``) and the data plane (``/sandboxes/{sandboxId}/...``).

Behaviour followed, and where it is written down:

* Operations, paths, methods, request fields and response models: the SDK's ``client.py`` and
  ``models/`` (version 5.7): CreateTemplate, GetTemplate, ListTemplates, DeleteTemplate,
  CreateSandbox, GetSandbox, ListSandboxes (``maxResults``/``nextToken`` paging,
  ``templateName``/``status`` filters), StopSandbox, DeleteSandbox, PauseSandbox,
  ResumeSandbox, GetAccessToken. Answers are ``{code: "SUCCESS", requestId, data}``.
* Authentication: V3 signatures (ACS3-HMAC-SHA256), refused with the gateway's codes
  (``local_emulator.acs_signature``).
* ``sandboxId`` may be chosen by the caller ("The unique identifier of the sandbox instance",
  CreateSandboxInput; agentrun-sdk's SandboxInput: "optional, user can specify"); a second
  CreateSandbox with the same id is 409 "already exists".
* ``sandboxIdleTimeoutSeconds``: a sandbox without a data-plane call for that long is
  TERMINATED (checked every second); the template's ``sandboxIdleTimeoutInSeconds`` is the
  default.
* Data plane: ``https://<account>.agentrun-data.<region>.aliyuncs.com/sandboxes/<id>/<path>``
  with ``Agentrun-Access-Token`` (agentrun-sdk's ``DataAPI`` and ``SandboxDataAPI``); the
  rest of the path reaches the template's container port.
* Errors: HTTP 404 "<kind> <name> does not exist" for missing templates and sandboxes
  (agentrun-sdk's ``to_resource_error``), 400 ``ERR_VALIDATION_FAILED``, 409 on a state
  conflict, 429 with ``x-acs-retry-after`` (ms) when throttled (tea-openapi's
  ``ThrottlingException``), 429 ``ERR_QUOTA_EXCEEDED`` over the sandbox quota.

Choices where no document says (kept small and stated): statuses READY / PAUSED /
TERMINATED; PauseSandbox of a sandbox not READY and ResumeSandbox of one not PAUSED (a
step it has had already too) are 409 ``ERR_CONFLICT``; a paused sandbox answers data-plane
calls with 409 "is PAUSED", a terminated one with 404; throttling is a
token bucket per action and a sandbox quota, both off unless configured; one port for both
planes. Templates must be custom-image ones (``containerConfiguration.image``, port 8000):
the real service allows only images built on its Code Interpreter/Browser base images.

For tests, ``AgentRunBackend.inject(Fault(...))`` makes the next answers of one action go
wrong the way a network or the service can: the action is done and its answer lost (500
``ERR_INTERNAL_SERVER_ERROR``), or its SUCCESS answer comes without the right ``data``, or
as a body that is no JSON.
"""

from .models import AgentRunBackend
from .server import create_app

__all__ = ["AgentRunBackend", "create_app"]
