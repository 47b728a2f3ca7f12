"""Administration: events projections parked (policy `park`), listed, retried or skipped.

The same actions as `tandem dead-letters`, through `catalog.dead_letters`, on a running
server (admin scope).
"""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from catalog.api.edge import MAX_VERSION, require
from catalog.api.problems import Problem
from catalog.dead_letters import (
    NoSuchLetter,
    NotParkable,
    StillFailing,
    retry_aggregate,
    skip_position,
)
from catalog.tokens import Principal
from tandem.deadletters import DeadLetter

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]

# Projection names, partitions (`name.pN`) included.
NAME = r"^[A-Za-z0-9_.\-]{1,200}$"
ProjectionName = Annotated[str, Path(pattern=NAME, description="The projection (or partition).")]
AggregateId = Annotated[str, Path(min_length=1, max_length=200)]
Position = Annotated[int, Path(ge=1, le=MAX_VERSION, description="The parked event's position.")]


class DeadLetterOut(BaseModel):
    projection: str
    position: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    event_type: str
    error: str
    parked_at: datetime.datetime


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterOut]


class Retried(BaseModel):
    projection: str
    aggregate_id: str
    applied: int


class Skipped(BaseModel):
    projection: str
    position: int
    skipped: bool


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        projection=letter.projection,
        position=letter.position,
        aggregate_type=letter.event.aggregate_type,
        aggregate_id=letter.aggregate_id,
        aggregate_version=letter.event.aggregate_version,
        event_type=letter.event.type,
        error=letter.error,
        parked_at=datetime.datetime.fromtimestamp(letter.parked_at, datetime.UTC),
    )


def _not_found(exc: LookupError) -> Problem:
    return Problem(404, "not-found", "Not found", str(exc))


@router.get("/admin/dead-letters")
async def list_dead_letters(
    request: Request,
    _admin: Admin,
    projection: Annotated[str | None, Query(pattern=NAME, description="Only this one.")] = None,
) -> DeadLetterList:
    """Every parked event in position order: projection, position, aggregate, event, why."""
    letters = await request.app.state.catalog.dead_letters.list(projection)
    return DeadLetterList(dead_letters=[_out(letter) for letter in letters])


@router.post(
    "/admin/dead-letters/{projection}/{aggregate_id}/retry",
    responses={409: {"description": "The events still fail: every letter stays."}},
)
async def retry_dead_letters(
    request: Request, projection: ProjectionName, aggregate_id: AggregateId, _admin: Admin
) -> Retried:
    """Apply the aggregate's parked events again, in order (after a fix), and forget them.
    If they still fail, every letter stays and the answer is 409 `still-failing`."""
    try:
        applied = await retry_aggregate(request.app.state.catalog, projection, aggregate_id)
    except (NotParkable, NoSuchLetter) as exc:
        raise _not_found(exc) from None
    except StillFailing as exc:
        raise Problem(409, "still-failing", "Still failing", f"{exc}; letters kept") from None
    return Retried(projection=projection, aggregate_id=aggregate_id, applied=applied)


@router.post("/admin/dead-letters/{projection}/{position}/skip")
async def skip_dead_letter(
    request: Request, projection: ProjectionName, position: Position, _admin: Admin
) -> Skipped:
    """Drop one parked event without applying it (its aggregate's later letters stay)."""
    try:
        await skip_position(request.app.state.catalog, projection, position)
    except NoSuchLetter as exc:
        raise _not_found(exc) from None
    return Skipped(projection=projection, position=position, skipped=True)
