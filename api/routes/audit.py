"""Auditors: an order's full history, and verification of its hash chain."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AuditorCaller, IntegrationQuery, LedgerDep, OrderNo
from api.problems import problem_responses
from api.schemas import (
    AuditFindingPublic,
    HistoryPagePublic,
    VerificationPublic,
    plain,
)

router = APIRouter(
    prefix="/orders",
    tags=["audit"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


def _answered_integration(ledger: LedgerDep, order_no: str, integration: str | None) -> str:
    """The integration whose order was read: the named one, else the default if it holds the
    order, else the one other integration that does (as the ledger resolved it)."""
    if integration:
        return integration
    if ledger.find_order(order_no, ledger.default_integration) is not None:
        return str(ledger.default_integration)
    return ledger.resolve_integration(order_no, None) or str(ledger.default_integration)


@router.get("/{order_no:path}/history", response_model=HistoryPagePublic)
def order_history(
    order_no: OrderNo,
    caller: AuditorCaller,
    ledger: LedgerDep,
    integration: IntegrationQuery = None,
    after_version: Annotated[
        int, Query(ge=0, le=2**31, description="list events after this version")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="events per page")] = 100,
) -> HistoryPagePublic:
    """Every event on an order, oldest first: who, when, from where, what changed (paged)."""
    entries = ledger.history(
        order_no, integration=integration, after_version=after_version, limit=limit
    )
    if not entries and after_version:
        ledger.history(order_no, integration=integration, limit=1)  # unknown order -> 404
    return HistoryPagePublic(
        order_no=order_no.strip(),
        integration=_answered_integration(ledger, order_no, integration),
        entries=[replace(e, details=plain(e.details)) for e in entries],
        next_after_version=entries[-1].version if len(entries) == limit else None,
    )


@router.get("/{order_no:path}/verification", response_model=VerificationPublic)
def verify_order(
    order_no: OrderNo,
    caller: AuditorCaller,
    ledger: LedgerDep,
    integration: IntegrationQuery = None,
) -> VerificationPublic:
    """Check that no stored event of the order was altered or is missing (its hash chain)."""
    report = ledger.verify_order(order_no, integration)
    return VerificationPublic(
        order_no=order_no.strip(),
        integration=_answered_integration(ledger, order_no, integration),
        ok=report.ok,
        events=report.events,
        findings=[
            AuditFindingPublic(version=f.version, problem=f.problem) for f in report.findings
        ],
    )
