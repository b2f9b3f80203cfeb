"""ERP events pushed by ERPs that push instead of being polled (same semantics as polling)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import IntegrationCaller, IntegrationQuery, LedgerDep, OrderNo, Recorder, RecorderDep
from api.problems import problem_responses
from api.schemas import CommandPublic, ErpCancellationCreate, ErpOrderCreate
from domain import Actor, Ledger
from domain.commands import CancelInErp, ReceiveErpOrder

router = APIRouter(
    prefix="/erp/orders",
    tags=["erp"],
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)


def _from_erp(recorder: Recorder, ledger: Ledger, integration: str | None) -> Actor:
    """The token's name and role, with the source an ERP change has however it arrives."""
    actor = recorder.actor
    return Actor(actor.id, actor.role, f"erp:{integration or ledger.default_integration}")


@router.post("", response_model=CommandPublic)
def push_erp_order(
    body: ErpOrderCreate,
    caller: IntegrationCaller,
    ledger: LedgerDep,
    recorder: RecorderDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """The ERP states a released order: it is released, a change is applied, or conflicts are
    raised where the floor already started (warn, don't block)."""
    command = ReceiveErpOrder(body.to_domain(), integration=integration)
    return recorder.execute(command, _from_erp(recorder, ledger, integration))


@router.post("/{order_no:path}/cancellation", response_model=CommandPublic)
def push_erp_cancellation(
    order_no: OrderNo,
    body: ErpCancellationCreate,
    caller: IntegrationCaller,
    ledger: LedgerDep,
    recorder: RecorderDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """The ERP cancelled the order: it is cancelled, or a conflict is raised if work started."""
    command = body.to_command(CancelInErp, order_no=order_no, integration=integration)
    return recorder.execute(command, _from_erp(recorder, ledger, integration))
