"""Dead letters: events a projection parked instead of stopping on them.

A projection whose policy is `park` retries a failing event with backoff and then
parks it here and goes on; later events of the same aggregate are parked behind it, so
each aggregate's events still apply in order. After a fix, `retry` applies an
aggregate's parked events again, in position order, through the store's
`apply_parked` (the checkpoint already lies past them) and removes them; `skip` drops
one without applying it.

A letter is written before the checkpoint moves past its event. If the process dies in
between, the runner meets the event again on restart, and `forget_after(checkpoint)`
first drops letters the checkpoint never passed, so nothing stays parked twice.

The record, the protocols and the backend-neutral operations are in `base` and
re-exported here; each backend is imported from its own module
(`tandem.deadletters.sqlite`, `tandem.deadletters.postgres`), so the embedded profile
never imports the PostgreSQL side.
"""

from tandem.deadletters.base import (
    PARKED,
    DeadLetter,
    DeadLetters,
    ParkingStore,
    per_projection,
    retry,
)

__all__ = ["PARKED", "DeadLetter", "DeadLetters", "ParkingStore", "per_projection", "retry"]
