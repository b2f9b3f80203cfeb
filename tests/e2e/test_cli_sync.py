"""`floorledger sync` and `floorledger mapping check` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings, build_ledger
from tests.support.erp_http import ErpHttp, nested_order

ROOT = Path(__file__).resolve().parents[2]

FIELDS = """
[integrations.fields]
order_no = "number"
part_no = "article"
quantity = "qty"
unit = "uom"
release_state = "status"
work_centre = "wc"
operations = "ops"
op_id = "id"
op_name = "name"
op_work_centre = "wc"
setup_time = "setup"
run_time = "run"
"""


@pytest.fixture
def erp() -> Iterator[ErpHttp]:
    server = ErpHttp(page_size=100).start()
    try:
        yield server
    finally:
        server.stop()


def write_config(tmp_path: Path, erp: ErpHttp, extra: str = "") -> Path:
    text = f"""
[[integrations]]
name = "web"
mode = "B"

[integrations.inbound]
transport = "rest"
url = "{erp.url}"
items_path = "data.orders"
poll_seconds = 1
timeout_seconds = 2
{FIELDS}
[integrations.maps.work_centres]
PG-10 = "saw-1"
{extra}
"""
    path = tmp_path / "floorledger.toml"
    path.write_text(text)
    return path


def cli(*args: str, db: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env(db, config),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def env(db: Path, config: Path) -> dict[str, str]:
    return dict(
        os.environ,
        FLOORLEDGER_DATABASE_URL=f"sqlite:///{db}",
        FLOORLEDGER_CONFIG=str(config),
        FLOORLEDGER_DEFAULT_INTEGRATION="web",
    )


def test_sync_once_prints_what_changed(erp: ErpHttp, tmp_path: Path) -> None:
    erp.orders = [nested_order("WO-1"), nested_order("WO-2", wc="PG-77")]
    config = write_config(tmp_path, erp)
    db = tmp_path / "l.db"
    first = cli("sync", "--once", db=db, config=config)
    assert first.returncode == 0, first.stderr
    assert "web: 2 released" in first.stdout
    assert "released: WO-1, WO-2" in first.stdout
    assert "unknown_work_centre" in first.stdout and "PG-77" in first.stdout
    erp.orders[0] = nested_order("WO-1", qty=20)
    second = cli("sync", "--once", "--integration", "web", db=db, config=config)
    assert second.returncode == 0, second.stderr
    assert "0 released, 1 changed" in second.stdout and "changed: WO-1" in second.stdout
    erp.stop()
    down = cli("sync", "--once", db=db, config=config)
    assert down.returncode == 1
    assert "the ERP source is unavailable" in down.stdout


def test_configuration_errors_name_the_key_and_value_and_exit_2(
    erp: ErpHttp, tmp_path: Path
) -> None:
    config = write_config(tmp_path, erp)
    db = tmp_path / "l.db"
    unknown = cli("sync", "--once", "--integration", "nope", db=db, config=config)
    assert unknown.returncode == 2
    assert "no integration named 'nope' (configured: web)" in unknown.stderr
    config.write_text(config.read_text().replace("poll_seconds = 1", "poll_seconds = -5"))
    bad = cli("mapping", "check", db=db, config=config)
    assert bad.returncode == 2
    assert "integrations[0].inbound.poll_seconds: -5 must be ≥ 1" in bad.stderr


def test_mapping_check_lists_unknown_values_with_counts_and_examples_and_exits_1(
    erp: ErpHttp, tmp_path: Path
) -> None:
    erp.orders = [
        nested_order("WO-1", wc="PG-77"),
        nested_order("WO-2", wc="PG-77"),
        nested_order("WO-3"),
    ]
    config = write_config(tmp_path, erp)
    result = cli("mapping", "check", db=tmp_path / "l.db", config=config)
    assert result.returncode == 1, result.stderr  # a sync would warn about PG-77
    line = next(x for x in result.stdout.splitlines() if "PG-77" in x)
    assert "UNKNOWN" in line and "2 time(s) on 2 order(s)" in line and "WO-1, WO-2" in line
    assert "'PG-10': mapped to 'saw-1'" in result.stdout
    assert (
        not (tmp_path / "l.db").exists()
        or build_ledger(
            Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}")  # type: ignore[arg-type]
        ).find_order("WO-1", "web")
        is None
    )


def test_sync_runs_as_a_worker_until_stopped(erp: ErpHttp, tmp_path: Path) -> None:
    erp.orders = [nested_order("WO-1")]
    config = write_config(tmp_path, erp)
    db = tmp_path / "l.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "sync"],
        env=env(db, config),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(erp.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        erp.orders.append(nested_order("WO-2"))
        requests = len(erp.requests)
        while len(erp.requests) < requests + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "sync web: 1 released" in stderr
    ledger = build_ledger(Settings(database_url=f"sqlite:///{db}"))  # type: ignore[arg-type]
    try:
        assert ledger.find_order("WO-2", "web") is not None
    finally:
        ledger.close()
