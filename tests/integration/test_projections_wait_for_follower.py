"""A read that waits for its own write (``wait_for_position``) in an API process without a
view runner of its own: while a runner elsewhere (``floorledger views run``) follows the
ledger, the read waits for that runner instead of folding the same events a second time; when
that runner stops, the read catches the views up itself as before."""

from __future__ import annotations

import threading

from adapters.settings import Settings, own_database
from domain.commands import ReceiveErpOrder, ReportQuantity
from projections import ViewReader, ViewRunner
from projections.status import StatusView
from tests.conftest import Backend
from tests.factories import ERP, OPERATOR, an_erp_order


def test_a_read_waits_for_the_runner_following_elsewhere_and_folds_nothing_itself(
    backend: Backend,
) -> None:
    ledger = backend.ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1")), ERP)
    follower = ViewRunner(ledger)  # the `views run` process
    api = ViewRunner(ledger)  # the API's runner, not following
    reader = ViewReader.for_ledger(ledger)
    try:
        follower.setup()
        follower.start()
        api.positions()
        first = ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR).position
        assert first is not None
        assert follower.wait_until(first, timeout=30)
        api.positions()  # sees the views moved by someone else
        assert api.followed_elsewhere()
        folded: list[object] = []  # batches the API's runner folds itself
        step = api._step
        api._step = lambda names: folded.append(names) or step(names)  # type: ignore[method-assign]

        second = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR).position
        assert second is not None
        assert api.wait_until(second, timeout=30)
        status = reader.status("WO-1", "erp")
        assert status is not None and status.good == 3
        assert folded == []  # the follower folded the events, the read only waited

        follower.stop()
        third = ledger.execute(ReportQuantity("WO-1", "10", good=4), OPERATOR).position
        assert third is not None
        assert api.wait_until(third, timeout=30)  # the follower is gone: it catches up itself
        assert folded
        status = reader.status("WO-1", "erp")
        assert status is not None and status.good == 7
    finally:
        follower.stop()
        reader.close()
        api.close()
        follower.close()
        ledger.close()


def test_a_status_read_needs_the_status_view_alone_to_have_reached_the_position(
    backend: Backend,
) -> None:
    ledger = backend.ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1")), ERP)
    follower = ViewRunner(ledger, [StatusView()])  # folds the status view only
    api = ViewRunner(ledger)
    reader = ViewReader.for_ledger(ledger)
    try:
        api.setup()
        follower.start()
        api.positions()
        first = ledger.execute(ReportQuantity("WO-1", "10", good=1), OPERATOR).position
        assert first is not None
        assert follower.wait_until(first, timeout=30)
        api.positions()
        second = ledger.execute(ReportQuantity("WO-1", "10", good=2), OPERATOR).position
        assert second is not None

        assert api.wait_until(second, timeout=30, views=["status"])
        assert api.positions()["plan"] < second  # the plan view is still behind
        status = reader.status("WO-1", "erp")
        assert status is not None and status.good == 3
    finally:
        follower.stop()
        reader.close()
        api.close()
        follower.close()
        ledger.close()


def test_many_concurrent_view_reads_share_no_more_connections_than_the_pool_allows(
    backend: Backend,
) -> None:
    """An API serving many reads at once (one per request thread) stays within
    FLOORLEDGER_PG_POOL_SIZE + FLOORLEDGER_PG_MAX_OVERFLOW view connections."""
    ledger = backend.ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1")), ERP)
    runner = ViewRunner(ledger)
    runner.catch_up()
    settings = Settings(database_url=backend.url, pg_pool_size=1, pg_max_overflow=1)  # type: ignore[arg-type]
    reader = ViewReader(own_database(settings))
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                status = reader.status("WO-1", "erp")
                assert status is not None
                seen.append(len(reader._all))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(seen) == 100
        assert max(seen) <= 2  # pool size 1 + overflow 1
    finally:
        reader.close()
        reader.store.dispose()
        runner.close()
        ledger.close()
