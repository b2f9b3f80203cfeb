"""An order's status, for anyone with access; completing the order, for the floor."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import (
    AnyCaller,
    FloorCaller,
    FreshStatusReader,
    IntegrationQuery,
    LedgerDep,
    OrderNo,
    RecorderDep,
    RuntimeDep,
    ServicesDep,
)
from api.problems import PermissionDeniedError, problem_responses
from api.runtime import ViewsBehindError
from api.schemas import CommandPublic, OperationEventCreate
from domain import OrderNotFoundError
from domain.commands import CompleteOrder
from projections import OrderStatus

router = APIRouter(
    prefix="/orders",
    tags=["orders"],
    responses=problem_responses(401, 404, 422, 503),
)


@router.get("/{order_no:path}/status", response_model=OrderStatus)
def order_status(
    order_no: OrderNo,
    caller: AnyCaller,
    reader: FreshStatusReader,
    ledger: LedgerDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    integration: IntegrationQuery = None,
) -> OrderStatus:
    """An order's state, operations, quantities, times and open conflicts and warnings."""
    no = order_no.strip()
    integ = integration or ledger.default_integration
    status = reader.status(no, integ)
    if status is None:
        other = ledger.resolve_integration(order_no, integration)
        if other:
            integ = other
            status = reader.status(no, other)
    if status is None and ledger.find_order(no, integ) is not None:
        # The ledger holds the order but the status view has not folded it yet (released a
        # moment ago, or the views are busy): wait for the view rather than answer 404.
        head = ledger.position()
        timeout = runtime.settings.max_read_wait_seconds
        if not services.runner.wait_until(head, timeout, ["status"]):
            raise ViewsBehindError(head, timeout)
        status = reader.status(no, integ)
    if status is None:
        raise OrderNotFoundError(order_no, integ)
    return status


@router.post(
    "/{order_no:path}/complete",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def complete_order(
    order_no: OrderNo,
    caller: FloorCaller,
    recorder: RecorderDep,
    body: OperationEventCreate | None = None,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """The floor completes the whole order (operators scoped to one work centre may not)."""
    if caller.work_centre is not None:
        raise PermissionDeniedError(
            f"token {caller.name!r} is scoped to work centre {caller.work_centre!r}; "
            "completing a whole order needs an unscoped floor token",
            field="order_no",
            value=order_no,
        )
    target = {"order_no": order_no.strip(), "integration": integration}
    return recorder.execute((body or OperationEventCreate()).to_command(CompleteOrder, **target))
