"""Failed authentications counted per client address, in fixed windows, in bounded memory."""

from __future__ import annotations

import pytest

from catalog.api.auth_failures import AuthFailures
from catalog.settings import Settings, SettingsError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_held_back_after_the_limit_until_its_window_ends() -> None:
    clock = Clock()
    failures = AuthFailures(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert failures.held_back("10.0.0.1") is None
        failures.failed("10.0.0.1")
    clock.now += 10
    assert failures.held_back("10.0.0.1") == 50
    assert failures.held_back("10.0.0.2") is None  # another address is not affected
    clock.now += 50
    assert failures.held_back("10.0.0.1") is None
    failures.failed("10.0.0.1")  # a new window: one failure so far
    assert failures.held_back("10.0.0.1") is None


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    failures = AuthFailures(limit=1, window=1, clock=clock)
    failures.failed("a")
    clock.now += 0.999
    assert failures.held_back("a") == 1


def test_a_limit_of_zero_holds_nobody_back() -> None:
    failures = AuthFailures(limit=0, window=60)
    for _ in range(1000):
        failures.failed("a")
    assert failures.held_back("a") is None
    assert len(failures) == 0


def test_memory_is_bounded_the_least_recent_address_going_first() -> None:
    clock = Clock()
    failures = AuthFailures(limit=2, window=60, capacity=100, clock=clock)
    failures.failed("held")
    failures.failed("held")
    for n in range(99):
        failures.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(failures) == 100
    assert failures.held_back("held") == 60
    failures.failed("one more")
    assert len(failures) == 100
    assert failures.held_back("held") is None


def test_the_limit_and_window_are_settings() -> None:
    assert (Settings().auth_failures, Settings().auth_failure_window) == (20, 60)
    taken = Settings.from_env({"TANDEM_AUTH_FAILURES": "0", "TANDEM_AUTH_FAILURE_WINDOW": "5"})
    assert (taken.auth_failures, taken.auth_failure_window) == (0, 5)
    for name, bad in [
        ("TANDEM_AUTH_FAILURES", "-1"),
        ("TANDEM_AUTH_FAILURES", "²"),
        ("TANDEM_AUTH_FAILURE_WINDOW", "0"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: bad})
