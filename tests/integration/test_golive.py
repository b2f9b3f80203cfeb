"""Going live: the mapping check agrees with sync, dry runs record nothing, the sandbox
report lists what a real run then does (real files, real SQLite and PostgreSQL stores)."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.config import Integration, IntegrationsConfig
from adapters.golive.check import check_one
from adapters.golive.dryrun import dry_sync, dry_writeback
from adapters.golive.ledger_port import ledger_position, stored_events, topic
from adapters.golive.sandbox import Scenario, Step, run_sandbox
from adapters.inbound.worker import Worker
from adapters.settings import Settings, build_ledger
from adapters.writeback.pump import Pump
from domain import Actor, Ledger
from domain.commands import (
    CompleteOperation,
    PauseOperation,
    ReportQuantity,
    ResumeOperation,
    StartOperation,
)
from domain.workorder import WorkOrder
from tests.conftest import Backend

COLUMNS = [
    "order_no",
    "part_no",
    "quantity",
    "unit",
    "state",
    "work_centre",
    "op_id",
    "op_work_centre",
]
WCS = ["PG-1", "PG-2", "PG-3"]
OPS = ["10", "20", "30"]
UNITS = ["ST", "KG"]
OPERATOR = Actor("op-1", "operator", "api")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "file-drop"


def files_integration(folder: Path, maps: dict[str, Any] | None = None, **over: Any) -> Integration:
    data: dict[str, Any] = {
        "name": "plant",
        "mode": "D",
        "inbound": {
            "transport": "files",
            "format": "csv",
            "inbox": str(folder / "in"),
            "archive": str(folder / "archive"),
            "error": str(folder / "error"),
            "settle_seconds": 0,
        },
        "fields": {
            "released_values": ["REL"],
            "cancelled_values": ["CNL"],
            "due_date": None,
            "priority": None,
            "description": None,
            "op_name": None,
            "setup_time": None,
            "run_time": None,
        },
        "maps": maps or {},
        "outbound": {
            "destinations": [
                {
                    "name": "erp-out",
                    "transport": "files",
                    "format": "csv",
                    "outbox": str(folder / "out"),
                }
            ]
        },
    }
    data.update(over)
    return Integration.model_validate(data)


def write_plan(folder: Path, rows: list[dict[str, str]], name: str = "plan.csv") -> Path:
    inbox = folder / "in"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    past = os.stat(path).st_mtime - 60
    os.utime(path, (past, past))
    return path


def recorded_warnings(ledger: Ledger) -> set[tuple[str, str, str]]:
    return {
        (e.order_no, e.code, e.reference)
        for e in stored_events(ledger, [topic(WorkOrder.WarningRaised)])
    }


# ---------------------------------------------------------------- generated plans and maps

orders = st.lists(
    st.tuples(
        st.sampled_from(["REL", "REL", "PLAN", "CNL"]),
        st.sampled_from(WCS),
        st.sampled_from(UNITS),
        st.lists(
            st.tuples(st.sampled_from(OPS), st.sampled_from(WCS)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ),
    ),
    min_size=1,
    max_size=6,
)
value_maps = st.fixed_dictionaries(
    {
        "work_centres": st.dictionaries(st.sampled_from(WCS), st.sampled_from(["saw", "mill"])),
        "operations": st.sets(st.sampled_from(OPS)).map(lambda s: {o: f"op-{o}" for o in s}),
        "units": st.dictionaries(
            st.sampled_from(UNITS),
            st.fixed_dictionaries({"unit": st.just("pcs"), "factor": st.sampled_from([1, 2])}),
        ),
    }
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=orders, maps=value_maps)
def test_the_mapping_check_names_exactly_the_warnings_a_real_sync_raises(
    plan: list[Any], maps: dict[str, Any]
) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        rows = [
            {
                "order_no": f"WO-{n}",
                "part_no": "P-1",
                "quantity": "5",
                "unit": unit,
                "state": state,
                "work_centre": wc,
                "op_id": op,
                "op_work_centre": op_wc,
            }
            for n, (state, wc, unit, ops) in enumerate(plan, start=1)
            for op, op_wc in ops
        ]
        write_plan(folder, rows)
        integ = files_integration(folder, maps)
        result = check_one(integ)
        assert result.check is not None
        ledger = build_ledger(Settings(database_url=f"sqlite:///{folder / 'l.db'}"))  # type: ignore[arg-type]
        try:
            summary = Worker(IntegrationsConfig(integrations=[integ]), ledger).run_once()["plant"]
            assert not summary.errors
            assert recorded_warnings(ledger) == result.check.warnings
            assert result.would_warn == len(summary.warnings)
            # Every value the check calls "passed through" or "mapped" raised nothing.
            quiet = {(v.kind, v.value) for v in result.check.seen() if v.status != "unknown"}
            kinds = {
                "unknown_work_centre": "work_centre",
                "unknown_erp_operation": "operation",
                "unknown_unit": "unit",
            }
            raised = {(kinds[c], v) for _, c, v in recorded_warnings(ledger)}
            assert not quiet & raised
            assert {(u.kind, u.value) for u in result.check.uncovered()} == raised
        finally:
            ledger.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_empty_map_passes_values_through_and_neither_the_check_nor_sync_warns(
    tmp_path: Path,
) -> None:
    write_plan(
        tmp_path,
        [
            {
                "order_no": "WO-1",
                "part_no": "P-1",
                "quantity": "5",
                "unit": "KAR",
                "state": "REL",
                "work_centre": "PG-1",
                "op_id": "10",
                "op_work_centre": "PG-9",
            },
        ],
    )
    integ = files_integration(tmp_path, {"work_centres": {"PG-1": "saw"}})
    result = check_one(integ)
    assert result.check is not None
    statuses = {(v.kind, v.value): v.status for v in result.check.seen()}
    assert statuses[("unit", "KAR")] == "passed_through"
    assert statuses[("operation", "10")] == "passed_through"
    assert statuses[("work_centre", "PG-9")] == "unknown"
    assert result.check.warnings == {("WO-1", "unknown_work_centre", "PG-9")}


# ---------------------------------------------------------------- dry runs record nothing


def snapshot(ledger: Ledger, folder: Path) -> tuple[int, list[Any], list[str]]:
    files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".db" and "-wal" not in p.name and "-shm" not in p.name
    )
    notes = ledger.recorder.select_notifications(1, 100_000)
    return (
        ledger_position(ledger),
        [(n.id, n.originator_id, n.originator_version) for n in notes],
        files,
    )


def test_a_dry_run_sync_records_nothing_and_moves_no_file(backend: Backend, tmp_path: Path) -> None:
    integ = files_integration(tmp_path, {"work_centres": {"PG-1": "saw"}})
    config = IntegrationsConfig(integrations=[integ])
    first = [
        {
            "order_no": "WO-1",
            "part_no": "P-1",
            "quantity": "5",
            "unit": "ST",
            "state": "REL",
            "work_centre": "PG-1",
            "op_id": "10",
            "op_work_centre": "PG-1",
        },
        {
            "order_no": "WO-2",
            "part_no": "P-1",
            "quantity": "5",
            "unit": "ST",
            "state": "REL",
            "work_centre": "PG-1",
            "op_id": "10",
            "op_work_centre": "PG-1",
        },
    ]
    ledger = backend.ledger()
    try:
        write_plan(tmp_path, first)
        Worker(config, ledger).run_once()
        ledger.execute(StartOperation("WO-2", "10", integration="plant"), OPERATOR)
        # The ERP now changes WO-1 (not started), WO-2 (started), and adds WO-3 with a new
        # work centre.
        changed = [
            dict(first[0], quantity="7"),
            dict(first[1], quantity="9"),
            dict(first[0], order_no="WO-3", work_centre="PG-7"),
        ]
        write_plan(tmp_path, changed, "plan2.csv")
        before = snapshot(ledger, tmp_path)
        dry = dry_sync(integ, ledger)
        assert snapshot(ledger, tmp_path) == before
        assert dry.summary.released == ["WO-3"]
        assert dry.summary.changed == ["WO-1"]
        assert dry.summary.conflicts == ["WO-2"]
        assert [(c["order_no"], c["field"], c["old"], c["new"]) for c in dry.changes()] == [
            ("WO-1", "quantity", "5", "7")
        ]
        assert [(c["order_no"], c["field"]) for c in dry.conflicts()] == [("WO-2", "quantity")]
        assert any("unknown_work_centre" in w and "PG-7" in w for w in dry.summary.warnings)
        # What the real pass then does is what the dry run said.
        real = Worker(config, ledger).run_once()["plant"]
        assert (real.released, real.changed, real.conflicts) == (["WO-3"], ["WO-1"], ["WO-2"])
        assert len(real.warnings) == len(dry.summary.warnings)
        assert ledger.get_order("WO-1", "plant").quantity == Decimal(7)
    finally:
        ledger.close()


def test_a_dry_run_writeback_builds_the_messages_and_moves_no_position(
    backend: Backend, tmp_path: Path
) -> None:
    integ = files_integration(tmp_path)
    config = IntegrationsConfig(integrations=[integ])
    write_plan(
        tmp_path,
        [
            {
                "order_no": "WO-1",
                "part_no": "P-1",
                "quantity": "5",
                "unit": "ST",
                "state": "REL",
                "work_centre": "PG-1",
                "op_id": "10",
                "op_work_centre": "PG-1",
            },
        ],
    )
    ledger = backend.ledger()
    try:
        Worker(config, ledger).run_once()
        ledger.execute(StartOperation("WO-1", "10", integration="plant"), OPERATOR)
        ledger.execute(ReportQuantity("WO-1", "10", good=5, integration="plant"), OPERATOR)
        before = snapshot(ledger, tmp_path)
        dry = dry_writeback(ledger, config, "erp-out")
        assert snapshot(ledger, tmp_path) == before
        assert dry.position == 0 and len(dry.messages) >= 2
        again = dry_writeback(ledger, config, "erp-out")
        assert [m.key for m in again.messages] == [m.key for m in dry.messages]
        # The real pump then delivers exactly those messages.
        pump = Pump(ledger, config, ["erp-out"])
        try:
            pump.run_once()
            assert pump.state.position("erp-out") == ledger_position(ledger)
            assert pump.state.get("erp-out").delivered == len(dry.messages)  # type: ignore[union-attr]
        finally:
            pump.close()
    finally:
        ledger.close()


# ---------------------------------------------------------------- the sandbox


def test_the_sandbox_report_lists_what_a_real_run_then_does(tmp_path: Path) -> None:
    plant = tmp_path / "plant"
    shutil.copytree(EXAMPLE / "plans", plant / "plans")
    toml = (EXAMPLE / "floorledger.toml").read_text().replace('"var/', f'"{plant}/var/')
    for sub, pattern in (("in-b2mml", "*.xml"), ("in-csv", "*.csv")):
        (plant / "var" / "erp" / sub).mkdir(parents=True)
        for p in (plant / "plans").glob(pattern):
            target = plant / "var" / "erp" / sub / p.name
            shutil.copy(p, target)
            os.utime(target, (target.stat().st_mtime - 60,) * 2)  # settled
    (plant / "floorledger.toml").write_text(toml)
    from adapters.config import load_config

    config = load_config(plant / "floorledger.toml")
    scenario = Scenario(
        steps=[
            Step(action="start", at_work_centre="SAW-1", integration="erp-csv"),
            Step(action="pause", at_work_centre="SAW-1", integration="erp-csv", reason="BREAK"),
            Step(action="resume", at_work_centre="SAW-1", integration="erp-csv"),
            Step(
                action="report",
                at_work_centre="SAW-1",
                integration="erp-csv",
                good=Decimal(48),
                scrap=Decimal(2),
                scrap_reason="DAMAGED",
            ),
            Step(action="complete", at_work_centre="SAW-1", integration="erp-csv"),
        ]
    )
    inbox_before = sorted(p.name for p in (plant / "var").rglob("*") if p.is_file())
    report = run_sandbox(config, scenario, work=tmp_path / "sandbox")
    assert report.ok, [c for c in report.checks if not c.passed]
    assert sorted(p.name for p in (plant / "var").rglob("*") if p.is_file()) == inbox_before
    assert [s["order_no"] for s in report.steps] == ["WO-2001"] * 5
    # The real run: sync, the same shift, then the pump to the real outbox.
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'real.db'}"))  # type: ignore[arg-type]
    try:
        real = Worker(config, ledger).run_once()
        assert {n: s.released for n, s in real.items()} == {
            n: i["released"] for n, i in report.imported.items()
        }
        ledger.execute(StartOperation("WO-2001", "10", integration="erp-csv"), OPERATOR)
        ledger.execute(PauseOperation("WO-2001", "10", "BREAK", integration="erp-csv"), OPERATOR)
        ledger.execute(ResumeOperation("WO-2001", "10", integration="erp-csv"), OPERATOR)
        ledger.execute(
            ReportQuantity(
                "WO-2001", "10", good=48, scrap=2, scrap_reason="DAMAGED", integration="erp-csv"
            ),
            OPERATOR,
        )
        ledger.execute(CompleteOperation("WO-2001", "10", integration="erp-csv"), OPERATOR)
        pump = Pump(ledger, config)
        try:
            pump.run_once()
            delivered = {n: pump.state.get(n).delivered for n in pump.pumps}  # type: ignore[union-attr]
        finally:
            pump.close()
        assert delivered == {n: m["count"] for n, m in report.messages.items()}
        assert report.messages["erp-performance-csv"]["count"] > 0
    finally:
        ledger.close()


def test_a_dry_run_of_a_full_plan_names_the_orders_it_would_cancel_and_cancels_none(
    backend: Backend, tmp_path: Path
) -> None:
    integ = files_integration(tmp_path, full_plan=True)
    config = IntegrationsConfig(integrations=[integ])
    row = {
        "order_no": "WO-1",
        "part_no": "P-1",
        "quantity": "5",
        "unit": "ST",
        "state": "REL",
        "work_centre": "PG-1",
        "op_id": "10",
        "op_work_centre": "PG-1",
    }
    ledger = backend.ledger()
    try:
        write_plan(tmp_path, [row, dict(row, order_no="WO-2")])
        Worker(config, ledger).run_once()
        write_plan(tmp_path, [row], "plan2.csv")
        before = snapshot(ledger, tmp_path)
        dry = dry_sync(integ, ledger)
        assert snapshot(ledger, tmp_path) == before
        assert dry.summary.cancelled == ["WO-2"] and dry.summary.unchanged == ["WO-1"]
        assert ledger.get_order("WO-2", "plant").state.value == "released"
    finally:
        ledger.close()


def test_the_workbook_refuses_missing_long_multiline_and_conflicting_cells(
    tmp_path: Path,
) -> None:
    from openpyxl import Workbook

    from adapters.golive.workbook import WorkbookError, read_workbook

    config = IntegrationsConfig(integrations=[files_integration(tmp_path)])
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Work centres"
    ws.append(["integration", "ERP work centre", "floor value", "status", "seen"])
    ws.append(["plant", "PG-1", "SAW-1"])
    ws.append(["plant", None, "SAW-2"])
    ws.append(["plant", "PG-2", "x" * 61])
    ws.append(["plant", "PG-3", "two\nlines"])
    ws.append(["plant", "PG-1", "MILL-1"])
    ws.append(["plant", "PG-4", None])  # not filled in: left out, no error
    ops = wb.create_sheet("Operations")
    ops.append(["integration", "ERP operation"])
    wb.save(tmp_path / "m.xlsx")
    with pytest.raises(WorkbookError) as caught:
        read_workbook(tmp_path / "m.xlsx", config)
    assert caught.value.problems == [
        "sheet 'Work centres' row 3 column 'ERP work centre': is required",
        f"sheet 'Work centres' row 4 column 'floor value': {'x' * 61!r} must be one line of "
        "at most 60 characters",
        "sheet 'Work centres' row 5 column 'floor value': 'two\\nlines' must be one line of "
        "at most 60 characters",
        "sheet 'Work centres' row 6 column 'ERP work centre': 'PG-1' is already mapped in row 2 "
        "to another value",
        "sheet 'Operations' row 1: missing column(s) 'floor value'",
    ]
