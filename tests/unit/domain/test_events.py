"""The named sets of event types that read models subscribe to."""

from __future__ import annotations

from catalog.domain.events import (
    ALL_EVENTS,
    CATEGORY_AND_PRODUCT_EVENTS,
    CategoryEvent,
    ProductEvent,
)


def test_category_and_product_events_name_every_event_of_those_aggregates() -> None:
    # A new category or product event must be handled by the folds that subscribe to
    # this set before it joins it, so the set is written out and checked here.
    expected = {
        cls.__name__ for cls in ALL_EVENTS if issubclass(cls, (CategoryEvent, ProductEvent))
    }
    assert expected == CATEGORY_AND_PRODUCT_EVENTS
