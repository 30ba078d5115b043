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


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SANDBOX_MEMORY": "lots"}, "sandbox_memory"),  # was a 500 on every create
        ({"SANDBOX_WORKSPACE_SIZE": "big"}, "sandbox_workspace_size"),
        ({"SANDBOX_WORKSPACE_SIZE": "1.5g"}, "sandbox_workspace_size"),  # tmpfs: whole units
        ({"CORS_ALLOW_ORIGINS": "https://*.example.com"}, "CORS_ALLOW_ORIGINS"),
        ({"SANDBOX_TTL_S": "-1"}, "sandbox_ttl_s"),  # sandboxes expired as they were made
        ({"MODEL_TIMEOUT_S": "0"}, "model_timeout_s"),  # every turn timed out
        ({"MAX_SANDBOX_INSTANCES": "0"}, "max_sandbox_instances"),
        ({"SSE_PING_INTERVAL_S": "-1"}, "sse_ping_interval_s"),
        ({"STORE_TIMEOUT_S": "0"}, "store_timeout_s"),
        ({"STORE_RETRY_ATTEMPTS": "0"}, "store_retry_attempts"),
        ({"QUERY_PORT": "70000"}, "query_port"),
        ({"SANDBOX_FC_SESSION_TTL_S": "0"}, "fc_session_ttl_s"),
        ({"STORE_URL": "bogus://x"}, "STORE_URL"),  # was a traceback from the app's start
        ({"STORE_URL": ".data/store"}, "STORE_URL"),
        ({"AUTH_MODE": "jwt"}, "AUTH_JWKS_URL"),  # every request a 401, no token verifiable
        ({"CORS_ALLOW_ORIGINS": "notaurl"}, "CORS_ALLOW_ORIGINS"),
        ({"CORS_ALLOW_ORIGINS": "https://a.example/app"}, "CORS_ALLOW_ORIGINS"),
    ],
)
def test_values_no_request_could_work_with_are_refused_at_start_naming_the_variable(
    monkeypatch, env, named
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=named):
        Settings()


@pytest.mark.parametrize(
    "env",
    [
        {"SANDBOX_MEMORY": "1.5gb", "SANDBOX_WORKSPACE_SIZE": "1073741824"},
        {"SANDBOX_WORKSPACE_SIZE": "1t"},
        {"SANDBOX_WORKSPACE_SIZE": "50%"},
        {"CORS_ALLOW_ORIGINS": "http://[::1]:3000,chrome-extension://abcdefgh"},
        {"SSE_PING_INTERVAL_S": "0"},  # no pings
        {"AUTH_MODE": "jwt", "AUTH_JWKS_URL": "https://idp.example/jwks.json"},
        {"CORS_ALLOW_ORIGINS": "*"},
        {"CORS_ALLOW_ORIGINS": "http://127.0.0.1:3000, https://app.example.com"},
        {"STORE_URL": "memory://"},
    ],
)
def test_usable_values_are_taken(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Settings()


def test_a_refusal_never_prints_a_secret_set_beside_it(monkeypatch):
    # pydantic puts an error's input in its message: for a model check, every variable read
    monkeypatch.setenv("AUTH_JWT_SECRET", "jwtsecret-MARKER-0123456789")
    monkeypatch.setenv("OSS_SECURITY_TOKEN", "ststoken-MARKER-0123456789")
    monkeypatch.setenv("STORE_URL", "bogus://x")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert "STORE_URL" in str(refused.value) and "MARKER" not in str(refused.value)
    assert "0123" not in str(refused.value) and "jwts" not in str(refused.value)
