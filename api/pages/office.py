"""Office pages (issue #15) for supervisors, auditors, the ERP team and admins: sign-in with
a bearer token, the conflicts inbox, the order page (timeline picture, audit trail,
verification badge). Writes are ledger commands run under the signed-in user's name and
role, exactly as the JSON API runs them; every form carries the CSRF token."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AUDIT_ROLES, SUPERVISOR_ROLES
from api.pages import (
    csrf,
    office_plan,
    office_script,
    office_search,
    office_warnings,
    office_writeback,
)
from api.pages.integrations import plant_config
from api.pages.office_auth import (
    OFFICE_ROLES,
    OfficeDenied,
    clear_office_cookie,
    office_user,
    set_office_cookie,
    token_of,
)
from api.pages.office_common import _context, _open_count, _page, _see_other, _services
from api.pages.office_timeline import periods, svg
from api.pages.templating import render
from api.runtime import Services
from domain import DomainError
from domain.commands import ResolveConflict
from projections.export import spreadsheet_cell
from projections.values import plain

router = APIRouter(prefix="/office", include_in_schema=False)

FormText = Annotated[str, Form(max_length=1000)]
CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]
OrderQuery = Annotated[str, Query(min_length=1, max_length=80)]
IntegQuery = Annotated[str | None, Query(max_length=60)]
RESOLUTIONS = {"accept_erp": "Accept ERP", "keep_floor": "Keep floor", "cancel": "Cancel order"}


# ---------------------------------------------------------------------- sign-in


@router.get("")
async def home(request: Request) -> Response:
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    return _see_other("/office/conflicts")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "office/sign_in.html", {"user": None, "error": None})


@router.post("/sign-in")
async def sign_in(request: Request, token: FormText, csrf_token: CsrfField = None) -> Response:
    """Paste a bearer token once: the browser keeps a cookie session under its role."""
    csrf.check_form(request, csrf_token)
    found = await token_of(request, token)
    if found is None:
        context = {"user": None, "error": "That token is unknown, expired or revoked."}
        return render(request, "office/sign_in.html", context, status_code=401)
    if found.role not in OFFICE_ROLES:
        message = (
            f"Role {found.role!r} may not open the office pages; they are for "
            "supervisors, auditors, the ERP team (integration) and admins."
        )
        return render(request, "office/forbidden.html", {"message": message, "user": None}, 403)
    response = _see_other("/office/conflicts")
    set_office_cookie(request, response, token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf_token: CsrfField = None) -> Response:
    csrf.check_form(request, csrf_token)
    response = _see_other("/office/sign-in")
    clear_office_cookie(response)
    return response


# ---------------------------------------------------------------------- conflicts inbox


def _floor_summary(services: Services, order_no: str, integration: str) -> Any:
    return services.reader.status(order_no, integration)


@router.get("/conflicts")
async def conflicts_page(request: Request) -> Response:
    """Every conflict, open first, ERP and floor values side by side, with the floor's work."""
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)

    def read() -> dict[str, Any]:
        rows = services.reader.conflicts(False, limit=10_000)
        opened = [r for r in rows if r.status == "open"]
        settled = sorted(
            (r for r in rows if r.status != "open"),
            key=lambda r: r.resolved_at or r.updated_at or "",
            reverse=True,
        )
        floor = {
            (r.order_no, r.integration): _floor_summary(services, r.order_no, r.integration)
            for r in opened
        }
        return {"opened": opened, "settled": settled, "floor": floor}

    data = await run_in_threadpool(read)
    context = await _context(
        request,
        user,
        **data,
        resolutions=RESOLUTIONS,
        may_resolve=user.may(SUPERVISOR_ROLES),
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
        show=_show,
    )
    return render(request, "office/conflicts.html", context)


