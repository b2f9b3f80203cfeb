"""Search: orders by number prefix, part number, work centre, state and due date; events by
actor and time window ("everything operator X did yesterday") for auditors and admins.

The event search is an indexed query of the events-by-actor view
(:mod:`projections.events_index`), so it finds every matching event however old; it shows
the newest ``MAX_SHOWN`` of them and says so when more matched."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AUDIT_ROLES
from api.pages.office_common import _context, _page, _services
from api.pages.templating import render
from api.runtime import Services
from projections.events_index import IndexedEvent

router = APIRouter(prefix="/search")  # under /office (see api.pages.office)

Text = Annotated[str, Query(max_length=80)]
ORDER_SCAN = 5_000
MAX_SHOWN = 500


class BadSearch(ValueError):
    pass


def _moment(name: str, value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadSearch(f"{name} {value!r} is not a date and time like 2026-11-28T06:00") from None
    return at if at.tzinfo else at.astimezone()  # the server's local time


def find_orders(
    services: Services, prefix: str, part: str, work_centre: str, state: str, due: str
) -> list[Any]:
    rows = services.reader.orders(state=state.strip() or None, limit=ORDER_SCAN)
    prefix, part = prefix.strip(), part.strip()
    rows = [r for r in rows if r.order_no.startswith(prefix) and (not part or r.part_no == part)]
    if not (work_centre.strip() or due.strip()):
        return rows[:MAX_SHOWN]
    out = []
    for r in rows[: MAX_SHOWN * 2]:
        st = services.reader.status(r.order_no, r.integration)
        if st is None:
            continue
        if work_centre.strip() and work_centre.strip() not in {
            o.work_centre for o in st.operations
        }:
            continue
        if due.strip() and (st.due_date or "") != due.strip():
            continue
        out.append(r)
    return out[:MAX_SHOWN]


def find_events(
    services: Services, actor: str, since: datetime | None, until: datetime | None
) -> tuple[list[IndexedEvent], bool]:
    """Events by ``actor`` recorded in [since, until), newest last, from the events-by-actor
    view (the whole ledger); and whether more matched than are shown."""
    return services.reader.events_by_actor(actor, since, until, MAX_SHOWN)


@router.get("")
async def search_page(
    request: Request,
    prefix: Text = "",
    part: Text = "",
    work_centre: Text = "",
    state: Text = "",
    due: Text = "",
    actor: Text = "",
    since: Text = "",
    until: Text = "",
) -> Response:
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)
    error = None
    orders: list[Any] | None = None
    events: list[IndexedEvent] | None = None
    partial = False
    asked_orders = any(v.strip() for v in (prefix, part, work_centre, state, due))
    if asked_orders:
        orders = await run_in_threadpool(
            find_orders, services, prefix, part, work_centre, state, due
        )
    if actor.strip():
        if not user.may(AUDIT_ROLES):
            error = "Searching events by actor is for auditors and admins."
        else:
            try:
                t0, t1 = _moment("since", since), _moment("until", until)
                events, partial = await run_in_threadpool(
                    find_events, services, actor.strip(), t0, t1
                )
            except BadSearch as exc:
                error = str(exc)
    yesterday = (datetime.now().astimezone() - timedelta(days=1)).date()
    context = await _context(
        request, user, orders=orders, events=events, partial=partial, error=error,
        prefix=prefix, part=part, work_centre=work_centre, state=state, due=due, actor=actor,
        since=since, until=until, yesterday=yesterday, shown=MAX_SHOWN,
        auditor=user.may(AUDIT_ROLES),
    )  # fmt: skip
    return render(request, "office/search.html", context)
