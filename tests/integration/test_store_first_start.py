"""Several floorledger processes started together on a fresh store (serve, sync and
writeback run as separate services, as docs/operations.md lays them out) all open it: the
first start's table creation is not a race one of them loses."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from adapters import settings as settings_module
from adapters.settings import Settings, build_ledger
from tests.conftest import PG_DSN, Backend, pg_schema

ROOT = Path(__file__).resolve().parents[2]
OPEN = (
    "import sys\n"
    "from adapters.settings import Settings, build_ledger\n"
    "from adapters.tokens import TokenStore\n"
    "from projections import ViewRunner\n"
    "settings = Settings(database_url=sys.argv[1])\n"
    "ledger = build_ledger(settings)\n"
    "runner = ViewRunner(ledger)\n"
    "runner.setup()\n"
    "runner.close()\n"
    "TokenStore(settings).close()\n"
    "print('opened', ledger.position())\n"
    "ledger.close()\n"
)
STARTS = 8


def test_processes_started_together_on_a_fresh_store_all_open_it(
    backend: Backend, tmp_path: Path
) -> None:
    for round_ in range(3):  # the race is a matter of timing: three fresh stores
        with contextlib.ExitStack() as stack:
            if backend.name == "postgres":
                url = f"{PG_DSN}?schema={stack.enter_context(pg_schema('fs_'))}"
            else:
                url = f"sqlite:///{tmp_path / f'ledger-{round_}.db'}"
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", OPEN, url],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(STARTS)
            ]
            results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
            failed = [(rc, err.strip()[-400:]) for _, err, rc in results if rc != 0]
            assert failed == [], f"round {round_}: {len(failed)} of {STARTS} failed: {failed}"
            assert [out.strip() for out, _, _ in results] == ["opened 0"] * STARTS


def _held_first_start_lock(schema: str) -> Any:
    """A session holding the lock a process takes while it opens ``schema``."""
    import psycopg

    conn = psycopg.connect(PG_DSN, autocommit=True)
    key = zlib.crc32(f"floorledger first start {schema}".encode())
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    return conn


def test_a_process_waiting_for_another_opening_the_store_says_so_and_opens_it_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pg_schema("fs_") as schema:
        holder = _held_first_start_lock(schema)
        threading.Timer(1.0, holder.close).start()  # the other process is done in 1 s
        caplog.set_level(logging.WARNING, logger="adapters.settings")

        started = time.monotonic()
        ledger = build_ledger(Settings(database_url=f"{PG_DSN}?schema={schema}"))  # type: ignore[arg-type]
        try:
            assert ledger.position() == 0
        finally:
            ledger.close()
        assert time.monotonic() - started >= 0.9
        assert any(
            "another floorledger process is opening the ledger" in r.getMessage()
            and repr(schema) in r.getMessage()
            for r in caplog.records
        )


def test_a_process_that_never_finishes_opening_the_store_is_named_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings_module, "FIRST_START_WAIT_SECONDS", 0.5)
    with pg_schema("fs_") as schema:
        holder = _held_first_start_lock(schema)
        try:
            pid = holder.info.backend_pid
            with pytest.raises(OperationalError) as caught:
                build_ledger(Settings(database_url=f"{PG_DSN}?schema={schema}"))  # type: ignore[arg-type]
            message = str(caught.value)
            assert f"pid {pid}" in message and repr(schema) in message and "0.5 s" in message
        finally:
            holder.close()
