"""The production plan of a work centre, for anyone with access."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AnyCaller, FreshReader, IntegrationQuery, WorkCentre
from api.problems import problem_responses
from projections import WorkCentrePlan

router = APIRouter(
    prefix="/work-centres",
    tags=["plan"],
    responses=problem_responses(401, 422, 503),
)


@router.get("/{work_centre}/plan", response_model=WorkCentrePlan)
def work_centre_plan(
    work_centre: WorkCentre,
    caller: AnyCaller,
    reader: FreshReader,
    integration: IntegrationQuery = None,
) -> WorkCentrePlan:
    """The open operations at a work centre in working order, and the order running there."""
    return reader.plan(work_centre, integration=integration)
