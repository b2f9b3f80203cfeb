"""A name typed on the command line that nothing knows is called unknown, listing the known
ones; a lookup that finds nothing names what was looked up (issue #18)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.settings import Settings, build_ledger
from domain import Ledger
from domain.commands import SubmitReport
from tests.conftest import Backend
from tests.support.writeback import OPERATOR, T0, config, work_order, write_config

ROOT = Path(__file__).resolve().parents[2]


def cli(
    *args: str, url: str, cwd: Path = ROOT, config_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLOORLEDGER_CONFIG"}
    env["FLOORLEDGER_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(ROOT)
    if config_file is not None:
        env["FLOORLEDGER_CONFIG"] = str(config_file)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture
def demo_store(backend: Backend, tmp_path: Path) -> str:
    """A store holding the demo order (integration ``demo``), used outside the project folder."""
    done = cli("demo", url=backend.url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return backend.url


def test_plan_of_an_unknown_work_centre_or_integration_says_unknown_and_lists_the_known(
    demo_store: str, tmp_path: Path
) -> None:
    nope = cli("plan", "NOPE", url=demo_store, cwd=tmp_path)
    assert nope.returncode == 2
    assert "unknown work centre 'NOPE'" in nope.stderr
    assert "COAT-1" in nope.stderr and "no open orders" not in nope.stdout
    bogus = cli("plan", "COAT-1", "--integration", "bogus", url=demo_store, cwd=tmp_path)
    assert bogus.returncode == 2
    assert "unknown integration 'bogus'" in bogus.stderr and "demo" in bogus.stderr
    known = cli("plan", "COAT-1", "--integration", "demo", url=demo_store, cwd=tmp_path)
    assert known.returncode == 0 and "Plan of COAT-1" in known.stdout


def test_not_found_messages_name_what_was_looked_up_and_no_integration_nobody_has(
    demo_store: str, tmp_path: Path
) -> None:
    for command in ("status", "history"):
        bogus = cli(command, "WO-404", "--integration", "bogus", url=demo_store, cwd=tmp_path)
        assert bogus.returncode == 2, command
        assert "unknown integration 'bogus'" in bogus.stderr
        assert "not in the ledger" not in bogus.stderr
        missing = cli(command, "WO-404", url=demo_store, cwd=tmp_path)
        assert missing.returncode == 1, command
        assert "order 'WO-404' is in no integration" in missing.stderr
        assert "'erp'" not in missing.stderr  # the default integration holds nothing here


def test_writeback_trigger_finds_the_orders_integration_as_status_and_history_do(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    outbox = tmp_path / "outbox"
    dest = {"name": "out", "transport": "files", "format": "csv", "outbox": str(outbox)}
    plant = write_config(tmp_path / "plant.toml", config(tmp_path, [dest], "E", "line-e"))
    ledger: Ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        work_order(ledger, "Q-1", integration="line-e")
        ledger.execute(
            SubmitReport(
                "Q-1", "10", started_at=T0, ended_at=T0 + timedelta(minutes=5),
                good=1, report_id="R1", integration="line-e",
            ),
            OPERATOR,
        )  # fmt: skip
    finally:
        ledger.close()
    triggered = cli("writeback", "trigger", "Q-1", "R1", url=url, cwd=tmp_path, config_file=plant)
    assert triggered.returncode == 0, triggered.stderr
    assert "report R1 of order Q-1 triggered" in triggered.stdout
    bogus = cli(
        "writeback", "trigger", "Q-1", "R1", "--integration", "bogus",
        url=url, cwd=tmp_path, config_file=plant,
    )  # fmt: skip
    assert bogus.returncode == 2 and "unknown integration 'bogus'" in bogus.stderr
