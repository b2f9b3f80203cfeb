"""Several floorledger processes started together on a fresh store (serve, sync and
writeback run as separate services, as docs/operations.md lays them out) all open it: the
first start's table creation is not a race one of them loses."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

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
