"""A runner process for the crash tests: follows the ledger and prints each batch it folds.

Usage: python -m tests.support.projection_runner URL BATCH_SIZE DELAY_SECONDS
With a delay, each batch pauses inside its transaction (rows written, not yet committed),
so a SIGKILL then lands mid-batch.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence

from adapters.settings import Settings, build_ledger
from projections import StatusView, ViewRunner
from projections.base import Logged
from projections.store import Db


class SlowStatusView(StatusView):
    """The status view, announcing each batch and pausing before its commit."""

    delay = 0.0

    def apply_batch(self, db: Db, events: Sequence[Logged]) -> None:
        super().apply_batch(db, events)
        print(f"batch {events[0].position if events else 0}", flush=True)
        time.sleep(self.delay)


def main() -> None:
    url, batch, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    SlowStatusView.delay = delay
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    runner = ViewRunner(ledger, [SlowStatusView()], batch_size=batch)
    runner.setup()
    print("ready", flush=True)
    runner.run_forever(threading.Event())


if __name__ == "__main__":
    main()
