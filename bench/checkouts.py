"""Bulk release and plan import: this checkout against another (the baseline), alternated.

    python bench/checkouts.py --baseline /work/main [--what release,csv,xlsx,b2mml,sql]
                              [--orders 10000] [--rounds 3] [--backends sqlite,postgres]

Each measurement runs in a fresh subprocess with the checkout under test first on
``sys.path`` (same Python, same installed libraries), baseline and subject alternating in
rounds (bench/method.py):
  * ``release``: ``Ledger.release_orders`` of ORDERS orders with 5 operations each into an
    empty store (SQLite file, PostgreSQL schema), events/s; goal >= 10,000 on PostgreSQL;
  * ``csv``, ``xlsx``, ``b2mml``, ``sql``: the full plan import of bench/import.py (read,
    map and apply a plan of new orders with the bulk path) into PostgreSQL, orders/s; goal
    >= 1,000. The subject's run also applies the plan twice more and reports the CPU of the
    second, unchanged re-poll (ERP memory primed); goal well under 1 s for 10,000 orders.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"


def child(args: argparse.Namespace) -> None:
    """One measurement, with ``args.checkout`` first on sys.path; prints one JSON line."""
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    from decimal import Decimal

    import psycopg

    from adapters.settings import Settings, build_ledger
    from domain import Actor, ErpOperation, ErpOrder

    def store(backend: str, tmp: str) -> tuple[Any, Any]:
        if backend == "sqlite":
            return Settings(database_url=f"sqlite:///{tmp}/bench.db"), None  # type: ignore[arg-type]
        schema = "bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return Settings(database_url=f"{args.pg}?schema={schema}"), schema  # type: ignore[arg-type]

    def drop(schema: str | None) -> None:
        if schema:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

    out: dict[str, float] = {}
    import domain

    assert Path(domain.__file__).resolve().is_relative_to(Path(args.checkout).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        settings, schema = store(args.backend, tmp)
        try:
            ledger = build_ledger(settings)
            if args.what == "release":
                erp = Actor("bench", "integration", "erp:erp")
                orders = [
                    ErpOrder(
                        order_no=f"B-{i:06d}", part_no=f"P-{i % 97}", quantity=Decimal(100),
                        unit="pcs", description="bench order", priority=i % 5, work_centre="WC",
                        routing=tuple(
                            ErpOperation(str(10 * (k + 1)), f"op {k}", f"WC-{k}", Decimal(5),
                                         Decimal("0.5"))
                            for k in range(5)
                        ),
                    )
                    for i in range(args.orders)
                ]  # fmt: skip
                start, cpu = time.perf_counter(), time.process_time()
                written = ledger.release_orders(orders, erp)
                out["rate"] = written / (time.perf_counter() - start)
                out["cpu_rate"] = written / (time.process_time() - cpu)
                assert written == args.orders, written
            else:
                from adapters.inbound.sync import apply_mapping

                integ, read = _source(args)
                start, cpu = time.perf_counter(), time.process_time()
                summary = apply_mapping(integ, ledger, read(), bulk=True)
                out["rate"] = args.orders / (time.perf_counter() - start)
                out["cpu_rate"] = args.orders / (time.process_time() - cpu)
                assert len(summary.released) == args.orders and summary.ok, summary.line()
                if args.repoll:
                    apply_mapping(integ, ledger, read(), bulk=True)  # leaves the ERP memory
                    result = read()
                    cpu = time.process_time()
                    again = apply_mapping(integ, ledger, result, bulk=True)
                    out["repoll_cpu"] = time.process_time() - cpu
                    assert len(again.unchanged) == args.orders, again.line()
            ledger.close()
        finally:
            drop(schema)
    print(json.dumps(out))


def _source(args: argparse.Namespace) -> tuple[Any, Any]:
    from adapters.config import Integration
    from adapters.inbound.parsers import parse_b2mml, parse_csv, parse_xlsx
    from adapters.mapping import map_records

    fmt, path = args.what, Path(args.plan)
    if fmt == "sql":
        from adapters.inbound import sql as sql_source

        os.environ["BENCH_DB_URL"] = args.pg
        integ = Integration.model_validate(
            {
                "name": "sql",
                "mode": "B",
                "inbound": {"transport": "sql", "url_env": "BENCH_DB_URL", "table": args.plan},
            }
        )
        return integ, lambda: sql_source.read(integ)
    files = {"transport": "files", "inbox": "/tmp/unused", "archive": "/tmp/unused",
             "error": "/tmp/unused", "format": fmt}  # fmt: skip
    integ = Integration.model_validate({"name": fmt, "mode": "B", "inbound": files})
    parse = {"csv": parse_csv, "xlsx": parse_xlsx, "b2mml": parse_b2mml}[fmt]
    return integ, lambda: map_records(parse(path), integ.field_map, integ.maps)


def measure(checkout: str, what: str, backend: str, plan: str, args: argparse.Namespace,
            repoll: bool) -> dict[str, float]:  # fmt: skip
    cmd = [sys.executable, __file__, "--child", "--checkout", checkout, "--what", what,
           "--backend", backend, "--plan", plan, "--orders", str(args.orders),
           "--pg", args.pg]  # fmt: skip
    if repoll:
        cmd.append("--repoll")
    env = dict(os.environ, PYTHONPATH=checkout)
    for _ in range(30):  # the shared PostgreSQL server may have no connection to spare
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0 or "too many clients" not in done.stderr:
            break
        time.sleep(10)
    if done.returncode != 0:
        raise SystemExit(f"{checkout} {what}: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="/work/main")
    p.add_argument("--subject", default=str(HERE))
    p.add_argument("--what", default="release,csv,xlsx,b2mml,sql")
    p.add_argument("--backends", default="sqlite,postgres", help="for release")
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--pg", default=PG)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--checkout", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="postgres", help=argparse.SUPPRESS)
    p.add_argument("--plan", default="", help=argparse.SUPPRESS)
    p.add_argument("--repoll", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(HERE))
    from bench import method

    machine = method.Machine.now()
    base_sha = _head(args.baseline)
    print(f"{args.orders} orders x 5 operations; baseline {args.baseline} ({base_sha}), "
          f"subject {args.subject} ({_head(args.subject)}); "
          f"{args.rounds} alternated rounds")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for what in args.what.split(","):
            backends = args.backends.split(",") if what == "release" else ["postgres"]
            for backend in backends:
                plan, cleanup = _plan(what, Path(tmp), args)
                try:
                    cpu: list[float] = []
                    cpu_rates: dict[str, list[float]] = {"b": [], "s": []}
                    run = _runner(args, what, backend, plan, cpu, cpu_rates)
                    unit = "events/s" if what == "release" else "orders/s"
                    label = f"{what} ({backend})" if what == "release" else f"{what} import"
                    print(f"{label}:", flush=True)
                    c = method.alternate(
                        "this checkout", "baseline checkout",
                        lambda r=run: r(args.baseline, False), lambda r=run: r(args.subject, True),
                        rounds=args.rounds, unit=unit,
                    )  # fmt: skip
                    print(c.report())
                    per_cpu = method.Comparison(
                        c.subject, c.baseline, f"{unit} per CPU-second of the process",
                        cpu_rates["s"], cpu_rates["b"],
                    )  # fmt: skip
                    print(per_cpu.report())
                    if cpu:
                        print(f"  unchanged re-poll of {args.orders} orders (subject): CPU "
                              f"{', '.join(f'{x:.2f}' for x in cpu)} s")  # fmt: skip
                finally:
                    cleanup()
    print(machine.report())


def _runner(
    args: argparse.Namespace,
    what: str,
    backend: str,
    plan: str,
    cpu: list[float],
    cpu_rates: dict[str, list[float]],
) -> Any:
    def run(checkout: str, subject: bool) -> float:
        r = measure(checkout, what, backend, plan, args, subject and what != "release")
        if "repoll_cpu" in r:
            cpu.append(r["repoll_cpu"])
        cpu_rates["s" if subject else "b"].append(r["cpu_rate"])
        return r["rate"]

    return run


def _head(checkout: str) -> str:
    done = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    dirty = subprocess.run(["git", "-C", checkout, "status", "--porcelain", "-uno"],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return done.stdout.strip() + ("+changes" if dirty else "")


def _plan(what: str, tmp: Path, args: argparse.Namespace) -> tuple[str, Any]:
    """Write the plan of ``what`` once (not timed); the path (or staging table) and a cleanup."""
    if what == "release":
        return "", lambda: None
    import importlib

    imp = importlib.import_module("bench.import")
    if what == "sql":
        import psycopg

        table = "bench_stg_" + uuid.uuid4().hex[:8]
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in imp.COLUMNS)})")
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for r in imp.rows(args.orders):
                    copy.write_row([str(v) for v in r])

        def drop() -> None:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP TABLE {table}")

        return table, drop
    path = tmp / f"plan.{ {'csv': 'csv', 'xlsx': 'xlsx', 'b2mml': 'xml'}[what] }"
    {"csv": imp.write_csv, "xlsx": imp.write_xlsx, "b2mml": imp.write_b2mml}[what](
        path, args.orders
    )
    return str(path), lambda: None


if __name__ == "__main__":
    main()
