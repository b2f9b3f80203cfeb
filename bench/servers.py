"""Starting and stopping the processes a benchmark serves from (shared by bench/api.py and
bench/latency.py): a free loopback port, waiting for a URL to answer, ``floorledger``
commands started from a given checkout, and stopping them all."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 60) -> None:
    """Wait until ``url`` answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start(
    args: list[str],
    env: dict[str, str],
    *,
    code: Path = ROOT,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """``python ARGS`` run from the checkout ``code`` (``-m api.cli`` imports that code)."""
    return subprocess.Popen(
        [sys.executable, *args], env=env, cwd=code, stdout=stdout, stderr=stderr
    )


def floorledger(
    command: list[str], env: dict[str, str], *, code: Path = ROOT, **kw: object
) -> subprocess.Popen[bytes]:
    """``floorledger COMMAND`` (``python -m api.cli``) from the checkout ``code``."""
    return start(["-m", "api.cli", *command], env, code=code, **kw)  # type: ignore[arg-type]


def serve_args(port: int, *extra: str) -> list[str]:
    """``serve`` on loopback at ``port``, quiet."""
    return ["serve", "--host", "127.0.0.1", "--port", str(port), *extra, "--no-access-log"]


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes, then kill any that did not end within 10 s."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
