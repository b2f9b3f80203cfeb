"""Random histories of one order — floor actions, ERP changes, conflicts and resolutions,
cancellations, reports, keyed rows, warnings — and checks that everything built from the stored
events (the domain fold, the writeback messages, and in the integration variant every view)
agrees with the state the WorkOrder aggregate holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.config import ValueMaps
from adapters.writeback.messages import MessageBuilder
from domain import Actor, DomainError, ErpOperation, Ledger, WorkOrder
from domain.commands import (
    CancelInErp,
    Command,
    CompleteOperation,
    CompleteOrder,
    MarkRowKeyed,
    PauseOperation,
    RaiseWarning,
    ReceiveErpOrder,
    RecordResult,
    ReportQuantity,
    ResolveConflict,
    ResumeOperation,
    StartOperation,
    SubmitReport,
)
from domain.state import OperationState, OrderFold
from tests.factories import ERP, OPERATOR, SUPERVISOR, an_erp_order

OPS = st.sampled_from(["10", "20", "99"])
QTY = st.integers(min_value=0, max_value=12)
KINDS = ("operation_status", "order_status", "production_result", "quality_result", "report")
ORDER_STATUS = {
    "released": "not_started",
    "in_progress": "in_progress",
    "completed": "completed",
    "cancelled": "cancelled",
}
OP_STATUS = {
    "not_started": "not_started",
    "running": "in_progress",
    "paused": "in_progress",
    "completed": "completed",
}
ROUTINGS = {
    "two": (
        ErpOperation("10", "Turn", "LATHE-1", Decimal(10), Decimal(2)),
        ErpOperation("20", "Grind", "GRIND-1", Decimal(5), Decimal(1)),
    ),
    "with 99": (
        ErpOperation("10", "Turn", "LATHE-1", Decimal(10), Decimal(2)),
        ErpOperation("20", "Grind", "GRIND-1", Decimal(5), Decimal(1)),
        ErpOperation("99", "Check", "QA-1", Decimal(1), Decimal("0.5")),
    ),
    "one": (ErpOperation("10", "Turn", "LATHE-2", Decimal(8), Decimal(2)),),
}


class OrderHistoryMachine(RuleBasedStateMachine):
    """Floor, ERP and supervisors act on one order in any order."""

    integration = "erp"

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.order_no = f"WO-{uuid.uuid4().hex[:8]}"
        self.clock = datetime.now(UTC) - timedelta(days=1)
        self.builder = MessageBuilder("d", ValueMaps(), KINDS)
        self.ledger.execute(ReceiveErpOrder(self.erp()), ERP)

    def erp(self, quantity: int = 10, routing: str = "two") -> Any:
        return an_erp_order(self.order_no, quantity=Decimal(quantity), routing=ROUTINGS[routing])

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=7)
        return self.clock

    def order(self) -> WorkOrder:
        return self.ledger.get_order(self.order_no)

    def attempt(self, command: Command, actor: Actor = OPERATOR) -> bool:
        """Run a command; a refusal must record nothing."""
        before = self.ledger.position()
        try:
            self.ledger.execute(command, actor)
        except DomainError:
            assert self.ledger.position() == before, "a refused command recorded something"
            return False
        return True

    # ------------------------------------------------------------------ the floor

    @rule(op=OPS)
    def start(self, op: str) -> None:
        self.attempt(StartOperation(self.order_no, op, at=self.tick()))

    @rule(op=OPS, reason=st.sampled_from(["M1", "TOOL"]))
    def pause(self, op: str, reason: str) -> None:
        self.attempt(PauseOperation(self.order_no, op, reason, at=self.tick()))

    @rule(op=OPS)
    def resume(self, op: str) -> None:
        self.attempt(ResumeOperation(self.order_no, op, at=self.tick()))

    @rule(op=OPS)
    def complete(self, op: str) -> None:
        self.attempt(CompleteOperation(self.order_no, op, at=self.tick()))

    @rule(op=OPS, good=QTY, scrap=QTY, rework=QTY, reason=st.sampled_from(["S1", "S2"]))
    def report(self, op: str, good: int, scrap: int, rework: int, reason: str) -> None:
        self.attempt(
            ReportQuantity(
                self.order_no,
                op,
                good=good,
                scrap=scrap,
                scrap_reason=reason,
                rework=rework,
                at=self.tick(),
            )
        )

    @rule(op=OPS, passed=st.sampled_from([True, False, None]))
    def result(self, op: str, passed: bool | None) -> None:
        self.attempt(
            RecordResult(
                self.order_no,
                op,
                passed=passed,
                serial="S-1" if passed is None else "",
                at=self.tick(),
            )
        )

    @rule(op=OPS, good=QTY, scrap=QTY)
    def submit_report(self, op: str, good: int, scrap: int) -> None:
        end = self.tick()
        self.attempt(
            SubmitReport(
                self.order_no,
                op,
                started_at=end - timedelta(minutes=5),
                ended_at=end,
                good=good,
                scrap={"S1": scrap},
                note="shift",
            )
        )

    @precondition(lambda self: any(not k for k in self.order().script_rows.values()))
    @rule(data=st.data())
    def key_row(self, data: st.DataObject) -> None:
        rows = sorted(r for r, keyed in self.order().script_rows.items() if not keyed)
        self.ledger.execute(
            MarkRowKeyed(self.order_no, data.draw(st.sampled_from(rows))), SUPERVISOR
        )

    @rule()
    def complete_order(self) -> None:
        self.attempt(CompleteOrder(self.order_no, at=self.tick()))

    # ------------------------------------------------------------------ the ERP and supervisors

    @rule(
        quantity=st.integers(min_value=1, max_value=20), routing=st.sampled_from(sorted(ROUTINGS))
    )
    def erp_change(self, quantity: int, routing: str) -> None:
        self.ledger.execute(ReceiveErpOrder(self.erp(quantity, routing)), ERP)

    @rule()
    def erp_cancel(self) -> None:
        self.ledger.execute(CancelInErp(self.order_no), ERP)

    @precondition(lambda self: bool(self.order().conflicts))
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        field = data.draw(st.sampled_from(sorted(self.order().conflicts)))
        how = data.draw(st.sampled_from(["accept_erp", "keep_floor", "cancel"]))
        self.ledger.execute(ResolveConflict(self.order_no, field, how), SUPERVISOR)

    @rule(code=st.sampled_from(["unmapped_unit", "over_quantity", "unknown_operation"]), op=OPS)
    def warning(self, code: str, op: str) -> None:
        self.ledger.execute(RaiseWarning(self.order_no, code, f"{code} on {op}", reference=op), ERP)

    # ------------------------------------------------------------------ checks

    def stored_events(self) -> list[Any]:
        return list(self.ledger.events.get(self.order().id))

    @invariant()
    def folding_the_stored_events_gives_the_aggregate_state(self) -> None:
        agg = self.order()
        fold = OrderFold()
        for e in self.stored_events():
            fold.fold(e)
        # the aggregate loaded from the store (not from the cache) holds the same state
        self.ledger.repository.cache.get(
            agg.id, evict=True
        ) if self.ledger.repository.cache else None
        assert self.ledger.repository.get(agg.id).folded == agg.folded
        assert fold == agg.folded
        assert fold.version == agg.version
        assert OrderFold.from_dict(fold.to_dict()) == fold

    @invariant()
    def still_relevant_warnings_follow_the_relevance_rules(self) -> None:
        agg = self.order().folded
        events = self.stored_events()
        # a warning is judged by the events after it (when raised, it is relevant)
        judged = max(
            e.originator_version for e in events if not isinstance(e, WorkOrder.WarningRaised)
        )
        for w in agg.open_warnings:
            if w.version > judged:
                continue
            if w.code == "unknown_operation":
                assert w.reference not in agg.routing_ids(), w
            if w.code == "over_quantity" and w.reference in agg.operations:
                assert agg.operations[w.reference].good > agg.quantity, w

    @invariant()
    def the_writeback_message_of_the_last_event_states_the_aggregate_state(self) -> None:
        agg = self.order()
        events = self.stored_events()
        fold = OrderFold()
        for e in events:
            fold.fold(e)
        last = events[-1]
        if not self.builder.wanted(last):
            return
        m = self.builder.build(1, last, fold)
        assert m.data["order_status"] == ORDER_STATUS[agg.state.value]
        op_id = getattr(last, "op_id", None)
        if op_id is not None:
            state = agg.progress_state(op_id)
            assert m.data["operation_status"] == OP_STATUS[state.value]
            assert m.data["floor_state"] == state.value
        timing = m.data.get("timing")
        if timing is not None and op_id is not None and "good_so_far" in timing:
            op = agg.operations[op_id]
            assert Decimal(timing["good_so_far"]) == op.good
            running = 0.0
            if op.running_since is not None:  # live: counted up to the event
                running = (last.occurred_at - op.running_since).total_seconds()
            assert abs(float(timing["actual_seconds"]) - op.run_seconds - running) < 0.01
            std = agg.folded.standard_minutes(op_id) * 60
            assert Decimal(timing["standard_seconds"]) == std
        if isinstance(last, WorkOrder.OrderCompleted):
            assert Decimal(m.data["good"]) == agg.good_total


def assert_views_match_aggregate(ledger: Ledger, reader: Any, order_no: str, integ: str) -> None:
    """Every view (status, plan, report script, conflicts, warnings) agrees with the aggregate."""
    agg = ledger.get_order(order_no, integ)
    fold = agg.folded
    s = reader.status(order_no, integ)
    assert s is not None
    assert (s.state, s.version, s.reports) == (agg.state.value, agg.version, agg.reports)
    assert (s.open_conflicts, s.warnings) == (len(agg.conflicts), agg.warnings)
    assert s.open_warnings == len(fold.open_warnings)
    assert (s.good, s.quantity) == (agg.good_total, agg.quantity)
    assert s.scrap == {k: v for k, v in fold.scrap_by_reason().items()}
    assert s.rework == fold.rework_total()
    ops = {o.op_id: o for o in s.operations}
    for op_id, p in agg.operations.items():
        if not p.in_routing and not p.touched:
            assert op_id not in ops
            continue
        o = ops[op_id]
        assert (o.state, o.good, o.rework, o.scrap) == (p.state.value, p.good, p.rework, p.scrap)
        assert (o.results, o.failed_results, o.in_routing) == (
            p.results,
            p.failed_results,
            p.in_routing,
        )
        assert abs(o.run_seconds - p.run_seconds) < 1e-6
    # plan: an open order's routing operations at their work centres, none otherwise
    for op_id in fold.routing_ids():
        wc = fold.work_centre_of(op_id)
        entries = [e for e in reader.plan(wc).entries if e.order_no == order_no]
        entries = [e for e in entries if e.op_id == op_id]
        if fold.is_open:
            assert len(entries) == 1, (op_id, wc)
            assert entries[0].op_state == fold.progress_state(op_id).value
            assert entries[0].order_state == agg.state.value
            assert entries[0].good == (agg.operations[op_id].good)
        else:
            assert entries == []
    # report script: one row per row the order has, keyed as the order says
    from projections import ScriptFilter

    rows = reader.report_script(ScriptFilter(order_no=order_no, integration=integ))
    assert {r.row_id: r.keyed for r in rows} == agg.script_rows
    # conflicts: the open ones are the aggregate's, with its ERP values
    open_rows = reader.conflicts(open_only=True, order_no=order_no, integration=integ)
    assert sorted(r.field for r in open_rows) == sorted(agg.conflicts)
    # warnings: still relevant exactly when the fold keeps them
    relevant = reader.warnings(relevant_only=True, order_no=order_no, integration=integ)
    assert sorted(int(w.warning_id.rsplit(":", 1)[1]) for w in relevant) == sorted(
        w.version for w in fold.open_warnings
    )
    everything = reader.warnings(order_no=order_no, integration=integ)
    assert len(everything) == agg.warnings


__all__ = ["OperationState", "OrderHistoryMachine", "assert_views_match_aggregate"]
