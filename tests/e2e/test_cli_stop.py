"""The long-running commands stop on SIGTERM; one still busy after its grace exits anyway."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUSY = (
    "import sys, threading, time\n"
    "from api.cli.stopping import stop_on_signals\n"
    "stop = threading.Event()\n"
    "stop_on_signals(stop, grace=float(sys.argv[1]))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60) if sys.argv[2] == 'stuck' else stop.wait()\n"
    "print('stopped', flush=True)\n"
)


@pytest.mark.parametrize("work", ["stuck", "obliging"])
def test_a_command_stops_on_sigterm_and_one_still_busy_exits_after_its_grace(work: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", BUSY, "1.5", work], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, errors = proc.communicate(timeout=30)
    took = time.monotonic() - asked
    if work == "stuck":
        assert proc.returncode == 1 and 1.4 < took < 15, (proc.returncode, took)
        assert "did not stop within 1.5 s" in " ".join(errors.split())
        assert "stopped" not in out
    else:
        assert proc.returncode == 0 and "stopped" in out and "did not stop" not in errors


@pytest.mark.parametrize("command", [["views", "run"], ["sync"]])
def test_views_run_and_sync_stop_on_sigterm(command: list[str], tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "FLOORLEDGER_CONFIG": str(ROOT / "examples" / "file-drop" / "floorledger.toml"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *command], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(4)  # started and following
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "did not stop" not in out


@pytest.mark.parametrize("command", [["sync"], ["views", "run"], ["writeback", "run"]])
def test_the_long_running_commands_say_in_their_help_how_they_stop(command: list[str]) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from api.cli.stopping import STOP_GRACE_SECONDS

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"still busy {STOP_GRACE_SECONDS:g} s after the signal" in text
    assert "exits with status 1" in text
