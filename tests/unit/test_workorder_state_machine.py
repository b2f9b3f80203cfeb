"""Random interleavings of floor actions and ERP changes against the Ledger (in memory)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain import DomainError, WorkOrder
from domain.commands import (
    CancelInErp,
    Command,
    CompleteOperation,
    PauseOperation,
    ReceiveErpOrder,
    ReportQuantity,
    ResolveConflict,
    ResumeOperation,
    StartOperation,
)
from domain.workorder import ERP_FIELDS
from tests.factories import ERP, OPERATOR, SUPERVISOR, a_memory_ledger, an_erp_order
from tests.support.order_machine import OrderHistoryMachine

OPS = st.sampled_from(["10", "20", "99"])
QTY = st.integers(min_value=-2, max_value=30)


class LedgerMachine(RuleBasedStateMachine):
    """Floor and ERP act on one order in any order; the ledger must stay consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = a_memory_ledger()
        self.ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
        self.good: dict[str, Decimal] = defaultdict(Decimal)
        self.scrap: dict[str, Decimal] = defaultdict(Decimal)
        self.rework: dict[str, Decimal] = defaultdict(Decimal)
        self.started = False
        self.erp_quantity = Decimal(10)
        self.erp_priority = 1

    def order(self) -> WorkOrder:
        return self.ledger.get_order("WO-1")

    def attempt(self, command: Command) -> bool:
        """Run a command; a refusal must record nothing."""
        before = self.ledger.position()
        try:
            self.ledger.execute(command, OPERATOR)
        except DomainError:
            assert self.ledger.position() == before, "a refused command recorded something"
            return False
        return True

    @rule(op=OPS)
    def start(self, op: str) -> None:
        if self.attempt(StartOperation("WO-1", op)):
            self.started = True

    @rule(op=OPS, reason=st.sampled_from(["M1", "TOOL", ""]))
    def pause(self, op: str, reason: str) -> None:
        self.attempt(PauseOperation("WO-1", op, reason))

    @rule(op=OPS)
    def resume(self, op: str) -> None:
        self.attempt(ResumeOperation("WO-1", op))

    @rule(op=OPS)
    def complete(self, op: str) -> None:
        if self.attempt(CompleteOperation("WO-1", op)):
            self.started = True

    @rule(op=OPS, good=QTY, scrap=QTY, rework=QTY, reason=st.sampled_from([None, "S1", "S2"]))
    def report(self, op: str, good: int, scrap: int, rework: int, reason: str | None) -> None:
        if self.attempt(
            ReportQuantity("WO-1", op, good=good, scrap=scrap, scrap_reason=reason, rework=rework)
        ):
            self.started = True
            self.good[op] += good
            self.scrap[op] += scrap
            self.rework[op] += rework

    @rule(quantity=st.integers(min_value=1, max_value=20), priority=st.integers(0, 3))
    def erp_change(self, quantity: int, priority: int) -> None:
        self.ledger.execute(
            ReceiveErpOrder(an_erp_order(quantity=Decimal(quantity), priority=priority)), ERP
        )

    @rule()
    def erp_cancel(self) -> None:
        self.ledger.execute(CancelInErp("WO-1"), ERP)

    @precondition(lambda self: bool(self.order().conflicts))
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        field = data.draw(st.sampled_from(sorted(self.order().conflicts)))
        how = data.draw(st.sampled_from(["accept_erp", "keep_floor", "cancel"]))
        self.ledger.execute(ResolveConflict("WO-1", field, how), SUPERVISOR)

    @invariant()
    def replaying_the_stored_events_rebuilds_identical_state(self) -> None:
        cached = self.order()
        self.ledger.repository.cache.get(cached.id, evict=True)  # type: ignore[union-attr]
        replayed = self.ledger.repository.get(cached.id)
        assert vars(replayed) == vars(cached)

    @invariant()
    def reported_totals_equal_the_sum_of_the_reports(self) -> None:
        order = self.order()
        for op, progress in order.operations.items():
            assert progress.good == self.good[op]
            assert progress.scrap_total == self.scrap[op]
            assert progress.rework == self.rework[op]

    @invariant()
    def at_most_one_open_conflict_per_field_and_only_on_a_started_order(self) -> None:
        order = self.order()
        assert set(order.conflicts) <= set(ERP_FIELDS)
        if order.conflicts:
            assert order.floor_activity
        for field, conflict in order.conflicts.items():
            assert conflict.erp_value == order.erp[field]
            assert conflict.erp_value != order.floor[field]

    @invariant()
    def every_erp_difference_on_a_started_order_is_an_open_conflict_or_was_settled(self) -> None:
        order = self.order()
        if not order.floor_activity:
            assert order.erp == order.floor
        history = self.ledger.history("WO-1")
        settled = {e.details["field"] for e in history if e.event == "ConflictResolved"}
        for field in ERP_FIELDS:
            if order.erp[field] != order.floor[field]:
                assert field in order.conflicts or field in settled or field == "status"

    @invariant()
    def the_hash_chain_verifies(self) -> None:
        assert self.ledger.verify_order("WO-1").ok


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_random_floor_and_erp_interleavings_keep_the_ledger_consistent = LedgerMachine.TestCase


class InMemoryOrderHistory(OrderHistoryMachine):
    def __init__(self) -> None:
        super().__init__(a_memory_ledger())


InMemoryOrderHistory.TestCase.settings = settings(
    max_examples=30, stateful_step_count=20, deadline=None
)
test_the_domain_fold_and_writeback_messages_agree_with_the_aggregate_on_random_histories = (
    InMemoryOrderHistory.TestCase
)
