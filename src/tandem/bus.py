"""Command and query buses with a middleware chain.

A bus maps each message type to exactly one handler (binding twice is an error) and
runs every dispatch through its middleware, outermost first::

    bus = CommandBus(uow_factory, [timing(observe), validation, idempotency(store)])
    bus.register(ChangePrice, change_price)
    result = await bus.dispatch(ChangePrice(product_id=..., price=...))
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog

from tandem import tracing
from tandem.errors import HandlerAlreadyBound, NoHandler
from tandem.messages import Command, Metadata, Query
from tandem.uow import (
    CommandResult,
    IdempotencyClaim,
    OptimisticMiss,
    UnitOfWorkLike,
    new_metadata,
)
from tandem.uow.idempotency import IdempotencyReplay

log = logging.getLogger("tandem.commands")

M = TypeVar("M")
R = TypeVar("R")
U = TypeVar("U", bound=UnitOfWorkLike)
M_contra = TypeVar("M_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
U_contra = TypeVar("U_contra", bound=UnitOfWorkLike, contravariant=True)


@dataclass
class Dispatch(Generic[M]):
    """One message on its way through the middleware to its handler."""

    message: M
    subject: str = "anonymous"
    idempotency_key: str | None = None
    claim: IdempotencyClaim | None = None
    metadata: Metadata = field(default_factory=new_metadata)
    min_version: int = 0
    timeout: float = 2.0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return type(self.message).__name__


Next = Callable[["Dispatch[Any]"], Awaitable[Any]]
Middleware = Callable[["Dispatch[Any]", Next], Awaitable[Any]]


def _chain(middleware: Sequence[Middleware], last: Next) -> Next:
    call = last
    for mw in reversed(middleware):
        call = _bind(mw, call)
    return call


def _bind(mw: Middleware, nxt: Next) -> Next:
    async def call(dispatch: Dispatch[Any]) -> Any:
        return await mw(dispatch, nxt)

    return call


class CommandHandler(Protocol[M_contra, U_contra]):
    async def __call__(self, command: M_contra, uow: U_contra, /) -> CommandResult: ...


class CommandBus(Generic[U]):
    """Routes each command to its handler with a fresh unit of work."""

    def __init__(self, uow_factory: Callable[[], U], middleware: Sequence[Middleware] = ()) -> None:
        self._uow_factory = uow_factory
        self._handlers: dict[type, CommandHandler[Any, U]] = {}
        self._call = _chain(middleware, self._handle)

    def register(self, command_type: type[M], handler: CommandHandler[M, U]) -> None:
        if command_type in self._handlers:
            raise HandlerAlreadyBound(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = handler

    async def dispatch(
        self,
        command: Command,
        *,
        subject: str = "anonymous",
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        metadata = new_metadata()
        if correlation_id:
            metadata = Metadata(correlation_id=correlation_id, causation_id=metadata.causation_id)
        dispatch: Dispatch[Command] = Dispatch(
            command, subject=subject, idempotency_key=idempotency_key, metadata=metadata
        )
        # Every log line written while the command runs carries its ids; its events
        # carry them into the log, and projections log them again when they apply.
        with (
            structlog.contextvars.bound_contextvars(
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                command=dispatch.name,
            ),
            tracing.command(dispatch.name, metadata) as span,
        ):
            result: CommandResult = await self._call(dispatch)
            span.record(result.version)
            log.debug("command %s committed at version %s", dispatch.name, result.version)
        return result

    async def _handle(self, dispatch: Dispatch[Any]) -> CommandResult:
        handler = self._handlers.get(type(dispatch.message))
        if handler is None:
            raise NoHandler(dispatch.name)
        uow = self._unit_of_work(dispatch)
        if not uow.optimistic:
            return await handler(dispatch.message, uow)
        try:
            return await handler(dispatch.message, uow)
        except IdempotencyReplay:
            raise
        except OptimisticMiss:
            # Something the command read moved on before it wrote, and nothing was
            # written: run it again, holding its aggregates from the start.
            pass
        except Exception:
            # Under an idempotency key the error may be the key's first attempt's own
            # doing (the SKU it took, the version it wrote): run again behind the key's
            # lock, which answers with that attempt's result if there was one.
            if dispatch.claim is None:
                raise
        log.debug("command %s runs again, holding its aggregates", dispatch.name)
        return await handler(dispatch.message, self._unit_of_work(dispatch, optimistic=False))

    def _unit_of_work(self, dispatch: Dispatch[Any], *, optimistic: bool = True) -> U:
        uow = self._uow_factory()
        uow.metadata = dispatch.metadata
        uow.idempotency = dispatch.claim
        uow.optimistic = uow.optimistic and optimistic
        return uow


class QueryHandler(Protocol[M_contra, R_co]):
    def __call__(self, query: M_contra, /) -> Awaitable[R_co]: ...


@dataclass(frozen=True)
class QueryResult(Generic[R]):
    """A query's answer and the read-model version it reflects."""

    value: R
    read_version: int


class QueryBus:
    """Routes each query to its handler and the read model that serves it."""

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        self._handlers: dict[type, tuple[QueryHandler[Any, Any], str]] = {}
        self._call = _chain(middleware, self._handle)

    def register(self, query_type: type[M], handler: QueryHandler[M, Any], read_model: str) -> None:
        if query_type in self._handlers:
            raise HandlerAlreadyBound(f"{query_type.__name__} already has a handler")
        self._handlers[query_type] = (handler, read_model)

    def read_model_of(self, query_type: type) -> str:
        entry = self._handlers.get(query_type)
        if entry is None:
            raise NoHandler(query_type.__name__)
        return entry[1]

    async def ask(
        self,
        query: Query,
        *,
        subject: str = "anonymous",
        min_version: int = 0,
        timeout: float = 2.0,
    ) -> QueryResult[Any]:
        dispatch: Dispatch[Query] = Dispatch(
            query, subject=subject, min_version=min_version, timeout=timeout
        )
        dispatch.context["read_model"] = self.read_model_of(type(query))
        with tracing.query(dispatch.name) as span:
            result: QueryResult[Any] = await self._call(dispatch)
            span.record(result.read_version)
        return result

    async def _handle(self, dispatch: Dispatch[Any]) -> QueryResult[Any]:
        handler, _ = self._handlers[type(dispatch.message)]
        read_version = int(dispatch.context.get("read_version", 0))
        return QueryResult(await handler(dispatch.message), read_version)
