"""Shared fixtures of the fault suite: real processes (the CLI, the API server) on real stores,
killed and restarted, with what a user would count printed (run with ``-s`` to see them).

Every test in tests/faults/ is marked ``faults`` (registered in pyproject.toml) and runs with
the default suite; each is bounded to well under a minute.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_DSN, pg_schema

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


def counts(what: str, **figures: Any) -> None:
    """Print the figures a user would check (acknowledged, recorded, delivered, lost…)."""
    print(f"\n[faults] {what}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], seconds: float, what: str, step: float = 0.02) -> float:
    """Poll ``check`` until true; returns the seconds it took, fails after ``seconds``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(step)
    return time.monotonic() - start


class Cli:
    """Runs ``python -m api.cli …`` as its own process against one store (and config)."""

    def __init__(self, db_url: str, env: dict[str, str] | None = None) -> None:
        self.db_url = db_url
        self.env = {
            # the window of floor times at its default (the suite's own "off" left out)
            **{k: v for k, v in os.environ.items() if k != "FLOORLEDGER_MAX_BACKDATE_HOURS"},
            "FLOORLEDGER_DATABASE_URL": db_url,
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "200",
            **(env or {}),
        }

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def sigkill(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            sigkill(proc)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server, dropped afterwards."""
    with pg_schema("flt_") as schema:
        yield f"{PG_DSN}?schema={schema}"


class ApiServer:
    """``floorledger serve`` in its own process, with a token per role."""

    def __init__(self, db_url: str, port: int, env: dict[str, str] | None = None) -> None:
        self.cli = Cli(db_url, env)
        self.url = f"http://127.0.0.1:{port}"
        self.proc = self.cli.spawn("serve", "--port", str(port), "--log-level", "warning")
        self.tokens: dict[str, str] = {}
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the API server exited with {self.proc.returncode}")
        try:
            return self.client.get("/health/live").status_code == 200
        except httpx.TransportError:
            return False

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, role: str, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.headers(role))

    def post(self, role: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(role))

    def close(self) -> None:
        self.client.close()
        stop(self.proc)


@pytest.fixture
def api_server() -> Iterator[Callable[[str], ApiServer]]:
    """Start the API on a store (a token each for operator, supervisor, auditor, integration)."""
    servers: list[ApiServer] = []

    def start(db_url: str, env: dict[str, str] | None = None) -> ApiServer:
        """``env``: more environment for the server process (FLOORLEDGER_*, PGAPPNAME…)."""
        from adapters.settings import Settings
        from adapters.tokens import TokenStore

        store = TokenStore(Settings(database_url=db_url))  # type: ignore[arg-type]
        try:
            roles = ("operator", "supervisor", "auditor", "integration")
            secrets = {r: store.create(f"faults-{r}", r)[1] for r in roles}
        finally:
            store.close()
        server = ApiServer(db_url, free_port(), env)
        servers.append(server)
        server.tokens = secrets
        wait_until(server.ready, 60, "the API server answers", step=0.1)
        return server

    try:
        yield start
    finally:
        for s in servers:
            s.close()
