"""What the launchers on Alibaba Cloud share: credentials and times.

Credentials come from the settings (``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` /
``_SECURITY_TOKEN``: what FC injects into a function that has a role), or, for a sandbox
function deployed on AWS, from a Secrets Manager secret (``ALIBABA_CLOUD_CREDENTIALS_SECRET``,
an ARN; its value is JSON ``{"access_key_id", "access_key_secret"}``) read once per process,
the first time a sandbox needs it, so neither boto3 nor the secret costs a cold start that
does not launch. The values never reach a log line or a response: ``repr`` hides them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from ...fc_role import fresh
from ...settings import Settings, secret_value
from ..errors import LaunchError


def iso_time(value: str | None) -> float:
    """An API's ISO 8601 time (``...Z`` allowed) as a Unix time; 0 when absent or unreadable."""
    from datetime import datetime

    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class AlibabaCredentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


_from_aws: dict[tuple[str, str | None], AlibabaCredentials] = {}
_from_aws_lock = threading.Lock()


def alibaba_credentials(settings: Settings) -> AlibabaCredentials:
    """The key pair to sign Alibaba Cloud API calls with; ``LaunchError`` when there is none."""
    key_id = secret_value(settings.alibaba_cloud_access_key_id)
    secret = secret_value(settings.alibaba_cloud_access_key_secret)
    if key_id and secret:  # on FC the role's key: the newest a request brought
        return AlibabaCredentials(
            *fresh(key_id, secret, secret_value(settings.alibaba_cloud_security_token))
        )
    arn = settings.alibaba_cloud_credentials_secret
    if arn:
        cache_key = (arn, settings.secretsmanager_endpoint_url)
        with _from_aws_lock:
            if cache_key not in _from_aws:
                _from_aws[cache_key] = _read_aws_secret(arn, settings.secretsmanager_endpoint_url)
            return _from_aws[cache_key]
    raise LaunchError(
        "no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET (FC sets them for a function with a role), or "
        "ALIBABA_CLOUD_CREDENTIALS_SECRET to a Secrets Manager ARN on AWS"
    )


def _read_aws_secret(arn: str, endpoint_url: str | None) -> AlibabaCredentials:
    import boto3  # only a sandbox function on AWS that launches on Alibaba pays for it
    from botocore.exceptions import BotoCoreError, ClientError

    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else None
    try:
        client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
        value = client.get_secret_value(SecretId=arn)["SecretString"]
    except (BotoCoreError, ClientError) as exc:
        # the ARN is not secret; the value never appears in the message
        raise LaunchError(
            f"could not read the Alibaba Cloud credentials secret {arn}: {exc}"
        ) from None
    try:
        data = json.loads(value)
        return AlibabaCredentials(
            str(data["access_key_id"]),
            str(data["access_key_secret"]),
            data.get("security_token") or None,
        )
    except (ValueError, KeyError, TypeError):
        raise LaunchError(
            f"the secret {arn} must be JSON with access_key_id and access_key_secret"
        ) from None
