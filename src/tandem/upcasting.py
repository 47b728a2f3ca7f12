"""Upcasting: old event payloads read in the shape the code knows now.

An event's payload has a schema version (`Event.schema_version`, stored with every
event). When a payload's shape changes, the log is never rewritten: the old events stay
as they were written, and an *upcaster* per (event type, schema version) turns a
payload of that version into the next version's. Every event read back from storage
goes through the upcasters registered for it, step by step up to the newest version,
before any consumer sees it: log reads (`tandem.eventlog`, so projections, rebuilds and
the relay), events decoded from the transport's wire format and from dead letters.

The rules:

- Adding an optional field needs no upcaster: readers use a default where it is missing.
- Renaming, splitting, merging or retyping a field does: bump the event class's
  `schema_version` and register an upcaster from the old version.
- An upcaster is a pure function of the payload. It may not read other events or any
  store, so every consumer, at any time, upcasts an event to the same payload.
- Never rewrite the log to the new shape instead: positions, checksums and the
  transport's copies all refer to events as written.

    @UPCASTERS.upcaster("BookAdded", 1)  # version 2 renamed `name` to `title`
    def name_is_now_title(data):
        data["title"] = data.pop("name")
        return data

Registration is process-wide, like the event classes themselves: register upcasters
where the event classes are defined, so that any process that knows the events upcasts
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from tandem.messages import StoredEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Upcasters:
    """Upcasters by (event type, the schema version they read)."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def __bool__(self) -> bool:
        return bool(self._steps)

    def register(self, event_type: str, version: int, upcaster: Upcaster) -> None:
        """Let `upcaster` turn `event_type` payloads of `version` into `version + 1`."""
        key = (event_type, version)
        if key in self._steps:
            raise ValueError(f"{event_type} already has an upcaster from version {version}")
        self._steps[key] = upcaster

    def upcaster(self, event_type: str, version: int) -> Callable[[Upcaster], Upcaster]:
        """`register` as a decorator."""

        def add(upcaster: Upcaster) -> Upcaster:
            self.register(event_type, version, upcaster)
            return upcaster

        return add

    def forget(self, event_type: str, version: int) -> None:
        self._steps.pop((event_type, version), None)

    @contextmanager
    def registered(self, event_type: str, version: int, upcaster: Upcaster) -> Iterator[None]:
        """`upcaster` registered for the block only (tests)."""
        self.register(event_type, version, upcaster)
        try:
            yield
        finally:
            self.forget(event_type, version)

    def payload(self, event_type: str, version: int, data: Payload) -> tuple[int, Payload]:
        """The payload of an `event_type` event of schema `version`, upcast as far as
        the registered upcasters go, and the version it ends at."""
        step = self._steps.get((event_type, version))
        while step is not None:
            data = step(dict(data))  # an upcaster may change its argument
            version += 1
            step = self._steps.get((event_type, version))
        return version, data

    def upcast(self, event: StoredEvent) -> StoredEvent:
        """The event with its payload in the newest shape the upcasters know."""
        if (event.type, event.schema_version) not in self._steps:
            return event
        version, data = self.payload(event.type, event.schema_version, event.data)
        return replace(event, schema_version=version, data=data)


UPCASTERS = Upcasters()
"""The process's upcasters: every event read from storage goes through them."""
