"""Two view runners on the same store (two API processes, say) never crash or double-count."""

from __future__ import annotations

import threading

from domain.commands import ReceiveErpOrder, ReportQuantity
from projections import ViewReader, ViewRunner
from tests.conftest import Backend
from tests.factories import ERP, OPERATOR, an_erp_order


def test_two_runners_racing_on_the_same_views_agree_and_count_each_report_once(
    backend: Backend,
) -> None:
    ledger = backend.ledger()
    orders = 40
    for i in range(orders):
        ledger.execute(ReceiveErpOrder(an_erp_order(f"WO-{i}")), ERP)
        ledger.execute(ReportQuantity(f"WO-{i}", "10", good=1), OPERATOR)
        ledger.execute(ReportQuantity(f"WO-{i}", "10", good=2), OPERATOR)
    runners = [ViewRunner(ledger, batch_size=7) for _ in range(2)]
    runners[0].setup()
    errors: list[BaseException] = []

    def catch_up(r: ViewRunner) -> None:
        try:
            for _ in range(3):
                r.catch_up()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=catch_up, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = ViewReader.for_ledger(ledger)
    try:
        assert not errors, errors
        assert set(runners[0].positions().values()) == {ledger.position()}
        for i in range(orders):
            status = reader.status(f"WO-{i}", "erp")
            assert status is not None and status.good == 3
    finally:
        reader.close()
        for r in runners:
            r.close()
        ledger.close()
