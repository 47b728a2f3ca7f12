"""Turning event dataclasses into JSON-ready dicts and back.

Payloads hold JSON types plus `Decimal` (kept as a string so money never becomes a
float), tuples of nested dataclasses, and string maps. The registry refuses to bind a
type name twice, so a rename cannot silently shadow an old event type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from decimal import Decimal
from typing import Any, TypeVar, cast

from tandem.errors import HandlerAlreadyBound, UnknownEventType
from tandem.messages import Event, StoredEvent

E = TypeVar("E", bound=Event)


def to_data(value: Any) -> Any:
    """Convert a dataclass (or anything inside one) to JSON-ready data."""
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_data(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "aggregate_id" or not isinstance(value, Event)
        }
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    return value


def _from_data(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_data(args[0], value) if len(args) == 1 else value
    if tp is Decimal:
        return Decimal(value)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(_from_data(item_tp, v) for v in value)
    if origin is dict:
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_data(tp, value)
    return value


_hints_cache: dict[type, dict[str, Any]] = {}


def from_data(cls: type[Any], data: dict[str, Any], **extra: Any) -> Any:
    """Build dataclass `cls` from data made by `to_data`."""
    hints = _hints_cache.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _hints_cache[cls] = hints
    kwargs = {name: _from_data(hints[name], value) for name, value in data.items()}
    kwargs.update(extra)
    return cls(**kwargs)


class EventRegistry:
    """Maps event type names to classes for encoding and decoding."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Event]] = {}

    def register(self, *classes: type[Event]) -> None:
        for cls in classes:
            name = cls.__name__
            if name in self._by_name and self._by_name[name] is not cls:
                raise HandlerAlreadyBound(f"event type {name} is already registered")
            self._by_name[name] = cls

    def type_name(self, event: Event) -> str:
        name = type(event).__name__
        if name not in self._by_name:
            raise UnknownEventType(name)
        return name

    def encode(self, event: Event) -> dict[str, Any]:
        return cast(dict[str, Any], to_data(event))

    def decode(self, stored: StoredEvent) -> Event:
        cls = self._by_name.get(stored.type)
        if cls is None:
            raise UnknownEventType(stored.type)
        return cast(Event, from_data(cls, stored.data, aggregate_id=stored.aggregate_id))

    def decode_as(self, stored: StoredEvent, cls: type[E]) -> E:
        return cast(E, from_data(cls, stored.data, aggregate_id=stored.aggregate_id))
