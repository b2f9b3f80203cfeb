"""Operators' floor actions on an operation of a works order."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import LedgerDep, RecorderDep, Target
from api.problems import problem_responses
from api.reason_check import warn_unknown_reasons
from api.schemas import (
    CommandPublic,
    OperationEventCreate,
    PauseCreate,
    QuantityReportCreate,
    ReportCreate,
    ResultCreate,
)

router = APIRouter(
    prefix="/orders/{order_no}/operations/{op_id}",
    tags=["floor"],
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)


@router.post("/start", response_model=CommandPublic)
def start_operation(
    body: OperationEventCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep
) -> CommandPublic:
    """An operator starts work on an operation."""
    return recorder.run(
        lambda key: ledger.start_operation(
            target.order_no,
            target.op_id,
            recorder.actor,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )


@router.post("/pause", response_model=CommandPublic)
def pause_operation(
    body: PauseCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep, request: Request
) -> CommandPublic:
    """An operator pauses a running operation, giving the stop reason."""
    out = recorder.run(
        lambda key: ledger.pause_operation(
            target.order_no,
            target.op_id,
            body.reason_code,
            recorder.actor,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )
    return warn_unknown_reasons(request, ledger, recorder, out, "stop", [body.reason_code])


@router.post("/resume", response_model=CommandPublic)
def resume_operation(
    body: OperationEventCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep
) -> CommandPublic:
    """An operator resumes a paused operation."""
    return recorder.run(
        lambda key: ledger.resume_operation(
            target.order_no,
            target.op_id,
            recorder.actor,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )


@router.post("/complete", response_model=CommandPublic)
def complete_operation(
    body: OperationEventCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep
) -> CommandPublic:
    """An operator completes an operation."""
    return recorder.run(
        lambda key: ledger.complete_operation(
            target.order_no,
            target.op_id,
            recorder.actor,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )


@router.post("/quantities", response_model=CommandPublic)
def report_quantity(
    body: QuantityReportCreate,
    target: Target,
    ledger: LedgerDep,
    recorder: RecorderDep,
    request: Request,
) -> CommandPublic:
    """An operator reports good, scrap (with a reason) and rework quantities."""
    out = recorder.run(
        lambda key: ledger.report_quantity(
            target.order_no,
            target.op_id,
            recorder.actor,
            good=body.good,
            scrap=body.scrap,
            scrap_reason=body.scrap_reason,
            rework=body.rework,
            unit=body.unit,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )
    reasons = [body.scrap_reason] if body.scrap > 0 else []
    return warn_unknown_reasons(request, ledger, recorder, out, "scrap", reasons)


@router.post("/results", response_model=CommandPublic)
def record_result(
    body: ResultCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep
) -> CommandPublic:
    """An operator records a quality result, a serial or a batch number."""
    return recorder.run(
        lambda key: ledger.record_result(
            target.order_no,
            target.op_id,
            recorder.actor,
            passed=body.passed,
            characteristic=body.characteristic,
            measured_value=body.measured_value,
            unit=body.unit,
            serial=body.serial,
            batch=body.batch,
            at=body.at,
            integration=target.integration,
            key=key,
        )
    )


@router.post("/reports", response_model=CommandPublic)
def submit_report(
    body: ReportCreate, target: Target, ledger: LedgerDep, recorder: RecorderDep, request: Request
) -> CommandPublic:
    """An operator submits a report of times and amounts for the ERP (its id is `result`)."""
    out = recorder.run(
        lambda key: ledger.submit_report(
            target.order_no,
            target.op_id,
            recorder.actor,
            started_at=body.started_at,
            ended_at=body.ended_at,
            good=body.good,
            scrap=dict(body.scrap),
            rework=body.rework,
            note=body.note,
            report_id=body.report_id,
            integration=target.integration,
            key=key,
        )
    )
    return warn_unknown_reasons(request, ledger, recorder, out, "scrap", list(body.scrap))
