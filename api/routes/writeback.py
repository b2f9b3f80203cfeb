"""ERP writeback: per-destination status, supervisors' retry and skip, report triggers (mode E)."""

from __future__ import annotations

import os
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from adapters.config import CONFIG_ENV, ConfigError, IntegrationsConfig, load_config
from adapters.writeback.service import DestinationStatus, WritebackError, WritebackService
from api.deps import (
    NON_BLANK,
    AnyCaller,
    FloorCaller,
    IntegrationQuery,
    LedgerDep,
    OrderNo,
    Principal,
    RecorderDep,
    SupervisorCaller,
)
from api.problems import PermissionDeniedError, problem_responses
from api.schemas import CommandPublic, StrictModel, text_field
from domain import Ledger

router = APIRouter(prefix="/writeback", tags=["writeback"])

DestinationName = Annotated[
    str, Path(min_length=1, max_length=60, pattern=NON_BLANK, description="destination name")
]
ReportId = Annotated[str, Path(min_length=1, max_length=80, pattern=NON_BLANK)]
_lock = threading.Lock()


def get_writeback(request: Request, ledger: LedgerDep) -> WritebackService:
    """The writeback service over the app's ledger and $FLOORLEDGER_CONFIG (made once)."""
    with _lock:
        svc: WritebackService | None = getattr(request.app.state, "writeback", None)
        if svc is None or svc.ledger is not ledger:
            if not os.environ.get(CONFIG_ENV):
                config = IntegrationsConfig()  # no integrations configured: no destinations
            else:
                try:
                    config = load_config()
                except ConfigError as exc:
                    raise HTTPException(
                        503, f"the integration configuration is unusable: {exc}"
                    ) from None
            svc = WritebackService(ledger, config)
            request.app.state.writeback = svc
        return svc


WritebackDep = Annotated[WritebackService, Depends(get_writeback)]


def _status(svc: WritebackService, name: str | None) -> list[DestinationStatus]:
    try:
        return svc.status(name)
    except WritebackError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get(
    "/destinations",
    response_model=list[DestinationStatus],
    responses=problem_responses(401, 422, 503),
)
def destinations(caller: AnyCaller, svc: WritebackDep) -> list[DestinationStatus]:
    """Per ERP destination: backlog size, oldest unsent event's age, parked orders, last error."""
    return _status(svc, None)


@router.get(
    "/destinations/{name}",
    response_model=DestinationStatus,
    responses=problem_responses(401, 404, 422, 503),
)
def destination(name: DestinationName, caller: AnyCaller, svc: WritebackDep) -> DestinationStatus:
    """One ERP destination's writeback status."""
    return _status(svc, name)[0]


class WritebackDecisionCreate(StrictModel):
    """Why a supervisor retries or skips a refused message (recorded with the decision)."""

    note: Annotated[str, text_field(1000)] = ""


def _decide(
    svc: WritebackService,
    recorder: Any,
    fn: Any,
    name: str,
    order_no: str,
    body: WritebackDecisionCreate | None,
) -> Any:
    note = body.note if body is not None else ""
    try:
        return recorder.run(lambda key: fn(name, order_no, recorder.actor, key, note))
    except WritebackError as exc:
        raise HTTPException(404, str(exc)) from None


@router.post(
    "/destinations/{name}/parked/{order_no:path}/retry",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
)
def retry(
    name: DestinationName,
    order_no: OrderNo,
    caller: SupervisorCaller,
    svc: WritebackDep,
    recorder: RecorderDep,
    body: WritebackDecisionCreate | None = None,
) -> CommandPublic:
    """A supervisor sends an order's refused message again (recorded on the order),
    with an optional note (body ``{"note": "…"}``, or no body)."""
    out: CommandPublic = _decide(svc, recorder, svc.retry, name, order_no, body)
    return out


@router.post(
    "/destinations/{name}/parked/{order_no:path}/skip",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
)
def skip(
    name: DestinationName,
    order_no: OrderNo,
    caller: SupervisorCaller,
    svc: WritebackDep,
    recorder: RecorderDep,
    body: WritebackDecisionCreate | None = None,
) -> CommandPublic:
    """A supervisor drops an order's refused message; its later messages go on (recorded),
    with an optional note (body ``{"note": "…"}``, or no body)."""
    out: CommandPublic = _decide(svc, recorder, svc.skip, name, order_no, body)
    return out


@router.post(
    "/orders/{order_no:path}/reports/{report_id}/trigger",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def trigger(
    order_no: OrderNo,
    report_id: ReportId,
    caller: FloorCaller,
    svc: WritebackDep,
    recorder: RecorderDep,
    ledger: LedgerDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """An operator or supervisor sends a submitted report to the ERP now (mode E); an
    operator scoped to work centres may trigger only reports of operations there."""
    _check_report_scope(ledger, caller, order_no, report_id, integration)
    try:
        return recorder.run(
            lambda key: svc.trigger(order_no, report_id, recorder.actor, integration, key)
        )
    except WritebackError as exc:
        raise HTTPException(409, str(exc)) from None


def _check_report_scope(
    ledger: Ledger, caller: Principal, order_no: str, report_id: str, integration: str | None
) -> None:
    """Refuse (403) a scoped caller's trigger of a report of an operation outside its scope,
    as the operation routes do; an unknown order or report is left to the trigger (404)."""
    if caller.work_centre is None and not caller.work_centres:
        return
    order = ledger.find_order(order_no, integration)
    if order is None:
        return
    wanted = report_id.strip()
    entries = ledger.history(order_no, integration=integration)
    for entry in entries:
        if entry.event == "ReportSubmitted" and entry.details.get("report_id") == wanted:
            op_id = str(entry.details.get("op_id"))
            wc = ledger.work_centres_of(order, op_id)
            if wc is None or not caller.may_work_at(wc):
                raise PermissionDeniedError(
                    f"token {caller.name!r} is scoped to work centre {caller.work_centre!r}; "
                    f"report {wanted!r} of order {order.order_no!r} is for operation "
                    f"{op_id!r} at {wc or '(none)'!r}",
                    field="report_id",
                    value=report_id,
                )
            return


__all__ = ["router"]
