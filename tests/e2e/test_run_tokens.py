"""`floorledger run` replaces its own operator and supervisor tokens at every start."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import Backend
from tests.support.server import ROOT, floorledger


def _printed_tokens(output: str) -> dict[str, str]:
    return dict(re.findall(r"(operator|supervisor)\s+Bearer (\S+)", output))


def test_a_second_run_revokes_the_first_runs_tokens_and_its_own_work(
    tmp_path: Path, backend: Backend
) -> None:
    env = {"FLOORLEDGER_DATABASE_URL": backend.url}
    # a token someone created by hand is not the run's to revoke
    made = subprocess.run(
        [sys.executable, "-m", "api.cli", "token", "create", "--name=olga", "--role=operator"],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    olga = made.stdout.strip()
    with floorledger("run", "--no-demo", cwd=tmp_path, env=env) as first:
        old = _printed_tokens(first.output())
    with floorledger("run", "--no-demo", cwd=tmp_path, env=env) as second:
        new = _printed_tokens(second.output())
        assert set(old) == set(new) == {"operator", "supervisor"}
        assert old != new

        def status(secret: str) -> int:
            auth = {"Authorization": f"Bearer {secret}"}
            return httpx.get(f"{second.base}/conflicts", headers=auth, timeout=5).status_code

        assert [status(old["operator"]), status(old["supervisor"])] == [401, 401]
        assert [status(new["operator"]), status(new["supervisor"])] == [200, 200]
        assert status(olga) == 200
    listed = subprocess.run(
        [sys.executable, "-m", "api.cli", "token", "list", "--json"],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    tokens = json.loads(listed.stdout)
    live = sorted(t["name"].split("-")[0] for t in tokens if t["revoked_at"] is None)
    assert live == ["olga", "run.operator", "run.supervisor"]
    assert len([t for t in tokens if t["revoked_at"] is not None]) == 2
