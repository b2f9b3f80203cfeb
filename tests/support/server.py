"""A real `floorledger serve` / `floorledger run` subprocess for HTTP tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@dataclass
class Server:
    """A running floorledger process: where it answers and what it printed."""

    base: str
    log: Path
    proc: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def floorledger(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    scheme: str = "http",
    verify: str | bool = False,
) -> Iterator[Server]:
    """Start ``python -m api.cli <args> --port P`` and wait until /health/live answers."""
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    full_env = dict(base_env, PYTHONPATH=str(ROOT), **(env or {}))
    log_path = cwd / f"floorledger-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args, "--port", str(port)],
        cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(f"{scheme}://127.0.0.1:{port}", log_path, proc)

    def live() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"floorledger exited: {log_path.read_text()}")
        try:
            return httpx.get(f"{server.base}/health/live", timeout=2, verify=verify).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_for(live)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
