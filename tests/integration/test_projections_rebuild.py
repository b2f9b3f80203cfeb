"""A view rebuilt from scratch equals the view built live, for random event histories."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import DomainError, Ledger
from domain.commands import (
    CancelInErp,
    CompleteOperation,
    CompleteOrder,
    MarkRowKeyed,
    PauseOperation,
    ReceiveErpOrder,
    ReportQuantity,
    ResolveConflict,
    ResumeOperation,
    SetActiveOrder,
    StartOperation,
    SubmitReport,
)
from projections import ViewReader, ViewRunner
from tests.support.floor import (
    ERP,
    OPERATOR,
    SUPERVISOR,
    assert_status_matches_aggregate,
    at,
    dump,
    order,
)

ORDERS = ("1", "2", "3")
OPS = ("10", "20", "30")

step = st.one_of(
    st.tuples(st.just("erp"), st.sampled_from(ORDERS), st.integers(1, 3), st.integers(40, 60)),
    st.tuples(st.just("cancel"), st.sampled_from(ORDERS)),
    st.tuples(
        st.sampled_from(["start", "pause", "resume", "complete"]),
        st.sampled_from(ORDERS),
        st.sampled_from(OPS),
    ),
    st.tuples(
        st.just("qty"),
        st.sampled_from(ORDERS),
        st.sampled_from(OPS),
        st.integers(0, 30),
        st.integers(0, 3),
        st.sampled_from(["BURR", "DENT"]),
    ),
    st.tuples(st.just("report"), st.sampled_from(ORDERS), st.sampled_from(OPS)),
    st.tuples(st.just("key"), st.sampled_from(ORDERS)),
    st.tuples(
        st.just("resolve"),
        st.sampled_from(ORDERS),
        st.sampled_from(["accept_erp", "keep_floor", "cancel"]),
    ),
    st.tuples(st.just("complete_order"), st.sampled_from(ORDERS)),
    st.tuples(st.just("active"), st.sampled_from(["WC-1", "WC-2"]), st.sampled_from(ORDERS)),
    st.tuples(st.just("catch_up")),
)


def _apply(ledger: Ledger, runner: ViewRunner, integ: str, n: int, s: tuple[Any, ...]) -> None:
    kw = {"integration": integ}
    kind = s[0]
    if kind == "catch_up":
        runner.catch_up()
    elif kind == "erp":
        _, no, n_ops, qty = s
        ops = tuple((op, f"WC-{i % 2 + 1}") for i, op in enumerate(OPS[:n_ops]))
        ledger.execute(
            ReceiveErpOrder(order(no, quantity=qty, due=date(2030, 1, n_ops), ops=ops), **kw), ERP
        )
    elif kind == "cancel":
        ledger.execute(CancelInErp(s[1], **kw), ERP)
    elif kind == "start":
        ledger.execute(StartOperation(s[1], s[2], at=at(n), **kw), OPERATOR)
    elif kind == "pause":
        ledger.execute(PauseOperation(s[1], s[2], "WAIT", at=at(n), **kw), OPERATOR)
    elif kind == "resume":
        ledger.execute(ResumeOperation(s[1], s[2], at=at(n), **kw), OPERATOR)
    elif kind == "complete":
        ledger.execute(CompleteOperation(s[1], s[2], at=at(n), **kw), OPERATOR)
    elif kind == "qty":
        _, no, op, good, scrap, reason = s
        if good or scrap:
            ledger.execute(
                ReportQuantity(no, op, good=good, scrap=scrap, scrap_reason=reason, at=at(n), **kw),
                OPERATOR,
            )
    elif kind == "report":
        ledger.execute(
            SubmitReport(
                s[1], s[2], started_at=at(n - 5), ended_at=at(n), good=3, scrap={"BURR": 1}, **kw
            ),
            OPERATOR,
        )
    elif kind == "key":
        o = ledger.get_order(s[1], integ)
        for row_id, keyed in o.script_rows.items():
            if not keyed:
                ledger.execute(MarkRowKeyed(s[1], row_id, **kw), SUPERVISOR)
                break
    elif kind == "resolve":
        o = ledger.get_order(s[1], integ)
        for field in list(o.conflicts):
            ledger.execute(ResolveConflict(s[1], field, s[2], **kw), SUPERVISOR)
            break
    elif kind == "complete_order":
        ledger.execute(CompleteOrder(s[1], at=at(n), **kw), OPERATOR)
    elif kind == "active":
        ledger.execute_at_workstation(SetActiveOrder(s[1], s[2], integration=integ), OPERATOR)


def test_a_view_rebuilt_from_scratch_equals_the_view_built_live(ledger: Ledger) -> None:
    runner = ViewRunner(ledger, batch_size=3)
    reader = ViewReader(runner.store)
    runner.setup()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(step, min_size=1, max_size=40))
    def check(steps: list[tuple[Any, ...]]) -> None:
        integ = "h" + uuid.uuid4().hex[:8]
        ledger.execute(ReceiveErpOrder(order("1"), integration=integ), ERP)
        for n, s in enumerate(steps):
            with contextlib.suppress(DomainError):
                _apply(ledger, runner, integ, n + 10, s)
        runner.catch_up()
        for no in ORDERS:
            if ledger.find_order(no, integ) is not None:
                assert_status_matches_aggregate(ledger, reader.status(no, integ), no, integ)
        db = runner.store.connect()
        try:
            live = {name: dump(db, v.tables) for name, v in runner.views.items()}
            for name in runner.views:
                runner.rebuild(name)
            rebuilt = {name: dump(db, v.tables) for name, v in runner.views.items()}
        finally:
            db.close()
        assert rebuilt == live

    try:
        check()
    finally:
        reader.close()
        runner.close()


def test_a_view_holding_order_state_in_the_old_positional_form_asks_to_be_rebuilt(
    ledger: Ledger,
) -> None:
    from projections.base import StaleViewError
    from projections.status import T_STATUS_SNAP, StatusView
    from tests.support.floor import ERP, OPERATOR, order

    runner = ViewRunner(ledger, [StatusView()], batch_size=10)
    try:
        ledger.execute(ReceiveErpOrder(order("OLD-1")), ERP)
        runner.catch_up()
        db = runner.store.connect()
        with db.transaction():
            db.execute(f"UPDATE {T_STATUS_SNAP} SET snap = ?", ('["erp","OLD-1",1]',)).close()
        db.close()
        runner.views["status"].reset()
        ledger.execute(StartOperation("OLD-1", "10"), OPERATOR)
        with pytest.raises(StaleViewError, match="floorledger views rebuild status"):
            runner.catch_up()
        runner.rebuild("status")
        assert ViewReader(runner.store).status("OLD-1", "erp").state == "in_progress"  # type: ignore[union-attr]
    finally:
        runner.close()
