"""On PostgreSQL the writeback pump is woken by the ledger's NOTIFY, not only by its poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.settings import Settings, build_ledger
from adapters.writeback.pump import Pump
from tests.conftest import PG_DSN, pg_schema
from tests.support.writeback import config, work_order
from tests.support.writeback_receiver import Receiver


@pytest.mark.postgres
def test_floor_events_reach_the_erp_long_before_the_pumps_next_poll(tmp_path: Path) -> None:
    with pg_schema() as schema:
        receiver = Receiver().start()
        dest = {"name": "erp-rest", "transport": "rest", "url": receiver.url,
                "batch_url": receiver.batch_url}  # fmt: skip
        ledger = build_ledger(Settings(database_url=f"{PG_DSN}?schema={schema}"))  # type: ignore[arg-type]
        pump = Pump(ledger, config(tmp_path, [dest], mode="D"))
        stop = threading.Event()
        # A poll of an hour: whatever arrives within the test's minute came by NOTIFY.
        thread = threading.Thread(target=pump.run_forever, args=(stop, 3600.0), daemon=True)
        try:
            thread.start()
            time.sleep(1)  # the first pass has run and the pump sleeps on its poll
            work_order(ledger, "N-1")
            deadline = time.monotonic() + 60
            while len(receiver.applied) < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(receiver.applied) == 10
        finally:
            stop.set()
            pump.wake()
            thread.join(10)
            pump.close()
            ledger.close()
            receiver.stop()
