"""The writeback desk (ERP team, supervisors, admins): per ERP destination the backlog, the
oldest unsent event's age, the last error and the parked orders with the ERP's reason; a
supervisor retries or skips a parked order (the API's ``DecideWriteback``, recorded on the
order); an admin replays a destination from a ledger position no further than the head."""

from __future__ import annotations

import uuid
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
from domain import DomainError

router = APIRouter(prefix="/writeback")  # under /office (see api.pages.office)

CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]
Name = Annotated[str, Form(min_length=1, max_length=60)]
ADMIN = ("admin",)


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
    context = await _context(
        request,
        user,
        destinations=destinations,
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
    csrf_token: CsrfField = None,
) -> Response:
    """A supervisor retries or skips a parked order at a destination."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, SUPERVISOR_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    if decision not in ("retry", "skip"):
        return _back(f"decision {decision!r} is not retry or skip", ok=False)
    svc = await _service(request)
    fn: Any = svc.retry if decision == "retry" else svc.skip
    key = f"{user.name}:office:{uuid.uuid4().hex}"
    try:
        await run_in_threadpool(fn, destination, order_no, user.actor, key)
    except (WritebackError, DomainError) as exc:
        return _back(str(exc), ok=False)
    (await _services(request)).runner.wake()
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
