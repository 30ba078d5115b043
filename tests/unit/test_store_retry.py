"""The bound on one store call that waiting decisions rest on (storage/retry.py)."""

from __future__ import annotations

import pytest

from functions.runtime.settings import Settings
from functions.runtime.storage.retry import store_call_bound_s


def test_a_store_call_is_bounded_by_its_attempts_timeouts_and_longest_backoffs():
    # 4 attempts, each timing out on connect and read (10 s each), and backoffs of at most
    # 0.05, 0.1 and 0.2 s between them
    assert store_call_bound_s(Settings()) == pytest.approx(4 * 2 * 10 + 0.35)
    one = Settings(store_retry_attempts=1, store_timeout_s=0.5)
    assert store_call_bound_s(one) == pytest.approx(1.0)
    capped = Settings(store_retry_attempts=8, store_retry_base_s=1.0, store_timeout_s=1)
    assert store_call_bound_s(capped) == pytest.approx(8 * 2 + 1 + 2 * 6)  # backoff cap 2 s
