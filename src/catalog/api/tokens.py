"""Administration: bearer tokens made, listed and revoked on a running server (admin).

The same actions as `tandem token create | list | revoke`, through
`catalog.tokens.store`. The secret is in the answer to its creation only; a list shows
ids, subjects, scopes and times, never a secret or a digest.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, StrictInt, StringConstraints

from catalog.api.edge import require
from catalog.api.models import Body
from catalog.api.problems import Problem
from catalog.runtime.contract import Runtime
from catalog.tokens import Principal
from catalog.tokens.rules import MAX_LIFETIME_SECONDS, MAX_SUBJECT
from catalog.tokens.store import TokenRecord, issue
from catalog.tokens.verifier import TokenVerifier

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]
Scope = Literal["catalog:write", "inventory:write", "orders", "admin"]


class CreateTokenBody(Body):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SUBJECT)] = Field(
        description="Whom the token speaks for (the customer); `admin` is reserved."
    )
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=4)]
    expires_in: Annotated[StrictInt, Field(ge=1, le=MAX_LIFETIME_SECONDS)] | None = Field(
        default=None, description="Seconds until the token expires; none: it does not."
    )


class TokenOut(BaseModel):
    id: str
    subject: str
    scopes: list[str]
    created_at: datetime.datetime
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    state: Literal["active", "expired", "revoked"]


class IssuedToken(TokenOut):
    token: str = Field(description="The secret: shown here once, never again.")


class TokenList(BaseModel):
    tokens: list[TokenOut]


def _when(at: float | None) -> datetime.datetime | None:
    return None if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC)


def _out(record: TokenRecord) -> dict[str, object]:
    now = datetime.datetime.now(datetime.UTC).timestamp()
    return {
        "id": record.id,
        "subject": record.subject,
        "scopes": sorted(record.scopes),
        "created_at": _when(record.created_at),
        "expires_at": _when(record.expires_at),
        "revoked_at": _when(record.revoked_at),
        "state": record.state(now),
    }


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.catalog
    return runtime


@router.post("/admin/tokens", status_code=201)
async def create_token(
    request: Request, response: Response, body: CreateTokenBody, _admin: Admin
) -> IssuedToken:
    """Make a token; it works at once in every API process. The answer is the only place
    its secret is ever shown (`Cache-Control: no-store`)."""
    secret, record = await issue(
        _runtime(request).tokens, body.subject, body.scopes, body.expires_in
    )
    response.headers["Cache-Control"] = "no-store"
    return IssuedToken.model_validate({**_out(record), "token": secret})


@router.get("/admin/tokens")
async def list_tokens(request: Request, _admin: Admin) -> TokenList:
    """Every token, oldest first, with its state (`active`, `expired`, `revoked`)."""
    records = await _runtime(request).tokens.list()
    return TokenList.model_validate({"tokens": [_out(record) for record in records]})


@router.delete("/admin/tokens/{token_id}")
async def revoke_token(request: Request, token_id: UUID, _admin: Admin) -> TokenOut:
    """Revoke a token: refused at once by this process, and by every other API process
    within a second. Revoking a revoked token changes nothing."""
    now = datetime.datetime.now(datetime.UTC).timestamp()
    record = await _runtime(request).tokens.revoke(str(token_id), now)
    if record is None:
        raise Problem(404, "not-found", "Not found", f"no token with id {token_id}")
    verifier: TokenVerifier = request.app.state.tokens
    verifier.forget()
    return TokenOut.model_validate(_out(record))
