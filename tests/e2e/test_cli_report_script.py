"""``report-script --out`` writes only where it is told, in the format it is told (issue #18)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from api.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI on a store holding the demo shift (three report-script rows)."""
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["demo"]).exit_code == 0
    return runner


def test_a_missing_folder_is_refused_and_nothing_is_created(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "script.csv"
    result = cli.invoke(app, ["report-script", "--out", str(target)])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and str(tmp_path / "no" / "such") in result.stderr
    assert not (tmp_path / "no").exists()


def test_dash_writes_the_csv_to_standard_output(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["report-script", "--out", "-"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 3 and {r["integration"] for r in rows} == {"demo"}
    assert not (tmp_path / "-").exists()
    xlsx = cli.invoke(app, ["report-script", "--out", "-", "--format", "xlsx"])
    assert xlsx.exit_code == 0
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.stdout_bytes)).active
    assert sheet is not None and sheet.max_row == 1 + 3


def test_a_format_contradicting_the_extension_is_refused_and_the_extension_decides_otherwise(
    cli: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "script.xlsx"
    refused = cli.invoke(app, ["report-script", "--out", str(target), "--format", "csv"])
    assert refused.exit_code == 2
    assert "--format csv contradicts" in refused.stderr and not target.exists()
    written = cli.invoke(app, ["report-script", "--out", str(target)])
    assert written.exit_code == 0, written.output
    assert openpyxl.load_workbook(target).active is not None  # a real workbook, not CSV
