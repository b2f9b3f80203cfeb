"""Operators' floor actions on an operation of a works order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import FloorCallDep
from api.problems import problem_responses
from api.reason_check import reason_codes_of, warn_unknown_reasons
from api.schemas import (
    CommandBody,
    CommandPublic,
    OperationEventCreate,
    PauseCreate,
    QuantityReportCreate,
    ReportCreate,
    ResultCreate,
)
from domain.commands import (
    CompleteOperation,
    OrderCommand,
    PauseOperation,
    RecordResult,
    ReportQuantity,
    ResumeOperation,
    StartOperation,
    SubmitReport,
)

router = APIRouter(
    prefix="/orders/{order_no:path}/operations/{op_id}",
    tags=["floor"],
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)


FloorBody = type[CommandBody]

# Each floor action: its path, request body, command and what it means to an operator.
FLOOR_ACTIONS: list[tuple[str, FloorBody, type[OrderCommand], str]] = [
    ("start", OperationEventCreate, StartOperation, "An operator starts work on an operation."),
    ("pause", PauseCreate, PauseOperation,
     "An operator pauses a running operation, giving the stop reason."),
    ("resume", OperationEventCreate, ResumeOperation, "An operator resumes a paused operation."),
    ("complete", OperationEventCreate, CompleteOperation, "An operator completes an operation."),
    ("quantities", QuantityReportCreate, ReportQuantity,
     "An operator reports good, scrap (with a reason) and rework quantities."),
    ("results", ResultCreate, RecordResult,
     "An operator records a quality result, a serial or a batch number."),
    ("reports", ReportCreate, SubmitReport,
     "An operator submits a report of times and amounts for the ERP (its id is `result`)."),
]  # fmt: skip


def _floor_action(path: str, body_type: FloorBody, command: type[OrderCommand], doc: str) -> None:
    """Register ``POST …/{path}``: the body becomes ``command`` on the target operation; stop
    and scrap reasons the integration does not list are recorded with a warning."""
    reasons: Callable[[Any], tuple[str, list[str]]] | None = reason_codes_of(command)

    async def action(
        call: FloorCallDep, request: Request, body: CommandBody | None = None
    ) -> CommandPublic:
        # Decided on the event loop when the ledger can do it without blocking (its group
        # writer saves), else one worker-thread hop (Recorder.execute_now). The answer is
        # serialised here, once (a Response is sent as it is, so FastAPI neither validates it
        # again nor hops to a thread for that), with every header the recorder set, as
        # FastAPI would have merged them.
        recorder = call.recorder
        cmd = call.target.command(body or body_type(), command)
        out = await recorder.execute_now(cmd)
        if reasons is not None:
            kind, codes = reasons(cmd)
            if any(codes):  # reason codes to look up (a warning is recorded per unknown one)
                out = await run_in_threadpool(
                    warn_unknown_reasons, request, recorder, out, kind, codes
                )
        answer = Response(out.model_dump_json(), media_type="application/json")
        answer.raw_headers.extend(recorder.response.raw_headers)
        return answer  # type: ignore[return-value]

    # What FastAPI validates the request with; a body with no required field may be left
    # out (no body, or ``{}``, means "now, no note").
    if _all_optional(body_type):
        action.__annotations__["body"] = body_type | None
    else:
        action.__annotations__["body"] = body_type
        action.__defaults__ = None
    action.__name__ = action.__qualname__ = _snake(command.__name__)
    action.__doc__ = doc
    router.post(f"/{path}", response_model=CommandPublic)(action)


def _all_optional(body_type: FloorBody) -> bool:
    return body_type is OperationEventCreate


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")


for _action in FLOOR_ACTIONS:
    _floor_action(*_action)
