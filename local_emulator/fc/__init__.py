"""A local emulator of Function Compute 3.0's OpenAPI (version 2023-03-30), backed by Docker.

What the FC launcher (``functions/runtime/sandbox/launchers/fc.py``) uses, served for the
official SDK (``alibabacloud-fc20230330``) on 127.0.0.1, in moto's shape: ``models.py`` the
behaviour, ``responses.py`` the wire protocol, ``urls.py`` the routes, ``exceptions.py`` the
API's errors, ``server.py`` the ASGI app and ``fc_emulator()``, which starts one with the
sandbox functions deployed and yields the env that points a sandbox function at it.

FC behaviours followed, and where they are documented:

* ROA paths and verbs of CreateFunction / GetFunction / UpdateFunction / DeleteFunction /
  ListFunctions, CreateSession / GetSession / UpdateSession / DeleteSession / ListSessions,
  PauseSession / ResumeSession (``PUT .../sessions/{id}/pause|resume``), CreateTrigger /
  GetTrigger / ListTriggers / DeleteTrigger: as the SDK's ``client.py`` sends them; deletes
  answer 204 with no body (the SDK reads those as ``body_type='none'``).
* Signature: V3, ``ACS3-HMAC-SHA256`` (tea-openapi's default for this API), verified against
  the configured key pair; a wrong secret is 403 ``SignatureNotMatch``, an unknown key id 403
  ``InvalidAccessKeyID``, a missing signature 400 ``MissingRequiredHeader``
  (https://www.alibabacloud.com/help/en/functioncompute/error-codes;
  https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature).
* Error body ``{Code, Message, RequestId}`` and the ``x-fc-request-id`` header
  (https://help.aliyun.com/zh/functioncompute/fc/developer-reference/api-fc-2023-03-30-struct-error);
  404 ``FunctionNotFound`` "function '%s' does not exist.", ``FunctionAlreadyExists``,
  400 ``InvalidArgument``, 412 ``CAExited`` when an instance cannot start, 400
  ``PathNotSupported`` "'%s' against '%s' is not supported"
  (https://help.aliyun.com/zh/functioncompute/api-fc-2023-03-30-errorcodes).
* Throttling: 429 ``ResourceExhausted`` when instances would exceed the concurrency limit
  (``max_sessions``, default 100 as FC's per-region default)
  (https://www.alibabacloud.com/help/doc-detail/154973.htm;
  https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/overview-of-configuring-the-maximum-number-of-on-demand-instances).
* Session isolation (SESSION_EXCLUSIVE): one instance per session, released when the session
  ends; only with session affinity, on instances of 2 or more vCPUs
  (https://help.aliyun.com/en/functioncompute/conversation-isolation-configuration;
  https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/instance-isolation-configuration-practices).
* HEADER_FIELD affinity: ``sessionAffinityConfig`` is a JSON string of
  HeaderFieldSessionAffinityConfig (``affinityHeaderFieldName`` 5-40 characters, starting
  with a letter, not ``x-fc-``; ``sessionTTLInSeconds`` 1-21600;
  ``sessionIdleTimeoutInSeconds`` 0-21600 and at most the TTL;
  ``sessionConcurrencyPerInstance`` 1-200; ``disableSessionIdReuse``)
  (https://help.aliyun.com/zh/functioncompute/api-fc-2023-03-30-struct-headerfieldsessionaffinityconfig).
  A trigger request routes by that header; an id not seen before, or no header at all (a
  generated id, returned in the same response header), starts a session
  (https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/headerfield-affinity).
* CreateSession: optional custom ``sessionId`` (``[a-zA-Z0-9_][a-zA-Z0-9_-]{0,63}``), TTL,
  idle timeout, ``allowInternetAccess``, ``disableSessionIdReuse``; the instance is started
  before it answers
  (https://www.alibabacloud.com/help/en/functioncompute/fc/developer-reference/api-fc-2023-03-30-createsession).
* Session status ``Active`` / ``Expired`` (and ``Paused``); an expired id is reused as a new
  session unless ``disableSessionIdReuse``
  (https://www.alibabacloud.com/help/en/functioncompute/api-fc-2023-03-30-struct-session).
* PauseSession keeps the session's state and it "does not accept function invocation
  requests" until ResumeSession
  (https://www.alibabacloud.com/help/en/functioncompute/fc/developer-reference/api-fc-2023-03-30-pausesession,
  .../api-fc-2023-03-30-resumesession). Here: ``docker pause`` / ``docker unpause``.
* HTTP trigger auth: ``triggerConfig.authType`` ``anonymous`` passes every call on;
  ``function`` ("signature authentication") lets the gateway pass only calls signed with the
  Alibaba Cloud SDK's ACS3-HMAC-SHA256 scheme by a key allowed to invoke the function (here:
  the emulator's key pair), a WebSocket on its handshake; a missing or invalid signature is
  403 with the error body above, before any session starts
  (https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/configure-signature-authentication-for-http-triggers;
  https://help.aliyun.com/en/functioncompute/fc-2-0/developer-reference/signature-authentication).
* Trigger requests may not carry ``x-fc-`` headers: 400 ``InvalidArgument``
  (https://help.aliyun.com/en/functioncompute/web-functions).

A session without ``allowInternetAccess`` runs on the offline sandbox network (the Docker
launcher's, whose firewall lets nothing out); one with it on the sandboxes' usual network.

Our picks where FC documents no answer: a trigger call to a paused session is 409
``SessionPaused`` (resumed instead when the session has ``enableAutoResume``); a call or an
operation on an ended session whose id may not be reused is 410 ``SessionExpired``, as is a
session whose container died; GetSession of an unknown id is 404 ``SessionNotFound``;
CreateSession with a live session's id is 409 ``SessionAlreadyExists``. While paused, a
session's idle timer stops; its TTL runs on. A session serving a request is not idle: its
idle time counts from the request's answer. A deleted session's id with
``disableSessionIdReuse`` starts nothing again (410 ``SessionExpired``), nor does an expired
one's after GetSession has forgotten it (FC: "an expired session ID cannot be reused").

Faults for tests: ``FcBackend.spoil(Fault(action, ...))`` lets the next call of an API action
run, then replaces its answer with FC's error shape (default 500 ``InternalServerError``, FC's
"system error") or with a raw body, as a lost or garbled answer reaches a client.

Not emulated: versions and aliases (every qualifier is LATEST), non-HTTP triggers, trigger
auth other than anonymous and function (signature), functions other than custom-container
ones, memory/cpu sizing (the containers get the local sandbox limits, SANDBOX_MEMORY /
SANDBOX_CPUS), snapshots and mounts. Trigger URLs are ``http://127.0.0.1:<port>/http-triggers/<function>/<trigger>``.
"""

from __future__ import annotations

from .models import LABEL_FUNCTION, Fault, FcBackend, emulator_owner
from .server import (
    SESSION_HEADER,
    FcEmulator,
    deployed_emulator,
    fc_emulator,
    register_sandbox_functions,
    start_fc_emulator,
)

__all__ = [
    "LABEL_FUNCTION",
    "SESSION_HEADER",
    "Fault",
    "FcBackend",
    "FcEmulator",
    "deployed_emulator",
    "emulator_owner",
    "fc_emulator",
    "register_sandbox_functions",
    "start_fc_emulator",
]
