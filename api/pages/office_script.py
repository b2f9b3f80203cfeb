"""The report script page (integrations in mode C or E only): filter by work centre, day and
keyed or not; export what is shown as CSV or XLSX (the API's export functions); a supervisor
marks rows keyed one by one or several at once (``MarkRowKeyed``, recorded on each order)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import SUPERVISOR_ROLES
from api.pages import csrf
from api.pages.integrations import plant_config
from api.pages.office_common import _context, _page, _see_other, _services
from api.pages.templating import render
from api.routes.script import XLSX
from domain import DomainError
from domain.commands import MarkRowKeyed
from projections import ScriptFilter, ScriptRow
from projections.export import to_csv, to_xlsx

router = APIRouter(prefix="/script")  # under /office (see api.pages.office)

SCRIPT_MODES = ("C", "E")
CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]
Text = Annotated[str, Query(max_length=60)]


class BadFilter(ValueError):
    pass


def _filters(work_centre: str, day: str, keyed: str) -> ScriptFilter:
    since = until = None
    if day.strip():
        try:
            d = date.fromisoformat(day.strip())
        except ValueError:
            raise BadFilter(f"date {day!r} is not a date like 2026-12-20") from None
        start = datetime.combine(d, time.min).astimezone()  # the server's local day
        since = start.astimezone(UTC).isoformat(timespec="microseconds")
        until = (start + timedelta(days=1)).astimezone(UTC).isoformat(timespec="microseconds")
    if keyed not in ("", "yes", "no"):
        raise BadFilter(f"keyed {keyed!r} is not yes, no or empty")
    return ScriptFilter(
        work_centre=work_centre.strip() or None,
        keyed={"yes": True, "no": False}.get(keyed),
        since=since,
        until=until,
    )


def _rows(request: Request, services: Any, filters: ScriptFilter) -> list[ScriptRow]:
    """Rows of the integrations in mode C or E (one query per such integration)."""
    config = plant_config(request)
    names = [i.name for i in config.config.integrations if i.mode in SCRIPT_MODES]
    rows: list[ScriptRow] = []
    for name in names:
        rows += services.reader.report_script(replace(filters, integration=name))
    return sorted(rows, key=lambda r: r.position)


@router.get("")
async def script_page(
    request: Request, work_centre: Text = "", day: Text = "", keyed: Text = ""
) -> Response:
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)
    error = request.query_params.get("error")
    try:
        filters = _filters(work_centre, day, keyed)
        rows = await run_in_threadpool(_rows, request, services, filters)
    except BadFilter as exc:
        rows, error = [], str(exc)
    query = urlencode({"work_centre": work_centre, "day": day, "keyed": keyed})
    context = await _context(
        request, user, rows=rows, work_centre=work_centre, day=day, keyed=keyed, query=query,
        may_mark=user.may(SUPERVISOR_ROLES), done=request.query_params.get("done"),
        error=error,
    )  # fmt: skip
    return render(request, "office/script.html", context)


@router.get("/export.{fmt}")
async def export(
    request: Request, fmt: str, work_centre: Text = "", day: Text = "", keyed: Text = ""
) -> Response:
    """What the page shows, as CSV or XLSX (numbers stay numbers, no formulas)."""
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    if fmt not in ("csv", "xlsx"):
        return Response(f"format {fmt!r}: use csv or xlsx", status_code=404)
    services = await _services(request)
    try:
        rows = await run_in_threadpool(_rows, request, services, _filters(work_centre, day, keyed))
    except BadFilter as exc:
        return Response(str(exc), status_code=422, media_type="text/plain")
    name = f'attachment; filename="report-script.{fmt}"'
    if fmt == "csv":
        body = to_csv(rows).encode("utf-8")
        return Response(
            body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": name}
        )
    body = await run_in_threadpool(to_xlsx, rows)
    return Response(body, media_type=XLSX, headers={"Content-Disposition": name})


@router.post("/keyed")
async def mark_keyed(
    request: Request,
    rows: Annotated[list[str], Form(max_length=500)],
    back: Annotated[str, Form(max_length=300)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """A supervisor marks rows keyed (each ``<integration>\\t<order_no>\\t<row_id>``)."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, SUPERVISOR_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)
    back = back if back.startswith("work_centre=") else ""
    done, last = 0, 0
    for item in rows:
        parts = item.split("\t")
        if len(parts) != 3:
            return _see_other(f"/office/script?{back}&error=row+{quote_plus(item)}+is+not+valid")
        integ, order_no, row_id = parts
        command = MarkRowKeyed(order_no=order_no, row_id=row_id, integration=integ)
        key = f"{user.name}:office:{uuid.uuid4().hex}"
        try:
            outcome = await run_in_threadpool(services.ledger.execute, command, user.actor, key)
        except DomainError as exc:
            return _see_other(f"/office/script?{back}&error={quote_plus(str(exc))}")
        done += 1
        last = max(last, outcome.position or 0)
    if last:
        services.runner.wake()
        await run_in_threadpool(services.runner.wait_until, last, 5.0)
    return _see_other(f"/office/script?{back}&done={done}+row(s)+marked+keyed")
