"""Warnings (integration and floor), filtered by integration, work centre (measuring point),
code and open or closed; a supervisor acknowledges an open warning on an order with a note
(``AcknowledgeWarning``: an event on the order, which clears the warning)."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import SUPERVISOR_ROLES
from api.pages import csrf
from api.pages.office_common import _context, _page, _see_other, _services
from api.pages.templating import render
from domain import DomainError
from domain.commands import AcknowledgeWarning

router = APIRouter(prefix="/warnings")  # under /office (see api.pages.office)

CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]
Text = Annotated[str, Query(max_length=60)]


def version_of(warning_id: str) -> int | None:
    """The order version that raised the warning (ids are ``<order key>:<version>``)."""
    tail = warning_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


@router.get("")
async def warnings_page(
    request: Request,
    integration: Text = "",
    work_centre: Text = "",
    code: Text = "",
    state: Text = "open",
) -> Response:
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)

    def read() -> list[object]:
        rows = services.reader.warnings(
            state == "open",
            integration=integration.strip() or None,
            workstation=work_centre.strip() or None,
            code=code.strip() or None,
            limit=1000,
        )
        return [r for r in rows if state != "closed" or not r.relevant]

    rows = await run_in_threadpool(read)
    query = urlencode(
        {"integration": integration, "work_centre": work_centre, "code": code, "state": state}
    )
    context = await _context(
        request, user, rows=rows, integration=integration, work_centre=work_centre, code=code,
        state=state, query=query, version_of=version_of, may_ack=user.may(SUPERVISOR_ROLES),
        done=request.query_params.get("done"), error=request.query_params.get("error"),
    )  # fmt: skip
    return render(request, "office/warnings.html", context)


@router.post("/acknowledge")
async def acknowledge(
    request: Request,
    order_no: Annotated[str, Form(min_length=1, max_length=80)],
    integration: Annotated[str, Form(min_length=1, max_length=60)],
    version: Annotated[int, Form(ge=1, le=2**31)],
    note: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """A supervisor acknowledges a warning with a note (recorded on the order)."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, SUPERVISOR_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    back = back if back.startswith("integration=") else ""
    services = await _services(request)
    command = AcknowledgeWarning(order_no, version, note=note, integration=integration)
    key = f"{user.name}:office:{uuid.uuid4().hex}"
    try:
        outcome = await run_in_threadpool(services.ledger.execute, command, user.actor, key)
    except DomainError as exc:
        return _see_other(f"/office/warnings?{back}&error={quote_plus(str(exc))}")
    if outcome.position:
        services.runner.wake()
        await run_in_threadpool(services.runner.wait_until, outcome.position, 5.0)
    message = f"warning on {order_no} acknowledged"
    return _see_other(f"/office/warnings?{back}&done={quote_plus(message)}")
