"""The seed's sandbox-server variable names, read as aliases of ours (settings.py)."""

from __future__ import annotations

from functions.runtime.settings import Settings


def test_container_deployment_picks_the_backend_unless_ours_is_set(monkeypatch):
    monkeypatch.delenv("SANDBOX_BACKEND", raising=False)
    monkeypatch.setenv("CONTAINER_DEPLOYMENT", "fc")
    assert Settings().sandbox_backend == "fc"
    monkeypatch.setenv("SANDBOX_BACKEND", "agentrun")
    assert Settings().sandbox_backend == "agentrun"  # our name wins


def test_the_seeds_fc_and_agentrun_names_fill_the_alibaba_settings(monkeypatch):
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "FC_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FC_ACCESS_KEY_ID", "LTAI-seed")
    monkeypatch.setenv("FC_ACCESS_KEY_SECRET", "seed-secret")
    monkeypatch.setenv("FC_REGION_ID", "cn-shanghai")
    monkeypatch.setenv("AGENT_RUN_REGION_ID", "cn-beijing")
    monkeypatch.setenv("AGENT_RUN_ACCOUNT_ID", "1234567890")
    settings = Settings()
    assert settings.alibaba_cloud_access_key_id.get_secret_value() == "LTAI-seed"
    assert settings.alibaba_cloud_access_key_secret.get_secret_value() == "seed-secret"
    assert settings.fc_region == "cn-shanghai"
    assert settings.agentrun_region == "cn-beijing"
    assert settings.fc_account_id == "1234567890"
    monkeypatch.setenv("AGENT_RUN_ACCESS_KEY_ID", "LTAI-agentrun")
    assert Settings().alibaba_cloud_access_key_id.get_secret_value() == "LTAI-seed"  # FC first
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-ours")
    assert Settings().alibaba_cloud_access_key_id.get_secret_value() == "LTAI-ours"


def test_fields_keep_their_own_names():
    assert Settings(sandbox_backend="fc").sandbox_backend == "fc"
    assert Settings(fc_region="eu-central-1").fc_region == "eu-central-1"
