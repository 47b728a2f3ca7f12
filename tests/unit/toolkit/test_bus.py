"""Command and query buses: one handler per message, middleware in order, timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tandem.bus import CommandBus, Dispatch, Next, QueryBus
from tandem.errors import HandlerAlreadyBound, NoHandler
from tandem.messages import Command, Query
from tandem.middleware import idempotency, timing, validation
from tandem.uow import CommandResult, OptimisticMiss, UnitOfWork


@dataclass(frozen=True, kw_only=True)
class Ping(Command):
    n: int = 1


@dataclass(frozen=True, kw_only=True)
class Unbound(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class Checked(Command):
    ok: bool

    def validate(self) -> None:
        if not self.ok:
            raise ValueError("not ok")


@dataclass(frozen=True, kw_only=True)
class Lookup(Query):
    key: str


@dataclass(frozen=True, kw_only=True)
class UnboundQuery(Query):
    pass


class Boom(Exception):
    pass


async def ping(cmd: Ping, uow: UnitOfWork) -> CommandResult:
    return CommandResult("ping", cmd.n)


async def lookup(query: Lookup) -> str:
    return query.key.upper()


def recorder(log: list[str], name: str) -> Any:
    async def middleware(dispatch: Dispatch[Any], call_next: Next) -> Any:
        log.append(f"{name}:before")
        result = await call_next(dispatch)
        log.append(f"{name}:after")
        return result

    return middleware


def test_a_command_handler_cannot_be_registered_twice() -> None:
    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork)
    bus.register(Ping, ping)
    with pytest.raises(HandlerAlreadyBound, match="Ping"):
        bus.register(Ping, ping)


def test_a_query_handler_cannot_be_registered_twice() -> None:
    bus = QueryBus()
    bus.register(Lookup, lookup, read_model="rm")
    with pytest.raises(HandlerAlreadyBound, match="Lookup"):
        bus.register(Lookup, lookup, read_model="other")
    assert bus.read_model_of(Lookup) == "rm"


async def test_dispatch_routes_a_command_to_its_handler() -> None:
    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork)
    bus.register(Ping, ping)
    assert await bus.dispatch(Ping(n=7)) == CommandResult("ping", 7)


async def test_dispatching_an_unknown_command_raises_no_handler() -> None:
    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork)
    bus.register(Ping, ping)
    with pytest.raises(NoHandler, match="Unbound"):
        await bus.dispatch(Unbound())


async def test_asking_an_unknown_query_raises_no_handler() -> None:
    bus = QueryBus()
    bus.register(Lookup, lookup, read_model="rm")
    with pytest.raises(NoHandler, match="UnboundQuery"):
        await bus.ask(UnboundQuery())


async def test_ask_routes_a_query_to_its_handler() -> None:
    bus = QueryBus()
    bus.register(Lookup, lookup, read_model="rm")
    result = await bus.ask(Lookup(key="abc"))
    assert result.value == "ABC"
    assert result.read_version == 0


async def test_command_middleware_runs_outermost_first() -> None:
    log: list[str] = []

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        log.append("handler")
        return CommandResult("x", 1)

    bus: CommandBus[UnitOfWork] = CommandBus(
        UnitOfWork, [recorder(log, "outer"), recorder(log, "middle"), recorder(log, "inner")]
    )
    bus.register(Ping, handler)
    await bus.dispatch(Ping())
    assert log == [
        "outer:before",
        "middle:before",
        "inner:before",
        "handler",
        "inner:after",
        "middle:after",
        "outer:after",
    ]


async def test_query_middleware_runs_outermost_first() -> None:
    log: list[str] = []

    async def handler(query: Lookup) -> str:
        log.append("handler")
        return query.key

    bus = QueryBus([recorder(log, "outer"), recorder(log, "inner")])
    bus.register(Lookup, handler, read_model="rm")
    await bus.ask(Lookup(key="k"))
    assert log == ["outer:before", "inner:before", "handler", "inner:after", "outer:after"]


async def test_middleware_sees_the_dispatch_details() -> None:
    seen: list[Dispatch[Any]] = []

    async def spy(dispatch: Dispatch[Any], call_next: Next) -> Any:
        seen.append(dispatch)
        return await call_next(dispatch)

    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork, [spy])
    bus.register(Ping, ping)
    await bus.dispatch(Ping(), subject="alice", idempotency_key="k1", correlation_id="corr-1")
    [dispatch] = seen
    assert (dispatch.name, dispatch.subject, dispatch.idempotency_key) == ("Ping", "alice", "k1")
    assert dispatch.metadata.correlation_id == "corr-1"
    assert dispatch.metadata.causation_id != "corr-1"

    query_seen: list[Dispatch[Any]] = []

    async def query_spy(dispatch: Dispatch[Any], call_next: Next) -> Any:
        query_seen.append(dispatch)
        return await call_next(dispatch)

    qbus = QueryBus([query_spy])
    qbus.register(Lookup, lookup, read_model="rm")
    await qbus.ask(Lookup(key="k"), subject="bob", min_version=5, timeout=0.5)
    [qd] = query_seen
    assert (qd.subject, qd.min_version, qd.timeout) == ("bob", 5, 0.5)
    assert qd.context["read_model"] == "rm"


async def test_the_handler_gets_a_fresh_unit_of_work_with_the_dispatch_metadata() -> None:
    uows: list[UnitOfWork] = []

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        uows.append(uow)
        return CommandResult("x", 1)

    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork)
    bus.register(Ping, handler)
    await bus.dispatch(Ping(), correlation_id="corr-a")
    await bus.dispatch(Ping())
    first, second = uows
    assert first is not second
    assert first.metadata.correlation_id == "corr-a"
    assert second.metadata.correlation_id != "corr-a"
    assert second.metadata.correlation_id == second.metadata.causation_id
    assert first.idempotency is None


async def test_a_middleware_can_answer_without_calling_the_handler() -> None:
    called: list[str] = []

    async def short_circuit(dispatch: Dispatch[Any], call_next: Next) -> Any:
        return CommandResult("cached", 42)

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        called.append("handler")
        return CommandResult("x", 1)

    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork, [short_circuit])
    bus.register(Ping, handler)
    assert await bus.dispatch(Ping()) == CommandResult("cached", 42)
    assert called == []


async def test_timing_reports_ok_for_a_success() -> None:
    observed: list[tuple[str, str, float]] = []
    bus: CommandBus[UnitOfWork] = CommandBus(
        UnitOfWork, [timing(lambda *args: observed.append(args))]
    )
    bus.register(Ping, ping)
    await bus.dispatch(Ping())
    [(name, outcome, seconds)] = observed
    assert (name, outcome) == ("Ping", "ok")
    assert seconds >= 0


async def test_timing_reports_the_exception_name_and_reraises() -> None:
    observed: list[tuple[str, str, float]] = []

    async def failing(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        raise Boom("no")

    bus: CommandBus[UnitOfWork] = CommandBus(
        UnitOfWork, [timing(lambda *args: observed.append(args))]
    )
    bus.register(Ping, failing)
    with pytest.raises(Boom):
        await bus.dispatch(Ping())
    with pytest.raises(NoHandler):
        await bus.dispatch(Unbound())
    assert [(name, outcome) for name, outcome, _ in observed] == [
        ("Ping", "Boom"),
        ("Unbound", "NoHandler"),
    ]


async def test_timing_works_on_the_query_bus() -> None:
    observed: list[tuple[str, str, float]] = []
    bus = QueryBus([timing(lambda *args: observed.append(args))])
    bus.register(Lookup, lookup, read_model="rm")
    await bus.ask(Lookup(key="k"))
    assert [(n, o) for n, o, _ in observed] == [("Lookup", "ok")]


async def test_validation_rejects_an_invalid_message_before_the_handler() -> None:
    called: list[Checked] = []

    async def handler(cmd: Checked, uow: UnitOfWork) -> CommandResult:
        called.append(cmd)
        return CommandResult("x", 1)

    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork, [validation])
    bus.register(Checked, handler)
    with pytest.raises(ValueError, match="not ok"):
        await bus.dispatch(Checked(ok=False))
    assert called == []
    await bus.dispatch(Checked(ok=True))
    assert called == [Checked(ok=True)]


class Optimist(UnitOfWork):
    """A unit of work that offers the optimistic path, like PostgreSQL's."""

    def __init__(self) -> None:
        super().__init__()
        self.optimistic = True


