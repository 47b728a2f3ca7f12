"""Upcasters: old payloads read in the newest shape, step by step, wherever events are
decoded (the log's rows are the event-log contract's test; here the transport's wire
format and dead letters)."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.deadletters.base import letter_from_row, new_row
from tandem.messages import StoredEvent
from tandem.transport import wire
from tandem.upcasting import UPCASTERS, Upcasters


def _event(version: int, data: dict[str, Any], type: str = "Shelved") -> StoredEvent:
    return StoredEvent(7, type, version, "book", "b-1", 1, 1.5, "c", "c", data)


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    data["title"] = data.pop("name")
    return data


def _with_shelf(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "shelf": "unsorted"}


def test_each_version_is_taken_up_step_by_step_to_the_newest() -> None:
    upcasters = Upcasters()
    upcasters.register("Shelved", 1, _renamed)
    upcasters.register("Shelved", 2, _with_shelf)
    first = _event(1, {"name": "Dune"})
    assert upcasters.upcast(first) == _event(3, {"title": "Dune", "shelf": "unsorted"})
    assert upcasters.upcast(_event(2, {"title": "Emma"})) == _event(
        3, {"title": "Emma", "shelf": "unsorted"}
    )
    newest = _event(3, {"title": "Ulysses", "shelf": "A"})
    assert upcasters.upcast(newest) is newest
    other = _event(1, {"name": "x"}, type="Lent")
    assert upcasters.upcast(other) is other
    # The event read is not changed in place: an upcaster gets a copy of its payload.
    assert first.data == {"name": "Dune"}


def test_a_version_has_one_upcaster() -> None:
    upcasters = Upcasters()
    upcasters.register("Shelved", 1, _renamed)
    with pytest.raises(ValueError, match="already has an upcaster"):
        upcasters.register("Shelved", 1, _with_shelf)


def test_the_wire_format_and_dead_letters_decode_old_payloads_in_the_newest_shape() -> None:
    old = _event(1, {"name": "Dune"})
    body = wire.encode(old)
    letter_row = new_row("shelf", old, "boom")
    with UPCASTERS.registered("Shelved", 1, _renamed):
        assert wire.decode(body) == _event(2, {"title": "Dune"})
        assert letter_from_row(letter_row).event == _event(2, {"title": "Dune"})
    assert wire.decode(body) == old


def test_level_one_price_history_reads_old_payloads_in_the_newest_shape() -> None:
    # Level 1 reads price events with SQL, not through the log's reader.
    from catalog.read_models.level1.documents import price_point

    row = {"recorded_at": 0.0, "type": "PriceChanged", "schema_version": 1}
    row["data"] = '{"amount": "9.5"}'

    def amount_is_now_price(data: dict[str, Any]) -> dict[str, Any]:
        data["price"] = data.pop("amount")
        return data

    with UPCASTERS.registered("PriceChanged", 1, amount_is_now_price):
        assert price_point(row)["price"] == "9.50"
