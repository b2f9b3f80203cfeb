"""Integration and floor warnings (warn, don't block), for anyone with access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AnyCaller, FilterText, FreshReader, IntegrationQuery, Limit, Offset
from api.problems import problem_responses
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
