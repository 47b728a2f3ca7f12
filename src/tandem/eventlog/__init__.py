"""The event log: a protocol and one module per backend."""

from tandem.eventlog.base import EventLogReader, NewEvent

__all__ = ["EventLogReader", "NewEvent"]
