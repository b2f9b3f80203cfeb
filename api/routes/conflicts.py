"""Conflicts between ERP changes and work already done on the floor, and their resolution."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import (
    NON_BLANK,
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
from api.schemas import CommandPublic, ConflictResolutionCreate, plain
from domain.commands import ResolveConflict
from projections import ConflictRow

router = APIRouter(prefix="/conflicts", tags=["conflicts"])

FieldName = Annotated[
    str, Path(min_length=1, max_length=60, pattern=NON_BLANK, description="e.g. quantity")
]


@router.get("", response_model=list[ConflictRow], responses=problem_responses(401, 422, 503))
def list_conflicts(
    caller: AnyCaller,
    reader: FreshReader,
    open_only: Annotated[bool, Query(description="only conflicts still open")] = False,
    order_no: FilterText = None,
    integration: IntegrationQuery = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[ConflictRow]:
    """Conflicts (open, resolved or withdrawn), the ERP's and the floor's values side by side."""
    rows = reader.conflicts(
        open_only, integration=integration, order_no=order_no, limit=limit, offset=offset
    )
    return [
        replace(r, erp_value=plain(r.erp_value), floor_value=plain(r.floor_value)) for r in rows
    ]


@router.post(
    "/{order_no:path}/{field}/resolution",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def resolve_conflict(
    order_no: OrderNo,
    field: FieldName,
    body: ConflictResolutionCreate,
    caller: SupervisorCaller,
    recorder: RecorderDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """A supervisor settles a conflict: accept the ERP change, keep the floor values, or cancel."""
    target = {"order_no": order_no, "field_name": field, "integration": integration}
    return recorder.execute(body.to_command(ResolveConflict, **target))
