"""Benchmark: peak memory (RSS) of ``floorledger views rebuild`` (all views) against the
number of events in the ledger, main's code (the baseline) against this tree's, alternated.

    .venv/bin/python bench/rebuild_memory.py --events 100000,250000 --rounds 2
    .venv/bin/python bench/rebuild_memory.py --events 1000000 --backends sqlite,postgres \\
        --baseline-tree /work/main --rounds 1

Each store holds ``events / 10`` orders of ten events each (release, then nine floor events:
start, pause, resume, two quantity reports, complete, start, report, result). Stores are
generated once and kept (SQLite: ``--store-dir``, default /tmp/flmem; PostgreSQL: schema
``flmem_<events>`` in the test database), so later runs skip generation; ``--regenerate``
starts over. Every rebuild runs the real CLI (``python -m api.cli views rebuild``) in its own
process with the code tree as its working directory and ``PYTHONPATH``; its peak RSS is the
kernel's high-water mark of that process (``ru_maxrss`` from ``wait4``), and the RSS is also
sampled every 0.2 s to show where in the rebuild it grows.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from adapters.settings import Settings, store_env
from bench.method import Machine, alternate, rounds_argument
from bench.plant import bench_order
from domain import Actor, ErpOrder, Ledger, WorkOrder

PG_DSN = os.environ.get("FLOORLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ERP = Actor("bench-erp", "integration", "erp:bench")
OP = Actor("bench-op", "operator", "api")
EVENTS_PER_ORDER = 10
CHUNK = 1000  # orders per save


def _order(i: int) -> ErpOrder:
    return bench_order(i, "M")


def _floor_work(o: WorkOrder, t0: datetime) -> None:
    """Nine floor events on one order (the tenth is its release)."""

    def t(m: int) -> datetime:
        return t0 + timedelta(minutes=m)

    o.start_operation("10", OP, t(0))
    o.pause_operation("10", "WAIT", OP, t(10))
    o.resume_operation("10", OP, t(15))
    o.report_quantity("10", OP, good=40, scrap=2, scrap_reason="BURR", at=t(30))
    o.report_quantity("10", OP, good=55, rework=1, at=t(40))
    o.complete_operation("10", OP, t(41))
    o.start_operation("20", OP, t(45))
    o.report_quantity("20", OP, good=90, scrap=3, scrap_reason="DENT", at=t(70))
    o.record_result("20", OP, passed=True, characteristic="angle", at=t(71))


def generate(url: str, events: int) -> int:
    """Store ``events`` events over ``events / 10`` orders; returns the ledger's head.

    Orders are released and worked on in memory (the domain's own command methods, so each
    event carries its real hash chain) and saved a thousand orders at a time.
    """
    orders = max(1, events // EVENTS_PER_ORDER)
    settings = Settings(database_url=url, aggregate_cache_size=0)  # type: ignore[arg-type]
    ledger = Ledger(env=store_env(settings), default_integration="bench")
    started = time.perf_counter()
    t0 = datetime.now(UTC) - timedelta(days=3)
    try:
        for first in range(0, orders, CHUNK):
            aggs = [
                WorkOrder.release("bench", _order(i).checked(), ERP)
                for i in range(first, min(orders, first + CHUNK))
            ]
            for agg in aggs:
                _floor_work(agg, t0)
            ledger.save(*aggs)
            if (first // CHUNK) % 20 == 19:
                print(f"    generated {ledger.position():,} events", flush=True)
        head = ledger.position()
    finally:
        ledger.close()
    print(f"  generated {head:,} events over {orders:,} orders in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    return head


# ---------------------------------------------------------------------- stores, kept


def sqlite_store(store_dir: Path, events: int, regenerate: bool) -> tuple[str, int]:
    path = store_dir / f"rebuild-{events}.db"
    url = f"sqlite:///{path}"
    head = _sqlite_head(path)
    if regenerate or head < events:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store_dir.mkdir(parents=True, exist_ok=True)
        head = generate(url, events)
    else:
        print(f"  SQLite store {path} kept from an earlier run ({head:,} events)")
    return url, head


def _sqlite_head(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as c:
            row = c.execute("SELECT max(rowid) FROM stored_events").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)


def postgres_store(events: int, regenerate: bool) -> tuple[str, int]:
    import psycopg

    schema = f"flmem_{events}"
    url = f"{PG_DSN}?schema={schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        head = 0
        if not regenerate:
            try:
                row = c.execute(
                    f"SELECT max(notification_id) FROM {schema}.stored_events"
                ).fetchone()
                head = int(row[0] or 0) if row else 0
            except psycopg.Error:
                head = 0
        if head < events:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            c.execute(f"CREATE SCHEMA {schema}")
    if head < events:
        head = generate(url, events)
    else:
        print(f"  PostgreSQL schema {schema} kept from an earlier run ({head:,} events)")
    return url, head


# ---------------------------------------------------------------------- one rebuild


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rebuild(tree: Path, url: str, extra_env: dict[str, str]) -> dict[str, Any]:
    """``views rebuild`` (all views) with the code of ``tree`` in a child process: its peak
    RSS (MB, the kernel's high-water mark from ``wait4``), seconds, and RSS samples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    env.update(
        PYTHONPATH=str(tree),
        FLOORLEDGER_DATABASE_URL=url,
        FLOORLEDGER_DEFAULT_INTEGRATION="bench",
        COLUMNS="120",
        **extra_env,
    )
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "views", "rebuild"],
        cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    samples: list[tuple[float, int]] = []
    out_lines: list[str] = []
    import threading

    def drain() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            out_lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    rusage = None
    status = 0
    while True:
        pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            break
        samples.append((time.perf_counter() - started, rss_kib(child.pid)))
        time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    seconds = time.perf_counter() - started
    out = "".join(out_lines)
    if child.returncode != 0:
        raise RuntimeError(f"views rebuild failed ({child.returncode}) in {tree}:\n{out}")
    return {
        "peak_mb": rusage.ru_maxrss / 1024,
        "seconds": seconds,
        "samples": samples,
        "out": out,
    }


