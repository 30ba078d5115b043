"""What the alicloud deployment relies on inside a function, run for real.

infra/terraform/alicloud gives each function STORE_URL, OSS_ENDPOINT and OSS_REGION, and a
RAM role; FC hands the function that role's temporary key as ALIBABA_CLOUD_ACCESS_KEY_ID /
_SECRET / _SECURITY_TOKEN and sets FC_REGION and FC_ACCOUNT_ID itself (a function may not
set FC_* names). Here a store is opened from exactly that environment and used against the
OSS emulator on 127.0.0.1.
"""

from __future__ import annotations

import uuid

import pytest

from functions.runtime.settings import Settings
from functions.runtime.storage import open_store
from tests.fixtures.stores import _oss_admin_bucket

ROLE_KEY = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.role-key-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "role-key-secret",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "role-security-token",
}
OSS_KEYS = ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SECURITY_TOKEN")


@pytest.fixture
def fc_environment(monkeypatch, oss_emulator_server):
    """The environment of an FC function deployed by the alicloud root, store on the emulator."""
    bucket = f"fc-contract-{uuid.uuid4().hex[:12]}"
    _oss_admin_bucket(oss_emulator_server.url, bucket).create_bucket()
    for name in OSS_KEYS:
        monkeypatch.delenv(name, raising=False)
    environment = {
        "STORE_URL": f"oss://{bucket}/agentscope",
        "OSS_ENDPOINT": oss_emulator_server.url,  # the root's default: the internal endpoint
        "OSS_REGION": "cn-hangzhou",
        "FC_REGION": "cn-hangzhou",
        "FC_ACCOUNT_ID": "1234567890123456",
        **ROLE_KEY,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


async def test_the_store_works_with_the_roles_key_alone(fc_environment):
    settings = Settings()
    assert settings.oss_access_key_id.get_secret_value() == ROLE_KEY["ALIBABA_CLOUD_ACCESS_KEY_ID"]
    assert (
        settings.oss_security_token.get_secret_value() == ROLE_KEY["ALIBABA_CLOUD_SECURITY_TOKEN"]
    )

    store = open_store(settings.store_url, settings)
    try:
        etag = await store.put("users/u1/sessions/s1/state/head", b"round-1", if_none_match=True)
        assert await store.get("users/u1/sessions/s1/state/head") == (b"round-1", etag)
        assert await store.list("users/u1/") == ["users/u1/sessions/s1/state/head"]
    finally:
        await store.close()


def test_an_explicit_oss_key_is_never_mixed_with_the_roles_token(fc_environment, monkeypatch):
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "long-term-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "long-term-secret")
    settings = Settings()
    assert settings.oss_access_key_id.get_secret_value() == "long-term-id"
    assert settings.oss_security_token is None


def test_the_launcher_reads_what_fc_sets(fc_environment):
    """FC_REGION / FC_ACCOUNT_ID come from FC, and the role's key signs the FC API calls."""
    settings = Settings()
    assert settings.fc_region == "cn-hangzhou"
    assert settings.fc_account_id == "1234567890123456"
    assert settings.alibaba_cloud_access_key_id.get_secret_value() == "STS.role-key-id"
