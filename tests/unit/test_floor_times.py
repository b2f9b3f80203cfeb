"""How far the floor's own times are trusted (issue #11, item 8): the back-dating window, the
backdated warning, the clock-skew tolerance and the bound on run time. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import InvalidValueError, OperationState
from domain.commands import AcknowledgeWarning, ReceiveErpOrder, StartOperation, SubmitReport
from domain.floortime import FloorTimes
from domain.ledger import Ledger
from domain.state import W_BACKDATED
from domain.workorder import WorkOrder
from tests.factories import ERP, OPERATOR, SUPERVISOR, a_released_order, an_erp_order

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOW = FloorTimes()  # the default: 24 hours
OFF = FloorTimes(max_backdate=None)


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


def warnings_of(order: WorkOrder) -> list[tuple[str, str]]:
    return [(w.code, w.reference) for w in order.folded.open_warnings]


# ------------------------------------------------------------------ the window, as a rule


def test_a_time_further_back_than_the_window_is_refused_naming_the_field_and_the_value() -> None:
    with pytest.raises(InvalidValueError) as refused:
        WINDOW.checked("at", datetime(2020, 1, 6, 6, tzinfo=UTC), NOW)
    assert refused.value.field == "at"
    assert refused.value.value == "2020-01-06T06:00:00+00:00"
    assert "more than 24 hours in the past" in str(refused.value)
    assert "FLOORLEDGER_MAX_BACKDATE_HOURS" in str(refused.value)


def test_a_time_within_the_window_is_accepted_with_how_far_back_it_lies() -> None:
    assert WINDOW.checked("at", NOW - timedelta(hours=23), NOW) == timedelta(hours=23)
    assert WINDOW.warns(timedelta(hours=2))
    assert not WINDOW.warns(timedelta(minutes=55))


def test_a_time_further_ahead_than_the_clock_skew_tolerance_is_refused() -> None:
    assert WINDOW.checked("at", NOW + timedelta(minutes=59), NOW) == timedelta(0)
    with pytest.raises(InvalidValueError, match="is in the future") as refused:
        WINDOW.checked("ended_at", NOW + timedelta(minutes=61), NOW)
    assert refused.value.field == "ended_at"


def test_off_accepts_any_past_time_and_warns_of_none() -> None:
    assert OFF.checked("at", datetime(2020, 1, 6, tzinfo=UTC), NOW) > timedelta(days=2000)
    assert not OFF.warns(timedelta(days=2000))
    with pytest.raises(InvalidValueError, match="in the future"):
        OFF.checked("at", NOW + timedelta(hours=2), NOW)


@pytest.mark.parametrize(
    ("setting", "window"),
    [(None, timedelta(hours=24)), ("", timedelta(hours=24)), ("6", timedelta(hours=6)),
     ("0.5", timedelta(minutes=30)), (" OFF ", None)],
)  # fmt: skip
def test_the_setting_names_the_window_in_hours_or_off(
    setting: str | None, window: timedelta | None
) -> None:
    assert FloorTimes.from_setting(setting).max_backdate == window


@pytest.mark.parametrize("setting", ["0", "-3", "a day", "nan", "9000"])
def test_a_bad_setting_is_refused_naming_it(setting: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        FloorTimes.from_setting(setting)
    assert refused.value.field == "FLOORLEDGER_MAX_BACKDATE_HOURS"


# ------------------------------------------------------------------ on the order


def test_a_start_back_dated_to_2020_is_refused_and_nothing_is_recorded() -> None:
    order = a_released_order()
    order.collect_events()
    with pytest.raises(InvalidValueError) as refused:
        order.start_operation("10", OPERATOR, at=datetime(2020, 1, 6, 6, tzinfo=UTC))
    assert refused.value.field == "at"
    assert order.collect_events() == []
    assert order.progress_state("10") == OperationState.NOT_STARTED


def test_a_start_two_hours_back_is_recorded_with_a_backdated_warning() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR, at=ago(hours=2))
    assert order.progress_state("10") == OperationState.RUNNING
    assert warnings_of(order) == [(W_BACKDATED, "10")]
    message = order.collect_events()[-1].message  # type: ignore[attr-defined]
    assert "start of operation 10 was recorded 2 hours after" in message


def test_an_action_less_than_an_hour_back_is_recorded_without_a_warning() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR, at=ago(minutes=50))
    order.pause_operation("10", "TOOL", OPERATOR, at=ago(minutes=10))
    assert warnings_of(order) == []


def test_a_replayed_queue_raises_one_backdated_warning_per_operation() -> None:
    order = a_released_order()
    order.start_operation("10", OPERATOR, at=ago(hours=3))
    order.pause_operation("10", "TOOL", OPERATOR, at=ago(hours=2))
    order.resume_operation("10", OPERATOR, at=ago(hours=1.5))
    order.report_quantity("10", OPERATOR, good=2, at=ago(hours=1))
    order.start_operation("20", OPERATOR, at=ago(hours=1.2))
    assert warnings_of(order) == [(W_BACKDATED, "10"), (W_BACKDATED, "20")]


def test_a_report_older_than_the_window_is_refused_under_started_at() -> None:
    order = a_released_order()
    with pytest.raises(InvalidValueError) as refused:
        order.submit_report("10", OPERATOR, started_at=ago(hours=30), ended_at=ago(hours=20))
    assert refused.value.field == "started_at"
    order.submit_report("10", OPERATOR, started_at=ago(hours=8), ended_at=ago(hours=1))
    assert warnings_of(order) == []  # a report is after the fact by nature: no warning


def test_the_ledger_takes_its_window_from_the_setting() -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    wide = Ledger(env={**env, "FLOORLEDGER_MAX_BACKDATE_HOURS": "48"})
    wide.execute(ReceiveErpOrder(an_erp_order()), ERP)
    wide.execute(StartOperation("WO-1", "10", at=ago(hours=30)), OPERATOR)
    assert warnings_of(wide.get_order("WO-1")) == [(W_BACKDATED, "10")]

    narrow = Ledger(env={**env, "FLOORLEDGER_MAX_BACKDATE_HOURS": "24"})
    narrow.execute(ReceiveErpOrder(an_erp_order()), ERP)
    with pytest.raises(InvalidValueError):
        narrow.execute(StartOperation("WO-1", "10", at=ago(hours=30)), OPERATOR)
    with pytest.raises(InvalidValueError):
        narrow.execute(
            SubmitReport("WO-1", "10", started_at=ago(hours=1), ended_at=ago(hours=-2)), OPERATOR
        )
    assert narrow.get_order("WO-1").version == 1

    off = Ledger(env={**env, "FLOORLEDGER_MAX_BACKDATE_HOURS": "off"})
    off.execute(ReceiveErpOrder(an_erp_order()), ERP)
    off.execute(StartOperation("WO-1", "10", at=datetime(2020, 1, 6, tzinfo=UTC)), OPERATOR)
    assert warnings_of(off.get_order("WO-1")) == []


def test_a_supervisor_acknowledges_a_backdated_warning_like_any_other() -> None:
    ledger = Ledger(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo", "FLOORLEDGER_MAX_BACKDATE_HOURS": "24"}
    )
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10", at=ago(hours=2)), OPERATOR)
    (warning,) = ledger.get_order("WO-1").folded.open_warnings
    ledger.execute(AcknowledgeWarning("WO-1", warning.version, "paper log checked"), SUPERVISOR)
    assert warnings_of(ledger.get_order("WO-1")) == []


# ------------------------------------------------------------------ run time is bounded


def test_overlapping_run_intervals_from_out_of_order_times_are_not_counted_twice() -> None:
    order = a_released_order()
    t0 = ago(hours=5)
    order.start_operation("10", OPERATOR, at=t0, times=OFF)
    order.pause_operation("10", "TOOL", OPERATOR, at=t0 + timedelta(hours=2), times=OFF)
    # a queued resume replayed late names a time before the pause
    order.resume_operation("10", OPERATOR, at=t0 + timedelta(hours=1), times=OFF)
    order.complete_operation("10", OPERATOR, at=t0 + timedelta(hours=3), times=OFF)
    # unbounded it would be 2 h + 2 h; the wall time since the first start is 3 h
    assert order.progress("10").run_seconds == 3 * 3600


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["start", "pause", "resume", "complete"]),
        st.integers(min_value=-600, max_value=600),  # minutes from the scenario's base
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(ACTIONS, st.integers(min_value=0, max_value=600))
def test_run_time_never_exceeds_the_wall_time_since_the_first_start(
    actions: list[tuple[str, int]], later: int
) -> None:
    order = a_released_order()
    base = ago(hours=20)
    latest: datetime | None = None
    for action, minute in actions:
        at = base + timedelta(minutes=minute)
        try:
            if action == "start":
                order.start_operation("10", OPERATOR, at=at, times=OFF)
            elif action == "pause":
                order.pause_operation("10", "TOOL", OPERATOR, at=at, times=OFF)
            elif action == "resume":
                order.resume_operation("10", OPERATOR, at=at, times=OFF)
            else:
                order.complete_operation("10", OPERATOR, at=at, times=OFF)
        except Exception:
            continue  # not allowed in this state: nothing recorded
        latest = at if latest is None else max(latest, at)
        op = order.progress("10")
        wall = 0.0 if op.started_at is None else (latest - op.started_at).total_seconds()
        assert op.run_seconds <= max(0.0, wall)
    op = order.progress("10")
    if op.started_at is not None and latest is not None:
        until = max(latest, base + timedelta(minutes=later))
        shown = op.run_seconds_at(until)
        assert shown <= max(0.0, (until - op.started_at).total_seconds())


def test_the_demo_shift_is_recorded_as_a_history_without_backdated_warnings() -> None:
    from api.demo import run_demo

    ledger = Ledger(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo", "FLOORLEDGER_MAX_BACKDATE_HOURS": "24"}
    )
    order_no = run_demo(ledger)
    order = ledger.get_order(order_no, "demo")
    assert order.progress("10").run_seconds == 57 * 60  # 72 minutes, 15 of them paused
    assert W_BACKDATED not in [w.code for w in order.folded.open_warnings]
    # the ledger's own window is unchanged for everyone else
    with pytest.raises(InvalidValueError):
        ledger.execute(
            StartOperation(order_no, "20", at=ago(hours=30), integration="demo"), OPERATOR
        )
