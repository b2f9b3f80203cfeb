"""The writeback desk (ERP team, supervisors, admins): per ERP destination the backlog, the
oldest unsent event's age, the last error and the parked orders with the ERP's reason; a
supervisor retries or skips a parked order with a note (the API's ``DecideWriteback``,
recorded on the order; a skip needs the note); the recent decisions with who made them and
their note (from the events-by-actor view); an admin replays a destination from a ledger
position no further than the head."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Form, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.writeback.service import WritebackError, WritebackService
from api.deps import SUPERVISOR_ROLES
from api.pages import csrf
from api.pages.office_auth import WRITEBACK_ROLES
from api.pages.office_common import _context, _page, _see_other, _services
from api.pages.templating import render
from api.routes.writeback import get_writeback
from api.runtime import Services
from domain import DomainError

router = APIRouter(prefix="/writeback")  # under /office (see api.pages.office)

CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]
Name = Annotated[str, Form(min_length=1, max_length=60)]
ADMIN = ("admin",)
NoteField = Annotated[str, Form(max_length=1000)]
RECENT_DECISIONS = 20


@dataclass(frozen=True)
class Decision:
    """A supervisor's recorded retry or skip, as the desk lists it."""

    recorded_at: datetime
    order_no: str
    integration: str
    destination: str
    decision: str
    note: str
    actor_id: str
    actor_role: str
    reason: str


def recent_decisions(services: Services, limit: int = RECENT_DECISIONS) -> list[Decision]:
    """The newest writeback decisions, newest first, read from the ledger at the positions
    the events-by-actor view names."""
    ledger = services.ledger
    out = []
    for found in services.reader.events_of_kind("WritebackDecided", limit):
        (n,) = ledger.recorder.select_notifications(found.position, 1)[:1] or (None,)
        if n is None:
            continue
        e: Any = ledger.mapper.to_domain_event(n)
        out.append(
            Decision(
                e.timestamp, e.order_no, e.integration, e.destination, e.decision, e.note,
                e.actor_id, e.actor_role, e.reason,
            )
        )  # fmt: skip
    return out


async def _service(request: Request) -> WritebackService:
    services = await _services(request)
    return get_writeback(request, services.ledger)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@router.get("")
async def desk(request: Request) -> Response:
    user, denied = await _page(request, WRITEBACK_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    svc = await _service(request)
    error: str | None
    try:
        destinations = await run_in_threadpool(svc.status, None)
    except WritebackError as exc:
        destinations, error = [], str(exc)
    else:
        error = request.query_params.get("error")
    decisions = await run_in_threadpool(recent_decisions, await _services(request))
    context = await _context(
        request,
        user,
        destinations=destinations,
        decisions=decisions,
        age=_age,
        may_decide=user.may(SUPERVISOR_ROLES),
        may_replay=user.may(ADMIN),
        done=request.query_params.get("done"),
        error=error,
    )
    return render(request, "office/writeback.html", context)


def _back(message: str, ok: bool = True) -> Response:
    return _see_other(f"/office/writeback?{'done' if ok else 'error'}={quote_plus(message)}")


@router.post("/decide")
async def decide(
    request: Request,
    destination: Name,
    order_no: Annotated[str, Form(min_length=1, max_length=80)],
    decision: Annotated[str, Form(max_length=10)],
    note: NoteField = "",
    csrf_token: CsrfField = None,
) -> Response:
    """A supervisor retries or skips a parked order at a destination, with a note (which a
    skip needs: the ERP never gets that message)."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, SUPERVISOR_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    if decision not in ("retry", "skip"):
        return _back(f"decision {decision!r} is not retry or skip", ok=False)
    if decision == "skip" and not note.strip():
        return _back(
            f"note: skipping {order_no}'s refused message needs a note saying why", ok=False
        )
    svc = await _service(request)
    fn: Any = svc.retry if decision == "retry" else svc.skip
    key = f"{user.name}:office:{uuid.uuid4().hex}"
    try:
        outcome = await run_in_threadpool(fn, destination, order_no, user.actor, key, note)
    except (WritebackError, DomainError) as exc:
        return _back(str(exc), ok=False)
    services = await _services(request)
    services.runner.wake()
    if outcome.position:
        # The desk lists decisions from the views: the page it redirects to shows this one.
        await run_in_threadpool(services.runner.wait_until, outcome.position, 5.0)
    verb = "sent again" if decision == "retry" else "skipped"
    return _back(f"{order_no} at {destination}: {verb}")


@router.post("/replay")
async def replay(
    request: Request,
    destination: Name,
    from_position: Annotated[str, Form(max_length=20)],
    csrf_token: CsrfField = None,
) -> Response:
    """An admin re-sends a destination's events from a position (receivers dedupe by key)."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, ADMIN)
    if user is None:
        return denied  # type: ignore[return-value]
    svc = await _service(request)
    try:
        position = int(from_position.strip())
    except ValueError:
        return _back(f"from_position {from_position!r} is not a whole number", ok=False)
    try:
        await run_in_threadpool(svc.status, destination)  # an unknown destination: refused
        head = await run_in_threadpool((await _services(request)).runner.head)
        if position < 1 or position > head:
            return _back(
                f"from_position {position} is outside 1..{head} (the ledger's head)", ok=False
            )
        await run_in_threadpool(svc.replay, destination, position)
    except WritebackError as exc:
        return _back(str(exc), ok=False)
    return _back(f"{destination}: replaying from position {position}")
