"""Settings read from the environment, including the second names FC-hosted functions need."""

from __future__ import annotations

import pytest

from functions.runtime.settings import Settings


def test_fc_launcher_settings_also_read_their_sandbox_fc_names(monkeypatch):
    """FC refuses a function's own FC_* variables: SANDBOX_FC_* say the same."""
    monkeypatch.setenv("SANDBOX_FC_FUNCTION_PREFIX", "team-a-")
    monkeypatch.setenv("SANDBOX_FC_SESSION_TTL_S", "600")
    settings = Settings()
    assert settings.fc_sandbox_function_prefix == "team-a-"
    assert settings.fc_session_ttl_s == 600
    monkeypatch.setenv("FC_SANDBOX_FUNCTION_PREFIX", "team-b-")
    assert Settings().fc_sandbox_function_prefix == "team-b-"  # the first name wins


def test_fields_are_still_set_by_name_and_bad_values_are_refused():
    assert Settings(fc_sandbox_qualifier="prod").fc_sandbox_qualifier == "prod"
    with pytest.raises(ValueError, match="sandbox_url_auth"):
        Settings(sandbox_url_auth="basic")


def test_a_stop_poll_slower_than_a_third_of_the_lease_ttl_is_refused(monkeypatch):
    # the running turn renews its lease only when it polls it: polling every 20 s a lease
    # of 30 s lets it lapse under a live turn
    monkeypatch.setenv("SESSION_LOCK_TTL_S", "30")
    monkeypatch.setenv("STOP_POLL_INTERVAL_S", "20")
    with pytest.raises(ValueError, match=r"STOP_POLL_INTERVAL_S \(20\) must be at most"):
        Settings()
    assert Settings(stop_poll_interval_s=10).stop_poll_interval_s == 10
