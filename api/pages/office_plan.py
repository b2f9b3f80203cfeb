"""The plan board: per work centre, what is running or paused now and the queue, each with
a progress bar of good quantity against the order quantity (the plan view, as
``GET /work-centres/{wc}/plan``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.pages.office_common import _context, _page, _services
from api.pages.templating import render

router = APIRouter(prefix="/plan")  # under /office (see api.pages.office)

NOW = ("running", "paused")


def board(services: Any, only: str) -> list[dict[str, Any]]:
    centres = [only] if only else services.reader.work_centres()
    out = []
    for wc in centres:
        plan = services.reader.plan(wc)
        entries = list(plan.entries)
        out.append(
            {
                "work_centre": wc,
                "now": [e for e in entries if e.op_state in NOW],
                "queue": [e for e in entries if e.op_state not in NOW],
            }
        )
    return out


@router.get("")
async def plan_board(
    request: Request, work_centre: Annotated[str, Query(max_length=60)] = ""
) -> Response:
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)
    centres = await run_in_threadpool(board, services, work_centre.strip())
    context = await _context(request, user, centres=centres, work_centre=work_centre)
    return render(request, "office/plan.html", context)
