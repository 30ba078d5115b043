"""Where each platform says when an invocation ends (``deadlines.deadline_of``), and how the
budget errors name what was reached."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from functions.runtime.budgets import budget_error, deadline_error, exceeded_budget
from functions.runtime.deadlines import deadline_of
from functions.runtime.protocol import Error
from functions.runtime.settings import Settings

NOW_MONOTONIC = 1000.0


def scope(headers: dict[str, str] | None = None, **extra: object) -> dict:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "headers": raw, **extra}


def test_lambda_through_mangum_counts_down_the_context():
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 2500)
    found = deadline_of(scope(**{"aws.context": context}), Settings(), now=NOW_MONOTONIC)
    assert found == pytest.approx(NOW_MONOTONIC + 2.5)


@pytest.mark.parametrize("field", ["deadline", "deadline_ms"])
def test_the_lambda_web_adapter_sends_the_deadline_in_unix_milliseconds(field, monkeypatch):
    monkeypatch.setattr("functions.runtime.deadlines.time.time", lambda: 1_700_000_000.0)
    header = json.dumps({"request_id": "r1", field: 1_700_000_004_000})
    found = deadline_of(scope({"x-amzn-lambda-context": header}), Settings(), now=NOW_MONOTONIC)
    assert found == pytest.approx(NOW_MONOTONIC + 4.0)


def test_fc_counts_its_function_timeout_from_the_request():
    settings = Settings(function_timeout_s=60)
    assert deadline_of(scope({"x-fc-request-id": "r"}), settings, now=NOW_MONOTONIC) == (
        NOW_MONOTONIC + 60
    )


def test_lambdas_own_word_wins_over_the_configured_timeout():
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 1000)
    settings = Settings(function_timeout_s=60)
    found = deadline_of(scope(**{"aws.context": context}), settings, now=NOW_MONOTONIC)
    assert found == pytest.approx(NOW_MONOTONIC + 1)


@pytest.mark.parametrize("header", ["not json", "[]", '{"request_id": "r"}', '{"deadline": "x"}'])
def test_no_deadline_when_nothing_says_one(header):
    assert deadline_of(scope(), Settings()) is None
    assert deadline_of(scope({"x-amzn-lambda-context": header}), Settings()) is None


def test_budget_errors_name_the_setting_and_the_responses_api_can_tell_which():
    error = budget_error("TURN_MAX_OUTPUT_TOKENS", 5000, "output tokens")
    assert error.code == "budget_exceeded"
    assert error.message.startswith("TURN_MAX_OUTPUT_TOKENS: the turn reached its budget of 5000")
    assert exceeded_budget(error) == "TURN_MAX_OUTPUT_TOKENS"
    assert exceeded_budget(budget_error("TURN_MAX_SECONDS", 0.5, "seconds")) == "TURN_MAX_SECONDS"
    assert exceeded_budget(deadline_error(1.0)) is None
    assert exceeded_budget(Error(code="budget_exceeded", message="something: else")) is None
    assert exceeded_budget(None) is None
