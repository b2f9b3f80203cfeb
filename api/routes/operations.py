"""Operators' floor actions on an operation of a works order."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RecorderDep, Target
from api.problems import problem_responses
from api.schemas import (
    CommandPublic,
    OperationEventCreate,
    PauseCreate,
    QuantityReportCreate,
    ReportCreate,
    ResultCreate,
)
from domain.commands import (
    CompleteOperation,
    PauseOperation,
    RecordResult,
    ReportQuantity,
    ResumeOperation,
    StartOperation,
    SubmitReport,
)

router = APIRouter(
    prefix="/orders/{order_no}/operations/{op_id}",
    tags=["floor"],
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)


@router.post("/start", response_model=CommandPublic)
def start_operation(
    body: OperationEventCreate, target: Target, recorder: RecorderDep
) -> CommandPublic:
    """An operator starts work on an operation."""
    return recorder.execute(target.command(body, StartOperation))


@router.post("/pause", response_model=CommandPublic)
def pause_operation(body: PauseCreate, target: Target, recorder: RecorderDep) -> CommandPublic:
    """An operator pauses a running operation, giving the stop reason."""
    return recorder.execute(target.command(body, PauseOperation))


@router.post("/resume", response_model=CommandPublic)
def resume_operation(
    body: OperationEventCreate, target: Target, recorder: RecorderDep
) -> CommandPublic:
    """An operator resumes a paused operation."""
    return recorder.execute(target.command(body, ResumeOperation))


@router.post("/complete", response_model=CommandPublic)
def complete_operation(
    body: OperationEventCreate, target: Target, recorder: RecorderDep
) -> CommandPublic:
    """An operator completes an operation."""
    return recorder.execute(target.command(body, CompleteOperation))


@router.post("/quantities", response_model=CommandPublic)
def report_quantity(
    body: QuantityReportCreate, target: Target, recorder: RecorderDep
) -> CommandPublic:
    """An operator reports good, scrap (with a reason) and rework quantities."""
    return recorder.execute(target.command(body, ReportQuantity))


@router.post("/results", response_model=CommandPublic)
def record_result(body: ResultCreate, target: Target, recorder: RecorderDep) -> CommandPublic:
    """An operator records a quality result, a serial or a batch number."""
    return recorder.execute(target.command(body, RecordResult))


@router.post("/reports", response_model=CommandPublic)
def submit_report(body: ReportCreate, target: Target, recorder: RecorderDep) -> CommandPublic:
    """An operator submits a report of times and amounts for the ERP (its id is `result`)."""
    return recorder.execute(target.command(body, SubmitReport))
