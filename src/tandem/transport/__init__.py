"""Transports that carry the event log to projection workers.

Each backend is its own module and imports its client library itself, so importing
this package costs nothing on the embedded profile (which never touches NATS).
"""
