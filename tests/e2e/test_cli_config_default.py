"""After ``make run`` in the project folder, the other commands find the same example
configuration ``run`` used; elsewhere they say exactly how to name one (issue #18)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.config import load_config
from api.cli import app
from api.main_job import EXAMPLE_CONFIG, prepare_folders

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with its own store and no FLOORLEDGER_CONFIG."""
    monkeypatch.delenv("FLOORLEDGER_CONFIG", raising=False)
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_sync_mapping_and_writeback_use_the_example_config_where_run_does(folder: Path) -> None:
    shutil.copytree(ROOT / "examples", folder / "examples")
    # What `floorledger run` sets up on its first start in this folder.
    prepare_folders(load_config(EXAMPLE_CONFIG), EXAMPLE_CONFIG.parent / "plans")
    cli = CliRunner()
    synced = cli.invoke(app, ["sync", "--once"])
    assert synced.exit_code == 0, synced.output
    assert "erp-b2mml" in synced.stdout and "released" in synced.stdout
    assert f"FLOORLEDGER_CONFIG is not set: using {EXAMPLE_CONFIG}" in synced.stderr
    checked = cli.invoke(app, ["mapping", "check"])
    assert checked.exit_code == 0, checked.output
    assert "erp-csv" in checked.stdout
    status = cli.invoke(app, ["writeback", "status"])
    assert status.exit_code == 0, status.output
    assert "erp-performance" in status.stdout


def test_outside_the_project_folder_the_error_says_how_to_name_the_config(folder: Path) -> None:
    result = CliRunner().invoke(app, ["writeback", "status"])
    assert result.exit_code == 2
    assert "FLOORLEDGER_CONFIG is not set" in result.stderr
    assert "export FLOORLEDGER_CONFIG=" in result.stderr
