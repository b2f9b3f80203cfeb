"""What #11's write guarantees cost a floor command (ADR 0015), in one run.

    python bench/command_ids.py [--base /path/to/main/checkout] [--commands 600] [--rounds 3]
                                [--backends memory,sqlite,postgres] [--pg postgresql://...]

Sequential ReportQuantity commands on released orders (commands per second), alternated
against a named baseline (bench/method.py):
  * this tree under the API's 5 s deadline  vs  the ``--base`` tree (main), each in its own
    process: the cost of recognising a write and of the deadline on the normal path;
  * keyed commands (a receipt row each)  vs  unkeyed commands, this tree: what a receipt per
    unkeyed command would have cost (the design not taken).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"
ORDERS = 20


def worker(url: str, commands: int, keyed: bool, deadline: bool) -> float:
    """Commands per second in this process (the tree on sys.path decides the code)."""
    sys.path.insert(0, os.getcwd())
    from contextlib import nullcontext
    from decimal import Decimal

    from adapters.settings import Settings, build_ledger
    from domain import Actor, ErpOperation, ErpOrder
    from domain.commands import ReceiveErpOrder, ReportQuantity

    erp, op = Actor("bench", "integration", "erp:erp"), Actor("bench-op", "operator", "api")
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    try:
        for i in range(ORDERS):
            order = ErpOrder(
                order_no=f"C-{i}", part_no="P", quantity=Decimal(10**9), unit="pcs",
                routing=(ErpOperation("10", "op", "W-1"),),
            )  # fmt: skip
            ledger.execute(ReceiveErpOrder(order), erp)
        bound: Any = nullcontext
        if deadline:
            from domain.deadline import command_deadline

            bound = lambda: command_deadline(5.0)  # noqa: E731  (per command, as per request)
        start = time.perf_counter()
        for n in range(commands):
            with bound():
                ledger.execute(
                    ReportQuantity(f"C-{n % ORDERS}", "10", good=1),
                    op,
                    key=f"bench:{n}" if keyed else None,
                )
        return commands / (time.perf_counter() - start)
    finally:
        ledger.close()


def fresh_store(backend: str, pg: str, tmp: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / (uuid.uuid4().hex + '.db')}", None
    if backend == "memory":  # SQLite in memory: no fsync, so the code's own cost shows
        return f"sqlite:///file:{uuid.uuid4().hex}?mode=memory&cache=shared", None
    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{pg}?schema={schema}", schema


def drop(pg: str, schema: str | None) -> None:
    """Drop the run's schema, waiting for a free connection on a busy shared server."""
    for attempt in range(10):
        if not schema:
            return
        try:
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            return
        except psycopg.OperationalError:
            if attempt == 9:
                raise
            time.sleep(2)


def run_in(tree: Path, backend: str, args: argparse.Namespace, tmp: Path, **flags: bool) -> float:
    url, schema = fresh_store(backend, args.pg, tmp)
    try:
        cmd = [sys.executable, str(ROOT / "bench" / "command_ids.py"), "--worker", url]
        cmd += ["--commands", str(args.commands)]
        cmd += [f"--{k}" for k, v in flags.items() if v]
        out = subprocess.run(
            cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        drop(args.pg, schema)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.method import Machine, rounds_argument

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", metavar="URL")
    p.add_argument("--keyed", action="store_true")
    p.add_argument("--deadline", action="store_true")
    p.add_argument("--base", type=Path, help="a checkout of main to compare with")
    p.add_argument("--commands", type=int, default=600)
    p.add_argument("--backends", default="memory,sqlite,postgres")
    p.add_argument("--pg", default=PG)
    rounds_argument(p)
    args = p.parse_args()
    if args.worker:
        print(worker(args.worker, args.commands, args.keyed, args.deadline))
        return
    machine = Machine.now()
    with tempfile.TemporaryDirectory() as d:
        for backend in args.backends.split(","):
            compare(backend, args, Path(d))
    print(machine.report())


def compare(backend: str, args: argparse.Namespace, tmp: Path) -> None:
    from bench.method import alternate

    print(f"{backend}: {args.commands} sequential ReportQuantity commands per run")
    if args.base is not None:
        c = alternate(
            "this tree, 5 s deadline", "main",
            lambda: run_in(args.base, backend, args, tmp),
            lambda: run_in(ROOT, backend, args, tmp, deadline=True),
            rounds=args.rounds, unit="commands/s",
        )  # fmt: skip
        print(c.report())
    c = alternate(
        "keyed (receipt row each)", "unkeyed",
        lambda: run_in(ROOT, backend, args, tmp),
        lambda: run_in(ROOT, backend, args, tmp, keyed=True),
        rounds=args.rounds, unit="commands/s",
    )  # fmt: skip
    print(c.report())


if __name__ == "__main__":
    main()