def _show(value: Any) -> str:
    value = plain(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "—" if value is None else str(value)


@router.get("/conflicts/count.json")
async def conflicts_count(request: Request) -> Response:
    """The open conflicts count the badge on every office page polls."""
    try:
        await office_user(request)
    except OfficeDenied as denied:
        return JSONResponse({"detail": denied.message}, status_code=403)
    services = await _services(request)
    count = await run_in_threadpool(_open_count, services)
    return JSONResponse({"open": count}, headers={"Cache-Control": "no-store"})


@router.post("/conflicts/resolve")
async def resolve(
    request: Request,
    order_no: Annotated[str, Form(min_length=1, max_length=80)],
    integration: Annotated[str, Form(min_length=1, max_length=60)],
    field: Annotated[str, Form(min_length=1, max_length=60)],
    resolution: Annotated[str, Form(max_length=20)],
    note: FormText = "",
    key: Annotated[str, Form(max_length=80)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """A supervisor settles a conflict with a note (ResolveConflict, as POST /conflicts/...)."""
    csrf.check_form(request, csrf_token)
    user, denied = await _page(request, SUPERVISOR_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    if resolution not in RESOLUTIONS:
        return _see_other(f"/office/conflicts?error=resolution+{resolution!r}+is+not+known")
    services = await _services(request)
    command = ResolveConflict(
        order_no=order_no, integration=integration, field_name=field, resolution=resolution,
        note=note,
    )  # fmt: skip
    idem = f"{user.name}:office:{key or uuid.uuid4().hex}"
    try:
        outcome = await run_in_threadpool(services.ledger.execute, command, user.actor, idem)
    except DomainError as exc:
        context = await _context(request, user, message=str(exc))
        return render(request, "office/error.html", context, status_code=409)
    if outcome.position:
        services.runner.wake()
        await run_in_threadpool(services.runner.wait_until, outcome.position, 5.0)
    return _see_other(f"/office/conflicts?done={order_no}")


# ---------------------------------------------------------------------- the order page


def _verify(services: Services, order_no: str, integration: str | None) -> dict[str, Any]:
    report = services.ledger.verify_order(order_no, integration)
    return {
        "ok": report.ok,
        "events": report.events,
        "findings": [{"version": f.version, "problem": f.problem} for f in report.findings],
    }


@router.get("/order")
async def order_page(
    request: Request,
    no: OrderQuery,
    integration: IntegQuery = None,
    verify: Annotated[bool, Query()] = False,
) -> Response:
    """An order: status, quantities, results, the timeline picture, the audit trail and (on
    demand) the check of its hash chain."""
    user, denied = await _page(request)
    if user is None:
        return denied  # type: ignore[return-value]
    services = await _services(request)
    config = plant_config(request)
    auditor = user.may(AUDIT_ROLES)

    def read() -> dict[str, Any] | None:
        ledger = services.ledger
        integ = integration or ledger.resolve_integration(no, None) or ledger.default_integration
        status = services.reader.status(no, integ)
        if status is None:
            return None
        entries = ledger.history(no, integration=integ)
        now = datetime.now(UTC)
        labels = {r.code: r.label for r in config.reasons.of(integ, "stop")}
        found = periods(entries, now)
        results = [e for e in entries if e.event == "ResultRecorded"]
        return {
            "status": status,
            "integration": integ,
            "picture": svg(status.operations, found, labels, now),
            "periods": found,
            "entries": entries if auditor else [],
            "results": results,
            "verification": _verify(services, no, integ) if verify and auditor else None,
        }

    try:
        data = await run_in_threadpool(read)
    except DomainError as exc:
        data, message = None, str(exc)
    else:
        message = f"No order {no!r} is known."
    if data is None:
        context = await _context(request, user, message=message)
        return render(request, "office/error.html", context, status_code=404)
    context = await _context(request, user, **data, auditor=auditor, show=_show)
    return render(request, "office/order.html", context)


def _cell(value: Any) -> Any:
    return value if isinstance(value, int) else str(value or "")


def _history_rows(services: Services, no: str, integration: str | None) -> list[dict[str, Any]]:
    return [
        dict(asdict(e), details=plain(e.details))
        for e in services.ledger.history(no, integration=integration)
    ]


@router.get("/order/history.{fmt}")
async def order_history_export(
    request: Request, fmt: str, no: OrderQuery, integration: IntegQuery = None
) -> Response:
    """The order's audit trail as CSV or JSON (auditors and admins, as GET .../history)."""
    user, denied = await _page(request, AUDIT_ROLES)
    if user is None:
        return denied  # type: ignore[return-value]
    if fmt not in ("csv", "json"):
        return Response(f"format {fmt!r}: use csv or json", status_code=404)
    services = await _services(request)
    try:
        rows = await run_in_threadpool(_history_rows, services, no, integration)
    except DomainError as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in no)
    disposition = {"Content-Disposition": f'attachment; filename="{safe}-history.{fmt}"'}
    if fmt == "json":
        body = json.dumps(rows, default=str, ensure_ascii=False, indent=1)
        return Response(body, media_type="application/json", headers=disposition)
    out = io.StringIO()
    columns = ["version", "recorded_at", "occurred_at", "actor_id", "actor_role", "source"]
    writer = csv.writer(out)
    writer.writerow([*columns, "event", "summary", "details"])
    for r in rows:
        details = json.dumps(r["details"], default=str)
        cells = [r[c] for c in columns] + [r["event"], r["summary"], details]
        writer.writerow([spreadsheet_cell(_cell(c)) for c in cells])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=disposition)


# ---------------------------------------------------------------------- the other office pages

router.include_router(office_writeback.router)
router.include_router(office_script.router)
router.include_router(office_warnings.router)
router.include_router(office_search.router)
router.include_router(office_plan.router)
