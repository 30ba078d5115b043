"""The AgentRun emulator for ``python -m local_emulator --sandbox-backend agentrun``.

Starts the emulator on loopback with a key pair made for this run, deploys one template per
sandbox type through the official SDK (what a deployment does once in the cloud), and gives
the environment that sends the sandbox function's launcher there.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from functions.runtime.sandbox.types import SANDBOX_TYPES
from functions.runtime.settings import Settings, sandbox_image
from local_emulator.acs_signature import Credential

from .models import AgentRunBackend
from .server import create_app


def deploy_templates(endpoint: str, key_id: str, secret: str, settings: Settings) -> None:
    """CreateTemplate for every sandbox type, as the cloud deployment would.

    Their environment holds no secret: each sandbox's tool server is claimed by the launcher
    with a token of its own.
    """
    from alibabacloud_agentrun20250910 import models
    from alibabacloud_agentrun20250910.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    scheme, _, host = endpoint.partition("://")
    client = Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=host,
            protocol=scheme,
            region_id=settings.agentrun_region or settings.fc_region,
        )
    )
    for sandbox_type in SANDBOX_TYPES:
        client.create_template(
            models.CreateTemplateRequest(
                body=models.CreateTemplateInput(
                    template_name=f"{settings.agentrun_template_prefix}{sandbox_type}",
                    template_type="CodeInterpreter",
                    cpu=settings.sandbox_cpus,
                    memory=1024,
                    container_configuration=models.ContainerConfiguration(
                        image=sandbox_image(sandbox_type, settings), port=8000
                    ),
                    environment_variables={
                        "SANDBOX_MAX_CALL_TIMEOUT_S": f"{settings.sandbox_max_call_timeout_s:g}"
                    },
                )
            )
        )


@contextlib.contextmanager
def agentrun_emulator(host: str = "127.0.0.1") -> Iterator[dict[str, str]]:
    """Run the emulator; yield the environment for the sandbox function (its launcher)."""
    from local_emulator.moto_s3 import start_asgi_server

    settings = Settings()
    key_id, secret = f"LTAI-local-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    backend = AgentRunBackend(settings, region=settings.agentrun_region or settings.fc_region)
    backend.docker.client()  # no Docker engine: fail here, before anything is served
    app = create_app(backend, {key_id: Credential(secret)})
    with start_asgi_server(app, "agentrun-emulator", host, lifespan="on") as server:
        deploy_templates(server.url, key_id, secret, settings)
        yield {
            "SANDBOX_BACKEND": "agentrun",
            "AGENTRUN_ENDPOINT": server.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
        }
