"""Benchmark: the auditor's event search (#15) — the events-by-actor view's indexed query
against the former scan of the ledger's newest 50,000 events (the baseline), and what the
view adds to a rebuild of the other five views.

    .venv/bin/python bench/events_search.py --events 60000 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from adapters.settings import Settings, store_env
from bench.projections import populate
from domain import Ledger
from domain.values import order_id_for
from projections import ViewReader, ViewRunner, default_views
from projections.events_index import EventsIndexView

FORMER_SCAN = 50_000


def former_scan(ledger: Ledger, reader: ViewReader, actor: str, since: datetime) -> int:
    """What the search page did before the view: decode the newest 50,000 events and keep
    the order events of ``actor`` recorded since ``since``."""
    head = int(ledger.recorder.max_notification_id() or 0)
    orders = {str(order_id_for(r.integration, r.order_no)) for r in reader.orders(limit=100_000)}
    found, position = 0, max(1, head - FORMER_SCAN + 1)
    while position <= head:
        batch = ledger.recorder.select_notifications(position, 1000)
        if not batch:
            break
        for n in batch:
            position = n.id + 1
            if str(n.originator_id) not in orders:
                continue
            e: Any = ledger.mapper.to_domain_event(n)
            if e.actor_id == actor and e.timestamp >= since:
                found += 1
    return found


def main() -> None:
    from bench.method import Machine, alternate, rounds_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    rounds_argument(parser, default=5)
    args = parser.parse_args()
    machine = Machine.now()
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='flbench')) / 'bench.db'}"
    settings = Settings(database_url=url, aggregate_cache_size=0)  # type: ignore[arg-type]
    ledger = Ledger(env=store_env(settings), default_integration="bench")
    print("SQLite:")
    head = populate(ledger, args.events)
    runner = ViewRunner(ledger, batch_size=1000)
    runner.setup()
    runner.catch_up()
    reader = ViewReader(runner.store)
    since = datetime.now(UTC) - timedelta(days=30)

    def per_second(fn: Any) -> float:
        started = time.perf_counter()
        fn()
        return 1 / (time.perf_counter() - started)

    indexed, _ = reader.events_by_actor("bench-erp", since, None, 500)
    print(f"  {head:,} events; the indexed query returns {len(indexed)} (newest 500), the scan "
          f"finds {former_scan(ledger, reader, 'bench-erp', since):,} in its 50,000")  # fmt: skip
    c = alternate(
        "indexed query (events view)",
        "former scan of the newest 50,000 events",
        lambda: per_second(lambda: former_scan(ledger, reader, "bench-erp", since)),
        lambda: per_second(lambda: reader.events_by_actor("bench-erp", since, None, 500)),
        rounds=args.rounds,
        unit="searches/s",
    )
    print(c.report())

    def rebuild(views: list[Any]) -> float:
        r = ViewRunner(ledger, views, batch_size=1000)
        r.setup()
        started = time.perf_counter()
        for name in list(r.views):
            r.rebuild(name)
        seconds = time.perf_counter() - started
        r.close()
        return head / seconds

    five = [v for v in default_views() if not isinstance(v, EventsIndexView)]
    c = alternate(
        "all six views (with events)",
        "the five views before #15",
        lambda: rebuild(five),
        lambda: rebuild(default_views()),
        rounds=args.rounds,
        unit="events/s rebuilt",
    )
    print(c.report())
    reader.close()
    runner.close()
    ledger.close()
    print(machine.report())


if __name__ == "__main__":
    main()
