"""Operations: liveness, readiness (store reachable, view lag) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import RuntimeDep
from api.problems import store_errors
from api.runtime import StoreUnavailableError
from api.schemas import LivenessPublic, ReadinessPublic

router = APIRouter(prefix="/health", tags=["operations"])
metrics_router = APIRouter(prefix="/metrics", tags=["operations"])


@router.get("/live", response_model=LivenessPublic)
async def liveness() -> LivenessPublic:
    """The process is up and answering."""
    return LivenessPublic(status="ok")


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "the store is unreachable"}},
)
def readiness(runtime: RuntimeDep) -> ReadinessPublic | JSONResponse:
    """Ready when the store answers; reports the ledger's position and how far the views lag."""
    store = runtime.settings.redacted_url()
    try:
        runtime.tokens.ping()
        services = runtime.open()
        head = services.runner.head()
        positions = services.runner.positions()
    except store_errors() as exc:
        detail = exc.detail if isinstance(exc, StoreUnavailableError) else str(exc)
        if not isinstance(exc, StoreUnavailableError):
            runtime.mark_down(detail)
        body = ReadinessPublic(
            status="unavailable",
            store=store,
            position=None,
            view_positions={},
            view_lag=None,
            detail=detail[:300],
        )
        return JSONResponse(body.model_dump(), status_code=503)
    lag = max((head - p for p in positions.values()), default=0)
    return ReadinessPublic(
        status="ready",
        store=store,
        position=head,
        view_positions=positions,
        view_lag=max(0, lag),
    )


@metrics_router.get(
    "",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: requests, latencies, events written, view lag."""
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
