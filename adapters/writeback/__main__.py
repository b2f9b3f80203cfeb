"""``python -m adapters.writeback``: run the writeback pump until stopped (SIGTERM, Ctrl-C)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from adapters.config import ConfigError, load_config
from adapters.settings import build_ledger
from adapters.writeback.pump import Pump


def main(argv: list[str] | None = None) -> int:
    """Follow the ledger and push to the configured ERP destinations."""
    parser = argparse.ArgumentParser(prog="python -m adapters.writeback", description=__doc__)
    parser.add_argument("--destination", action="append", help="only this destination (repeat)")
    parser.add_argument("--once", action="store_true", help="drain the backlog once, then exit")
    parser.add_argument("--poll", type=float, default=None, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    ledger = build_ledger()
    pump = Pump(ledger, config, args.destination)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()
        pump.wake()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if args.once:
            result = pump.run_once()
            print(result)
            return 1 if any(isinstance(v, str) for v in result.values()) else 0
        pump.run_forever(stop, args.poll)
        return 0
    finally:
        pump.close()
        ledger.close()


if __name__ == "__main__":
    sys.exit(main())
