"""Supervisors manage the operators who sign on at the terminals, and see who is signed on
where (the CLI's ``floorledger operator`` does the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from adapters.terminals import TerminalError, TerminalStore
from api.deps import NON_BLANK, SupervisorCaller
from api.problems import problem_responses
from api.schemas import StrictModel
from domain import InvalidValueError

router = APIRouter(tags=["operators"], responses=problem_responses(401, 403, 422, 503))

OperatorName = Annotated[str, Path(min_length=1, max_length=60, pattern=NON_BLANK)]


class OperatorCreate(StrictModel):
    """A new operator: a badge number, a PIN of 4-12 digits, or both (stored hashed)."""

    name: str = Field(min_length=1, max_length=60)
    badge: str | None = Field(default=None, min_length=3, max_length=64)
    pin: str | None = Field(default=None, min_length=4, max_length=12)


class OperatorPublic(BaseModel):
    """An operator (never the badge or the PIN) and the terminal they are signed on at."""

    name: str
    badge: bool
    pin: bool
    created_at: str
    signed_on_at: str | None


class TerminalPublic(BaseModel):
    """A signed-in terminal, its work centres and who is signed on there."""

    name: str
    work_centres: list[str]
    signed_in_by: str
    created_at: str
    operator: str | None
    operator_since: str | None
    last_activity: str | None
    signs_off_at: str | None = Field(description="when an idle operator is signed off")


def _store(request: Request) -> TerminalStore:
    store: TerminalStore = request.app.state.runtime.terminals
    return store


def _operators(store: TerminalStore) -> list[OperatorPublic]:
    where = {t.operator: t.name for t in store.terminals() if t.operator}
    return [
        OperatorPublic(
            name=o.name,
            badge=o.has_badge,
            pin=o.has_pin,
            created_at=o.created_at,
            signed_on_at=where.get(o.name),
        )
        for o in store.operators()
    ]


@router.get("/operators", response_model=list[OperatorPublic])
def list_operators(request: Request, caller: SupervisorCaller) -> list[OperatorPublic]:
    """Operators and the terminal each is signed on at."""
    return _operators(_store(request))


@router.post("/operators", response_model=OperatorPublic, status_code=201)
def add_operator(
    body: OperatorCreate, request: Request, caller: SupervisorCaller
) -> OperatorPublic:
    """A supervisor adds an operator who signs on with a badge, a PIN, or either."""
    store = _store(request)
    try:
        store.add_operator(body.name, badge=body.badge, pin=body.pin)
    except TerminalError as exc:
        text = str(exc)
        field = "pin" if "PIN" in text else "badge" if "badge" in text else "name"
        shown = "***" if field == "pin" else getattr(body, field)
        raise InvalidValueError(field, shown, text) from None
    return next(o for o in _operators(store) if o.name == body.name)


@router.delete("/operators/{name}", status_code=204, responses=problem_responses(404))
def remove_operator(name: OperatorName, request: Request, caller: SupervisorCaller) -> Response:
    """A supervisor removes an operator (signed off everywhere; the history keeps the name)."""
    if not _store(request).remove_operator(name):
        raise HTTPException(404, f"no operator named {name!r}")
    return Response(status_code=204)


@router.get("/terminals", response_model=list[TerminalPublic])
def list_terminals(request: Request, caller: SupervisorCaller) -> list[TerminalPublic]:
    """Every signed-in terminal and who is signed on there now."""
    out = []
    for t in _store(request).terminals():
        deadline = t.idle_deadline()
        out.append(
            TerminalPublic(
                name=t.name,
                work_centres=list(t.work_centres),
                signed_in_by=t.signed_in_by,
                created_at=t.created_at,
                operator=t.operator,
                operator_since=t.operator_since,
                last_activity=t.last_activity,
                signs_off_at=deadline.isoformat() if deadline else None,
            )
        )
    return out
