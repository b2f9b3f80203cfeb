"""How the long-running commands (writeback run, sync, views run) stop on SIGINT/SIGTERM.

The first signal asks the command to finish what it is doing and stop. A command that has
not stopped ``STOP_GRACE_SECONDS`` later (a destination or an ERP that does not answer, a
connection that does not close) exits anyway, as a supervisor's SIGKILL would, but at once:
every one of these processes is safe to kill (writeback progress is recorded per delivered
chunk, receivers dedupe by idempotency key, imports and view batches are idempotent), so
what was not finished is done by the next start.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

from api.cli.console import err

STOP_GRACE_SECONDS = 10.0


def stop_on_signals(
    stop: threading.Event,
    also: Callable[[], None] | None = None,
    grace: float = STOP_GRACE_SECONDS,
) -> None:
    """SIGINT and SIGTERM set ``stop`` (and call ``also``); ``grace`` seconds after the first,
    a process still running exits with status 1, saying so."""

    def _expire() -> None:
        time.sleep(grace)  # a daemon thread: a process that stopped meanwhile is gone
        err.print(
            f"did not stop within {grace:g} s of the signal; exiting now (what was not "
            "finished is done by the next start)"
        )
        os._exit(1)

    def _handle(*_: object) -> None:
        first = not stop.is_set()
        stop.set()
        if also is not None:
            also()
        if first:
            threading.Thread(target=_expire, name="stop-grace", daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handle)
