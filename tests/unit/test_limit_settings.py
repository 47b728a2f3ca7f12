"""The size, time and count limits among the settings: defaults, values, refusals."""

from __future__ import annotations

import os

import pytest

from catalog.api.servers import granian_options, uvicorn_options
from catalog.settings import Settings, SettingsError


def test_the_limits_have_safe_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.max_event_bytes == 256 * 1024
    assert settings.max_head_bytes == 64 * 1024
    assert (settings.header_timeout, settings.keepalive_timeout) == (10.0, 5.0)
    assert settings.max_concurrency == 256
    assert (settings.max_streams, settings.max_streams_per_client) == (256, 8)
    assert settings.read_pool_size == max(4, 2 * (os.cpu_count() or 2))


def test_the_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TANDEM_MAX_EVENT_BYTES": "4096",
            "TANDEM_MAX_HEAD_BYTES": "16384",
            "TANDEM_HEADER_TIMEOUT": "2.5",
            "TANDEM_KEEPALIVE_TIMEOUT": "1.5",
            "TANDEM_MAX_CONCURRENCY": "10",
            "TANDEM_MAX_STREAMS": "20",
            "TANDEM_MAX_STREAMS_PER_CLIENT": "3",
            "TANDEM_READ_POOL_SIZE": "12",
        }
    )
    assert settings.max_event_bytes == 4096
    assert settings.read_pool_size == 12
    granian = granian_options(settings)
    assert granian["http1_settings"].header_read_timeout == 1500  # the smaller timer
    assert granian["http1_settings"].max_buffer_size == 16384
    assert granian["backpressure"] > settings.max_concurrency + settings.max_streams
    assert uvicorn_options(settings)["timeout_keep_alive"] == 2  # whole seconds, up


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TANDEM_MAX_EVENT_BYTES", "0"),
        ("TANDEM_MAX_EVENT_BYTES", "²"),
        ("TANDEM_MAX_CONCURRENCY", "-1"),
        ("TANDEM_MAX_STREAMS", "many"),
        ("TANDEM_MAX_HEAD_BYTES", "1024"),
        ("TANDEM_HEADER_TIMEOUT", "0"),
        ("TANDEM_KEEPALIVE_TIMEOUT", "nan"),
        ("TANDEM_KEEPALIVE_TIMEOUT", "soon"),
        ("TANDEM_READ_POOL_SIZE", "0"),
        ("TANDEM_READ_POOL_SIZE", "100000"),
    ],
)
def test_an_impossible_limit_is_refused_naming_its_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