async def test_a_missed_optimistic_commit_runs_the_command_again_holding_its_aggregates() -> None:
    seen: list[bool] = []

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        seen.append(uow.optimistic)
        if uow.optimistic:
            raise OptimisticMiss("moved on")
        return CommandResult("ping", cmd.n)

    bus: CommandBus[UnitOfWork] = CommandBus(Optimist)
    bus.register(Ping, handler)
    assert await bus.dispatch(Ping(n=3)) == CommandResult("ping", 3)
    assert seen == [True, False]


async def test_an_optimistic_error_runs_again_only_under_an_idempotency_key() -> None:
    seen: list[bool] = []

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        seen.append(uow.optimistic)
        raise Boom

    bus: CommandBus[UnitOfWork] = CommandBus(Optimist, [idempotency(Forgetful())])
    bus.register(Ping, handler)
    with pytest.raises(Boom):
        await bus.dispatch(Ping())
    assert seen == [True]
    # Under a key the error may be the key's first attempt's doing: the locking path,
    # queued behind the key, decides.
    with pytest.raises(Boom):
        await bus.dispatch(Ping(), idempotency_key="k")
    assert seen == [True, True, False]


async def test_a_unit_of_work_without_an_optimistic_path_runs_once() -> None:
    seen: list[bool] = []

    async def handler(cmd: Ping, uow: UnitOfWork) -> CommandResult:
        seen.append(uow.optimistic)
        raise OptimisticMiss("never raised by such a unit of work, but passed on")

    bus: CommandBus[UnitOfWork] = CommandBus(UnitOfWork)
    bus.register(Ping, handler)
    with pytest.raises(OptimisticMiss):
        await bus.dispatch(Ping())
    assert seen == [False]


class Forgetful:
    """An idempotency store that has never seen a key."""

    async def get(self, scope: str, key: str) -> tuple[str, CommandResult] | None:
        return None
