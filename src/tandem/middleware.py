"""Middleware for the buses: validation, idempotency, timing and read consistency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast, runtime_checkable

from tandem.bus import Dispatch, Middleware, Next
from tandem.codec import to_data
from tandem.consistency import VersionWatch
from tandem.errors import IdempotencyKeyReuse, ProjectionFailed, ReadModelBehind
from tandem.uow import CommandResult, IdempotencyClaim
from tandem.uow.idempotency import IdempotencyRace, IdempotencyReplay, fingerprint


async def validation(dispatch: Dispatch[Any], call_next: Next) -> Any:
    """Run the message's own `validate()` (if any) before anything touches a store."""
    validate = getattr(dispatch.message, "validate", None)
    if callable(validate):
        validate()
    return await call_next(dispatch)


class IdempotencyStore(Protocol):
    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None: ...


def idempotency(store: IdempotencyStore, *, check_first: bool = True) -> Middleware:
    """Same key and payload: the original result. Same key, other payload: a conflict.

    The key is claimed in the command's own transaction (see the unit of work), so two
    concurrent retries cannot both take effect: the loser re-reads the winner's answer.
    With `check_first` a retry is answered from `store` before any transaction opens;
    without it the unit of work's own lookup answers it, which saves a new key (the
    common case) a round trip.
    """

    async def check(dispatch: Dispatch[Any], call_next: Next) -> Any:
        key = dispatch.idempotency_key
        if key is None:
            return await call_next(dispatch)
        request_print = fingerprint(dispatch.name, to_data(dispatch.message))
        scope = dispatch.subject

        async def replay() -> CommandResult | None:
            found = await store.get(scope, key)
            if found is None:
                return None
            stored_print, result = found
            if stored_print != request_print:
                raise IdempotencyKeyReuse(f"idempotency key {key!r} was used for another request")
            return result

        if check_first:
            previous = await replay()
            if previous is not None:
                return previous
        dispatch.claim = IdempotencyClaim(scope, key, request_print)
        try:
            return await call_next(dispatch)
        except IdempotencyReplay as replayed:
            if replayed.fingerprint != request_print:
                raise IdempotencyKeyReuse(
                    f"idempotency key {key!r} was used for another request"
                ) from None
            return replayed.result
        except IdempotencyRace:
            previous = await replay()
            if previous is None:
                raise
            return previous

    return check


Observer = Callable[[str, str, float], None]


def timing(observe: Observer) -> Middleware:
    """Report each dispatch's duration with its message name and outcome."""

    async def timed(dispatch: Dispatch[Any], call_next: Next) -> Any:
        start = time.perf_counter()
        outcome = "error"
        try:
            result = await call_next(dispatch)
            outcome = "ok"
            return result
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            observe(dispatch.name, outcome, time.perf_counter() - start)

    return timed


def refreshed(refresh: Callable[[], Awaitable[None]]) -> Middleware:
    """Await `refresh` before each dispatch: for instance, bring a version watch up to
    its store's head, so that `consistency` after it reports a version no older than
    every write the store had committed when the dispatch began."""

    async def fresh(dispatch: Dispatch[Any], call_next: Next) -> Any:
        await refresh()
        return await call_next(dispatch)

    return fresh


class ReadModelStatus(Protocol):
    @property
    def checkpoint(self) -> VersionWatch: ...

    @property
    def state(self) -> Any: ...


@runtime_checkable
class ConfirmingReads(Protocol):
    """A read model whose store can lose what it held: after each read it confirms the
    store still holds the version the read answered at (see `RemoteProjection`)."""

    async def confirm(self, version: int) -> bool: ...


def consistency(read_models: Mapping[str, ReadModelStatus]) -> Middleware:
    """Answer only from a read model at or past the requested minimum version.

    Waits on the read model's checkpoint (woken by the projection, no polling) up to
    the dispatch's timeout; then raises `ReadModelBehind`. The checkpoint is taken
    before the handler reads, so the version reported never overstates the data.
    """

    async def wait(dispatch: Dispatch[Any], call_next: Next) -> Any:
        name: str = dispatch.context["read_model"]
        status = read_models[name]
        watch = status.checkpoint
        if getattr(status, "went_back", False):
            raise ReadModelBehind(name, max(dispatch.min_version, watch.value), 0)
        if watch.value < dispatch.min_version:
            if str(status.state) == "failed":
                raise ProjectionFailed(name, "the projection stopped on a failing event")
            if not await watch.wait_for(dispatch.min_version, dispatch.timeout):
                raise ReadModelBehind(name, dispatch.min_version, watch.value)
        version = dispatch.context["read_version"] = watch.value
        try:
            answer = await call_next(dispatch)
        except Exception:
            # A store wiped before the read answers "not found" for what it held: the
            # refusal is only true if the store still holds the version it is made at.
            if not await _still_holds(status, version):
                raise ReadModelBehind(name, max(dispatch.min_version, version), 0) from None
            raise
        if not await _still_holds(status, version):
            # The store lost what it held (wiped, restarted) while or before answering.
            raise ReadModelBehind(name, max(dispatch.min_version, version), 0)
        return answer

    return wait


# Whether each kind of status confirms its reads. An isinstance check against a
# runtime-checkable protocol inspects every member on each call: measured at an eighth of
# a primary-key query's time on the embedded profile, so it is asked once per type.
_CONFIRMING: dict[type, bool] = {}


async def _still_holds(status: ReadModelStatus, version: int) -> bool:
    kind = type(status)
    confirming = _CONFIRMING.get(kind)
    if confirming is None:
        confirming = _CONFIRMING[kind] = isinstance(status, ConfirmingReads)
    return not confirming or await cast(ConfirmingReads, status).confirm(version)


Wrapped = Callable[..., Awaitable[Any]]
