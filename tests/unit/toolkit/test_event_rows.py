"""A log row becomes the same `StoredEvent` its constructor would make, upcast like one."""

from __future__ import annotations

import dataclasses
import pickle

import orjson

from tandem.eventlog.base import event_from_row, events_from_rows
from tandem.messages import StoredEvent
from tandem.upcasting import UPCASTERS

ROW = (7, "Shelved", 1, "book", "b-1", 3, 12.5, "corr", "cause", '{"title": "Dune"}')


def _constructed() -> StoredEvent:
    return StoredEvent(
        position=7,
        type="Shelved",
        schema_version=1,
        aggregate_type="book",
        aggregate_id="b-1",
        aggregate_version=3,
        recorded_at=12.5,
        correlation_id="corr",
        causation_id="cause",
        data={"title": "Dune"},
    )


def test_a_row_is_the_event_its_constructor_makes() -> None:
    event = event_from_row(ROW)
    want = _constructed()
    assert type(event) is StoredEvent
    assert event == want
    assert vars(event) == vars(want)
    assert list(vars(event)) == [f.name for f in dataclasses.fields(StoredEvent)]
    assert repr(event) == repr(want)
    assert dataclasses.replace(event, type="Other").type == "Other"
    assert pickle.loads(pickle.dumps(event)) == want
    assert events_from_rows([ROW, ROW]) == [want, want]


def test_an_event_read_from_a_row_stays_frozen() -> None:
    event = event_from_row(ROW)
    try:
        event.type = "Other"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a stored event must not change")


def test_rows_are_upcast() -> None:
    def retitled(data: dict[str, object]) -> dict[str, object]:
        return {"name": data["title"]}

    UPCASTERS.register("Shelved", 1, retitled)
    try:
        (event,) = events_from_rows([ROW])
        single = event_from_row(ROW)
    finally:
        UPCASTERS.forget("Shelved", 1)
    assert event.schema_version == single.schema_version == 2
    assert event.data == single.data == {"name": "Dune"}
    assert orjson.loads(ROW[9]) == {"title": "Dune"}
