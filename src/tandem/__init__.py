"""Tandem: a CQRS toolkit for asyncio.

Commands change state through a unit of work that appends events to an event log in the
same transaction; projections fold the log into read models, each with a checkpoint
stored atomically with its changes; queries wait for a minimum version when asked.
"""

__version__ = "0.1.0"
