"""The NATS settings: one server or a cluster's servers, and the stream's replicas."""

from __future__ import annotations

import pytest

from catalog.settings import Settings, SettingsError
from tandem.transport.nats.client import server_urls
from tandem.unavailable import location

CLUSTER = "nats://a:4222, nats://b:4223,nats://user:secret@c:4224"


def test_a_cluster_is_named_by_its_servers_separated_by_commas() -> None:
    settings = Settings.from_env({"TANDEM_NATS_URL": CLUSTER, "TANDEM_NATS_REPLICAS": "3"})
    assert settings.nats_replicas == 3
    assert server_urls(settings.nats_url or "") == [
        "nats://a:4222",
        "nats://b:4223",
        "nats://user:secret@c:4224",
    ]
    assert location(CLUSTER, 4222) == "a:4222, b:4223, c:4224"


def test_one_replica_unless_told() -> None:
    assert Settings.from_env({"TANDEM_NATS_URL": "nats://127.0.0.1:4222"}).nats_replicas == 1


@pytest.mark.parametrize("raw", ["0", "6", "three", "-1"])
def test_a_replica_count_outside_1_to_5_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="TANDEM_NATS_REPLICAS"):
        Settings.from_env({"TANDEM_NATS_REPLICAS": raw})


@pytest.mark.parametrize(
    "raw",
    [
        "nats://a:4222,",  # a trailing comma: an empty URL
        "nats://a:4222;nats://b:4222",
        "http://a:4222",
        "nats://user:secret@a:notaport",
        "a:4222",
    ],
)
def test_a_server_list_with_a_bad_url_is_refused_without_repeating_it(raw: str) -> None:
    with pytest.raises(SettingsError, match="TANDEM_NATS_URL") as refused:
        Settings.from_env({"TANDEM_NATS_URL": raw})
    assert "secret" not in str(refused.value)
