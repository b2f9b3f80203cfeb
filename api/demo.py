"""The demo: a sample order worked through a short shift, so a new user sees the ledger at work."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain import Actor, ErpOperation, ErpOrder, Ledger
from domain.commands import (
    Command,
    CompleteOperation,
    PauseOperation,
    ReceiveErpOrder,
    RecordResult,
    ReportQuantity,
    ResolveConflict,
    ResumeOperation,
    StartOperation,
    SubmitReport,
)
from domain.floortime import FloorTimes

ERP = Actor("demo-erp", "integration", "erp:demo")
OPERATOR = Actor("anna", "operator", "cli")
SUPERVISOR = Actor("sam", "supervisor", "cli")
# The window of floor times for a recorded history: any past time, no backdated warning.
HISTORY = FloorTimes(max_backdate=None)


def sample_order(order_no: str) -> ErpOrder:
    """A bracket order with a three-operation routing."""
    return ErpOrder(
        order_no=order_no,
        part_no="BRK-200",
        description="Mounting bracket, powder coated",
        quantity=Decimal(50),
        unit="pcs",
        due_date=(datetime.now(UTC) + timedelta(days=3)).date(),
        priority=2,
        work_centre="FAB",
        routing=(
            ErpOperation("10", "Laser cut", "LASER-1", Decimal(15), Decimal("0.8")),
            ErpOperation("20", "Bend", "PRESS-2", Decimal(10), Decimal("0.5")),
            ErpOperation("30", "Powder coat", "COAT-1", Decimal(20), Decimal("0.3")),
        ),
    )


def run_demo(ledger: Ledger, order_no: str | None = None) -> str:
    """Record the demo shift into ``ledger``; returns the demo order number."""
    now = datetime.now(UTC).replace(microsecond=0)
    order_no = order_no or f"DEMO-{now:%Y%m%d-%H%M%S}"
    integration = "demo"
    order = sample_order(order_no)
    t0 = now - timedelta(hours=3)

    def record(command: Command, actor: Actor) -> None:
        # the demo records a shift that already happened: a history, told with its own times
        ledger.execute(command, actor, times=HISTORY)

    record(ReceiveErpOrder(order, integration=integration), ERP)

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    record(StartOperation(order_no, "10", at=at(0), integration=integration), OPERATOR)
    record(PauseOperation(order_no, "10", "MAT-WAIT", at=at(20), integration=integration), OPERATOR)
    record(ResumeOperation(order_no, "10", at=at(35), integration=integration), OPERATOR)
    record(
        ReportQuantity(
            order_no,
            "10",
            good=48,
            scrap=2,
            scrap_reason="BURR",
            at=at(70),
            integration=integration,
        ),
        OPERATOR,
    )
    record(
        RecordResult(
            order_no,
            "10",
            passed=True,
            characteristic="hole distance",
            measured_value="42.05",
            unit="mm",
            serial="SN-0001",
            at=at(71),
            integration=integration,
        ),
        OPERATOR,
    )
    record(CompleteOperation(order_no, "10", at=at(72), integration=integration), OPERATOR)
    record(StartOperation(order_no, "20", at=at(80), integration=integration), OPERATOR)
    record(ReportQuantity(order_no, "20", good=48, at=at(120), integration=integration), OPERATOR)
    record(CompleteOperation(order_no, "20", at=at(121), integration=integration), OPERATOR)
    record(
        SubmitReport(
            order_no,
            "20",
            started_at=at(80),
            ended_at=at(121),
            good=48,
            note="bent",
            integration=integration,
        ),
        OPERATOR,
    )
    record(StartOperation(order_no, "30", at=at(125), integration=integration), OPERATOR)
    # The planner raises the quantity in the ERP while the order is already running:
    # the floor keeps its value and a supervisor decides.
    record(ReceiveErpOrder(replace(order, quantity=Decimal(60)), integration=integration), ERP)
    record(
        ResolveConflict(
            order_no,
            "quantity",
            "keep_floor",
            note="material for 50 only; planner informed",
            integration=integration,
        ),
        SUPERVISOR,
    )
    return order_no
