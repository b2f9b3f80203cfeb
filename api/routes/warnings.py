"""Integration and floor warnings (warn, don't block), for anyone with access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import (
    AnyCaller,
    FilterText,
    FreshReader,
    IntegrationQuery,
    Limit,
    Offset,
    OrderNo,
    RecorderDep,
    SupervisorCaller,
)
from api.problems import problem_responses
from api.schemas import CommandBody, CommandPublic, text_field
from domain.commands import AcknowledgeWarning
from projections import WarningRow

router = APIRouter(
    prefix="/warnings", tags=["warnings"], responses=problem_responses(401, 422, 503)
)


@router.get("", response_model=list[WarningRow])
def list_warnings(
    caller: AnyCaller,
    reader: FreshReader,
    relevant_only: Annotated[bool, Query(description="hide warnings that no longer apply")] = False,
    integration: IntegrationQuery = None,
    order_no: FilterText = None,
    workstation: FilterText = None,
    code: FilterText = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[WarningRow]:
    """Warnings about orders and measuring points, newest first."""
    rows = reader.warnings(
        relevant_only,
        integration=integration,
        order_no=order_no,
        workstation=workstation,
        code=code,
        limit=limit,
        offset=offset,
    )
    return rows


# --- issue #15: a supervisor acknowledges a warning (recorded on the order)


class WarningAcknowledgementCreate(CommandBody):
    """A supervisor's acknowledgement of a warning, with a note."""

    note: Annotated[str, text_field(1000)] = ""


@router.post(
    "/{order_no}/{warning_version}/acknowledgement",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
)
def acknowledge_warning(
    order_no: OrderNo,
    warning_version: Annotated[int, Path(ge=1, le=2**31, description="the warning's version")],
    body: WarningAcknowledgementCreate,
    caller: SupervisorCaller,
    recorder: RecorderDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """A supervisor acknowledges a still-open warning on an order: it is cleared, and the
    acknowledgement (who, the note) is an event on the order."""
    target = {"order_no": order_no, "warning_version": warning_version, "integration": integration}
    return recorder.execute(body.to_command(AcknowledgeWarning, **target))