def curve(samples: list[tuple[float, int]], seconds: float, points: int = 5) -> str:
    """RSS at evenly spaced fractions of the rebuild's time."""
    if not samples:
        return "no samples"
    marks = []
    for k in range(1, points + 1):
        t = seconds * k / points
        kib = max((s for at, s in samples if at <= t), default=0)
        marks.append(f"{k * 100 // points}%: {kib / 1024:.0f}")
    return "RSS MB by share of the rebuild's time " + ", ".join(marks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", default="100000,250000", help="comma-separated ledger sizes, in events"
    )
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgres")
    parser.add_argument(
        "--baseline-tree", default="/work/main", help="code tree of the baseline (main)"
    )
    parser.add_argument("--tree", default=str(ROOT), help="code tree of the subject")
    parser.add_argument("--store-dir", default="/tmp/flmem", help="where SQLite stores are kept")
    parser.add_argument("--regenerate", action="store_true", help="generate the stores again")
    parser.add_argument(
        "--subject-env",
        default="",
        help="extra environment of the subject, e.g. FLOORLEDGER_VIEW_CACHE_ORDERS=2000",
    )
    parser.add_argument("--generate-only", action="store_true", help="only build the stores")
    rounds_argument(parser, default=2)
    args = parser.parse_args(argv)
    machine = Machine.now()
    base_tree, tree = Path(args.baseline_tree), Path(args.tree)
    subject_env = dict(kv.split("=", 1) for kv in args.subject_env.split(",") if kv)
    rows: list[str] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for events in [int(e) for e in args.events.split(",") if e]:
            print(f"{backend}, {events:,} events:", flush=True)
            if backend == "sqlite":
                url, head = sqlite_store(Path(args.store_dir), events, args.regenerate)
            else:
                url, head = postgres_store(events, args.regenerate)
            if args.generate_only:
                continue
            runs: dict[str, list[dict[str, Any]]] = {"base": [], "subject": []}

            def run(
                which: str, t: Path, e: dict[str, str], url: str = url, runs: Any = runs
            ) -> float:
                r = rebuild(t, url, e)
                runs[which].append(r)
                return float(r["peak_mb"])

            c = alternate(
                f"this tree ({tree})",
                f"main ({base_tree})",
                lambda: run("base", base_tree, {}),
                lambda: run("subject", tree, subject_env),
                rounds=args.rounds,
                unit="MB peak RSS",
                higher_is_better=False,
            )
            print(c.report())
            for which, rs in runs.items():
                secs = sorted(r["seconds"] for r in rs)
                last = rs[-1]
                print(f"  {which}: rebuild of all views median {secs[len(secs) // 2]:.0f} s "
                      f"({head * 5 / secs[len(secs) // 2]:,.0f} event applications/s); "
                      f"{curve(last['samples'], last['seconds'])}")  # fmt: skip
            base_peak = sorted(r["peak_mb"] for r in runs["base"])
            subj_peak = sorted(r["peak_mb"] for r in runs["subject"])
            rows.append(
                f"| {backend} | {head:,} | {head // EVENTS_PER_ORDER:,} | "
                f"{base_peak[len(base_peak) // 2]:.0f} | {subj_peak[len(subj_peak) // 2]:.0f} | "
                f"{c.ratio:.2f} |"
            )
    if rows:
        print("\n| store | events | orders | main peak RSS MB | this tree peak RSS MB | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
    print(machine.report())


if __name__ == "__main__":
    main()
