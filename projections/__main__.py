"""Run the views against the configured ledger: ``python -m projections run|catch-up|rebuild``.

Reads FLOORLEDGER_DATABASE_URL like the rest of floorledger. ``run`` follows the ledger
until interrupted (SIGINT/SIGTERM); ``catch-up`` folds up to the head and exits; ``rebuild``
drops one view (or all) and replays the ledger into it with a progress bar.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from adapters.settings import Settings, build_ledger
from projections.runner import ViewRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projections", description=__doc__)
    parser.add_argument("command", choices=["run", "catch-up", "rebuild"])
    parser.add_argument("views", nargs="*", help="view names (default: all)")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    ledger = build_ledger(Settings())
    runner = ViewRunner(ledger, batch_size=args.batch_size)
    names = args.views or list(runner.views)
    try:
        runner.setup()
        if args.command == "run":
            for name in runner.views:
                if name not in names:
                    runner.pause(name)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            runner.run_forever(stop)
        elif args.command == "catch-up":
            n = runner.catch_up(names)
            print(f"{n} events folded; positions {runner.positions()}")
        else:
            from rich.progress import Progress, TaskID

            with Progress() as bar:
                for name in names:
                    task = bar.add_task(f"rebuild {name}", total=None)

                    def advance(cur: int, tot: int, t: TaskID = task) -> None:
                        bar.update(t, completed=cur, total=tot)

                    result = runner.rebuild(name, progress=advance)
                    bar.console.print(
                        f"{name}: {result.events} events in {result.seconds:.2f}s "
                        f"({result.events_per_second:,.0f} events/s)"
                    )
    finally:
        runner.close()
        ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
