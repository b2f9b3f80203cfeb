"""Reason codes as master data: the stop and scrap reasons each integration configures."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import AnyCaller, IntegrationQuery
from api.pages.integrations import plant_config
from api.problems import problem_responses

router = APIRouter(tags=["master data"], responses=problem_responses(401, 422))


class ReasonCodePublic(BaseModel):
    """A stop (pause) or scrap reason: its code and the label people read."""

    integration: str
    kind: Literal["stop", "scrap"]
    code: str
    label: str


@router.get("/reason-codes", response_model=list[ReasonCodePublic])
def reason_codes(
    request: Request,
    caller: AnyCaller,
    integration: IntegrationQuery = None,
    kind: Annotated[Literal["stop", "scrap"] | None, Query(description="only this kind")] = None,
) -> list[ReasonCodePublic]:
    """The stop and scrap reasons of every integration (or one), as configured."""
    reasons = plant_config(request).reasons
    return [
        ReasonCodePublic(integration=name, kind=r.kind, code=r.code, label=r.label)  # type: ignore[arg-type]
        for name in sorted(reasons.by_integration)
        if integration is None or name == integration
        for r in reasons.of(name, kind)
    ]
