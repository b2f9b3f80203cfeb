"""An order's status, for anyone with access."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AnyCaller, FreshReader, IntegrationQuery, LedgerDep, OrderNo
from api.problems import problem_responses
from api.schemas import OrderStatusPublic
from domain import OrderNotFoundError

router = APIRouter(
    prefix="/orders",
    tags=["orders"],
    responses=problem_responses(401, 404, 422, 503),
)


@router.get("/{order_no}/status", response_model=OrderStatusPublic)
def order_status(
    order_no: OrderNo,
    caller: AnyCaller,
    reader: FreshReader,
    ledger: LedgerDep,
    integration: IntegrationQuery = None,
) -> OrderStatusPublic:
    """An order's state, operations, quantities, times and open conflicts and warnings."""
    integ = integration or ledger.default_integration
    status = reader.status(order_no.strip(), integ)
    if status is None:
        raise OrderNotFoundError(order_no, integ)
    return OrderStatusPublic.model_validate(status)
