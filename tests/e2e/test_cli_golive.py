"""`mapping check`, `mapping import`, `sync --dry-run`, `writeback run --dry-run` and
`sandbox` as a user runs them, on the file-drop example."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from openpyxl import load_workbook

from domain.commands import PauseOperation, ResumeOperation, StartOperation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "file-drop"


@pytest.fixture
def plant(tmp_path: Path) -> Path:
    """A folder like the project folder after `make run` copied the sample plans."""
    for sub, pattern in (("in-b2mml", "*.xml"), ("in-csv", "*.csv")):
        inbox = tmp_path / "var" / "erp" / sub
        inbox.mkdir(parents=True)
        for p in (EXAMPLE / "plans").glob(pattern):
            shutil.copy(p, inbox / p.name)
            past = (inbox / p.name).stat().st_mtime - 60
            os.utime(inbox / p.name, (past, past))  # settled: a real pass imports it at once
    return tmp_path


def cli(
    *args: str, cwd: Path, config: Path = EXAMPLE / "floorledger.toml"
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        FLOORLEDGER_DATABASE_URL=f"sqlite:///{cwd / 'floorledger.db'}",
        FLOORLEDGER_CONFIG=str(config),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_getting_started_shows_exactly_what_mapping_check_prints(plant: Path) -> None:
    doc = (ROOT / "docs" / "getting-started.md").read_text()
    block = doc.split("<!-- mapping-check-output -->\n```\n", 1)[1].split("```", 1)[0]
    result = cli("mapping", "check", cwd=plant)
    assert result.returncode == 0, result.stderr
    assert result.stdout == block
    assert "not covered" not in result.stdout


def test_mapping_check_json_and_the_workbook_round_trip_through_mapping_import(
    plant: Path,
) -> None:
    config = plant / "plant.toml"
    config.write_text(
        (EXAMPLE / "floorledger.toml").read_text().replace('PG-30 = "LASER-1"\n', "", 1)
    )
    checked = cli(
        "mapping", "check", "--json", "--xlsx", str(plant / "m.xlsx"), cwd=plant, config=config
    )
    assert checked.returncode == 1  # PG-30 is no longer in erp-b2mml's map: a sync warns
    [b2mml] = [r for r in json.loads(checked.stdout) if r["integration"] == "erp-b2mml"]
    assert b2mml["warnings"] == [
        {"order_no": "WO-3002", "code": "unknown_work_centre", "value": "PG-30"}
    ]
    wc = {v["value"]: v["status"] for v in b2mml["fields"]["work_centre"]}
    assert wc == {"PG-10": "mapped", "PG-20": "mapped", "PG-30": "unknown"}
    wb = load_workbook(plant / "m.xlsx")
    ws = wb["Work centres"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["integration", "ERP work centre", "floor value"]
    rows = {(r[0].value, r[1].value): r for r in ws.iter_rows(min_row=2)}
    assert rows[("erp-b2mml", "PG-30")][2].value in (None, "")
    rows[("erp-b2mml", "PG-30")][2].value = "LASER-1"
    wb.save(plant / "m.xlsx")
    imported = cli(
        "mapping",
        "import",
        str(plant / "m.xlsx"),
        "--out",
        str(plant / "maps.toml"),
        cwd=plant,
        config=config,
    )
    assert imported.returncode == 0, imported.stderr
    sections = (plant / "maps.toml").read_text().split("# integration ")
    [b2mml_snippet] = [s for s in sections if s.startswith('"erp-b2mml"')]
    maps = tomllib.loads(b2mml_snippet.split("\n", 1)[1])["integrations"]["maps"]
    assert maps["work_centres"] == {"PG-10": "SAW-1", "PG-20": "DRILL-1", "PG-30": "LASER-1"}
    # The snippet in place of the maps: the check passes again.
    fixed = config.read_text().replace(
        'PG-20 = "DRILL-1"\n', 'PG-20 = "DRILL-1"\nPG-30 = "LASER-1"\n', 1
    )
    config.write_text(fixed)
    assert cli("mapping", "check", cwd=plant, config=config).returncode == 0


def test_mapping_import_names_the_sheet_row_column_and_value_of_every_bad_cell(
    plant: Path,
) -> None:
    assert cli("mapping", "check", "--xlsx", str(plant / "m.xlsx"), cwd=plant).returncode == 0
    wb = load_workbook(plant / "m.xlsx")
    units = wb["Units"]
    [st] = [r for r in units.iter_rows(min_row=2) if r[1].value == "ST"]
    st[3].value = "-2"
    ws = wb["Work centres"]
    ws.append(["nowhere", "PG-99", "SAW-9"])
    wb.save(plant / "m.xlsx")
    before = (EXAMPLE / "floorledger.toml").read_text()
    result = cli(
        "mapping", "import", str(plant / "m.xlsx"), "--out", str(plant / "o.toml"), cwd=plant
    )
    assert result.returncode == 1
    err = " ".join(result.stderr.split())
    assert f"sheet 'Units' row {st[0].row} column 'factor': '-2' is not a positive number" in err
    assert f"sheet 'Work centres' row {ws.max_row} column 'integration': 'nowhere'" in err
    assert not (plant / "o.toml").exists()
    assert (EXAMPLE / "floorledger.toml").read_text() == before


def test_sync_dry_run_prints_what_would_be_released_and_records_nothing(plant: Path) -> None:
    before = files_in(plant / "var")
    dry = cli("sync", "--dry-run", cwd=plant)
    assert dry.returncode == 0, dry.stderr
    assert "would release: WO-2001, WO-2002" in dry.stdout
    assert "would release: WO-3001, WO-3002" in dry.stdout
    assert files_in(plant / "var") == before
    real = cli("sync", "--once", cwd=plant)
    assert "released: WO-2001, WO-2002" in real.stdout
    assert cli("sync", "--dry-run", "--json", cwd=plant).returncode == 0
    again = json.loads(cli("sync", "--dry-run", "--json", cwd=plant).stdout)
    assert all(r["released"] == [] for r in again)


def test_writeback_dry_run_writes_the_messages_to_a_folder_and_sends_none(plant: Path) -> None:
    assert cli("sync", "--once", cwd=plant).returncode == 0
    out = cli(
        "writeback",
        "run",
        "--dry-run",
        "-d",
        "erp-performance",
        "--out",
        str(plant / "dry"),
        cwd=plant,
    )
    assert out.returncode == 0, out.stderr
    assert "nothing sent, position kept" in out.stdout
    assert not (plant / "var" / "erp" / "performance").exists()
    status = cli("writeback", "status", "--json", cwd=plant)
    [perf] = [s for s in json.loads(status.stdout) if s["destination"] == "erp-performance"]
    assert perf["position"] == 0


def test_the_sandbox_writes_a_self_contained_go_live_report(plant: Path) -> None:
    scenario = plant / "shift.toml"
    scenario.write_text(
        'name = "first shift"\n'
        '[[steps]]\naction = "start"\nat_work_centre = "LASER-1"\nintegration = "erp-csv"\n'
        '[[steps]]\naction = "report"\nat_work_centre = "LASER-1"\nintegration = "erp-csv"\n'
        'good = 100\nscrap = 1\nscrap_reason = "BURN"\n'
        '[[steps]]\naction = "complete"\nat_work_centre = "LASER-1"\nintegration = "erp-csv"\n'
    )
    before = files_in(plant / "var")
    result = cli(
        "sandbox",
        "--config",
        str(EXAMPLE / "floorledger.toml"),
        "--scenario",
        str(scenario),
        "--report",
        str(plant / "report"),
        cwd=plant,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert files_in(plant / "var") == before
    assert not (plant / "floorledger.db").exists()
    report = json.loads((plant / "report" / "go-live-report.json").read_text())
    assert report["ok"] and report["imported"]["erp-csv"]["released"] == ["WO-2001", "WO-2002"]
    assert [s["order_no"] for s in report["steps"]] == ["WO-2002"] * 3
    assert report["messages"]["erp-performance-csv"]["count"] >= 3
    floor = {m["integration"]: m["floor"]["scrap_reason"] for m in report["mapping"]}
    assert floor == {
        "erp-csv": [
            {
                "value": "BURN",
                "status": "passed_through",
                "erp_value": "BURN",
                "orders": ["WO-2002"],
            }
        ],
        "erp-b2mml": [],
    }
    page = (plant / "report" / "go-live-report.html").read_text()
    assert "WO-2002" in page and "BURN" in page and "all checks passed" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page


def test_a_bad_scenario_is_refused_naming_the_step_and_field(plant: Path) -> None:
    scenario = plant / "bad.toml"
    scenario.write_text(
        '[[steps]]\naction = "report"\norder = "WO-2001"\ngood = -3\n'
        '[[steps]]\naction = "jump"\norder = "WO-2001"\n'
    )
    result = cli(
        "sandbox",
        "--config",
        str(EXAMPLE / "floorledger.toml"),
        "--scenario",
        str(scenario),
        cwd=plant,
    )
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "steps.0.good: -3" in err and "steps.1.action: 'jump'" in err


def test_a_sandbox_step_on_an_order_not_imported_fails_its_check(plant: Path) -> None:
    scenario = plant / "s.toml"
    scenario.write_text('[[steps]]\naction = "start"\norder = "WO-2003"\n')
    result = cli(
        "sandbox",
        "--config",
        str(EXAMPLE / "floorledger.toml"),
        "--scenario",
        str(scenario),
        cwd=plant,
    )
    assert result.returncode == 1
    assert "FAILED step 1: start on WO-2003 — order 'WO-2003' was not imported" in result.stdout


def test_mapping_check_floor_lists_floor_codes_the_erp_side_does_not_map(plant: Path) -> None:
    from adapters.settings import Settings, build_ledger
    from domain import Actor

    config = plant / "plant.toml"
    config.write_text(
        (EXAMPLE / "floorledger.toml").read_text()
        + '\n[integrations.maps.reason_codes]\n"ERP-BRK" = "BREAK"\n'
    )
    assert cli("sync", "--once", cwd=plant, config=config).returncode == 0
    ledger = build_ledger(Settings(database_url=f"sqlite:///{plant / 'floorledger.db'}"))  # type: ignore[arg-type]
    olga = Actor("olga", "operator", "api")
    try:
        ledger.execute(StartOperation("WO-2001", "10", integration="erp-csv"), olga)
        ledger.execute(PauseOperation("WO-2001", "10", "BREAK", integration="erp-csv"), olga)
        ledger.execute(ResumeOperation("WO-2001", "10", integration="erp-csv"), olga)
        ledger.execute(PauseOperation("WO-2001", "10", "JAM", integration="erp-csv"), olga)
    finally:
        ledger.close()
    result = cli(
        "mapping", "check", "--floor", "--integration", "erp-csv", cwd=plant, config=config
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "floor stop reason 'JAM' has no ERP mapping" in result.stdout
    assert "'BREAK'" not in result.stdout  # mapped back to ERP-BRK
    floor = json.loads(
        cli(
            "mapping",
            "check",
            "--floor",
            "--json",
            "--integration",
            "erp-csv",
            cwd=plant,
            config=config,
        ).stdout
    )[0]["floor"]["stop_reason"]
    assert {(f["value"], f["status"], f["erp_value"]) for f in floor} == {
        ("BREAK", "mapped", "ERP-BRK"),
        ("JAM", "no_erp_mapping", "JAM"),
    }
    # The workbook lists JAM for the ERP team to give it an ERP code; import maps it back.
    book = plant / "m.xlsx"
    cli("mapping", "check", "--floor", "--xlsx", str(book), cwd=plant, config=config)
    wb = load_workbook(book)
    [jam] = [r for r in wb["Reason codes"].iter_rows(min_row=2) if r[2].value == "JAM"]
    assert jam[0].value == "erp-csv" and jam[1].value is None
    jam[1].value = "ERP-JAM"
    wb.save(book)
    snippet = cli("mapping", "import", str(book), cwd=plant, config=config)
    assert snippet.returncode == 0, snippet.stderr
    [csv_part] = [s for s in snippet.stdout.split("# integration ") if s.startswith('"erp-csv"')]
    maps = tomllib.loads(csv_part.split("\n", 1)[1])["integrations"]["maps"]
    assert maps["reason_codes"] == {"ERP-BRK": "BREAK", "ERP-JAM": "JAM"}
