"""Floor-to-ERP latency under a plant-like load, through the HTTP API on PostgreSQL.

    python bench/latency.py [--work-centres 50] [--every 2] [--seconds 60] [--rounds 2]
                            [--plan-orders 1000] [--plan-every 60] [--pg postgresql://...]

Processes, as in a plant: ``floorledger serve`` (the API), ``floorledger views run``,
``floorledger writeback run`` (the pump) delivering to a REST receiver in its own process
(it notes the time each message arrives) and to a PostgreSQL interface table (watched every
10 ms by this process), and a plan poll of ``--plan-orders`` orders every ``--plan-every``
seconds (its own process, the same ledger). Each work centre reports a quantity every
``--every`` seconds (random phase), then reads its order's status with
``wait_for_position``.

Reported per round: p50/p95/p99 of
  * operator's request sent → the ERP's REST endpoint receives the message;
  * operator's request sent → the row is in the interface table (±10 ms);
  * view lag: the request's answer → the status read with ``wait_for_position`` answers.
Goals: p99 <= 1 s to the REST destination; view lag p99 <= 250 ms.

Baseline (alternated with the subject, bench/method.py): the same plant with the pump woken
by its poll alone (``poll_seconds`` 0.5, no LISTEN); subject: the pump as shipped (woken by
PostgreSQL NOTIFY, the poll as a watchdog).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.settings import Settings, build_ledger
from adapters.tokens import TokenStore
from bench.method import Comparison, Machine, alternate, percentile, rounds_argument
from bench.servers import floorledger, free_port, serve_args, start, stop_all, wait_up
from domain import Actor, ErpOperation, ErpOrder
from tests.support.writeback import config, write_config

ERP = Actor("bench-erp", "integration", "erp:erp")
PLAN_HEADER = (
    "order_no,part_no,description,quantity,unit,due_date,priority,state,work_centre,"
    "op_id,op_name,op_work_centre,setup_time,run_time\n"
)


# ---------------------------------------------------------------------------- helper processes


def receiver_main(port: int, out: str) -> None:
    """An ERP REST endpoint: answers every message at once and notes when each arrived."""
    lock = threading.Lock()
    arrived: dict[int, tuple[float, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            now = time.time()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            messages = body["messages"] if self.path.endswith("/batch") else [body]
            with lock:
                for m in messages:
                    arrived.setdefault(int(m["position"]), (now, m["order_no"]))
            if self.path.endswith("/batch"):
                answer: Any = {
                    "results": [
                        {"idempotency_key": m["idempotency_key"], "status": 201} for m in messages
                    ]
                }
            else:
                answer = {"ok": True}
            data = json.dumps(answer).encode()
            self.send_response(200 if self.path.endswith("/batch") else 201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with lock:
                data = json.dumps(arrived).encode()
            Path(out).write_bytes(data)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def plan_poll_main(url: str, orders: int, every: float, stop_file: str) -> None:
    """The ERP's plan poll: the same ``orders`` released orders every ``every`` seconds."""
    from adapters.config import Integration
    from adapters.inbound.parsers import parse_csv
    from adapters.inbound.sync import apply_mapping
    from adapters.mapping import map_records

    integ = Integration.model_validate(
        {"name": "erp", "mode": "D", "inbound": {"transport": "files", "inbox": "/tmp/x",
         "archive": "/tmp/x", "error": "/tmp/x", "format": "csv"}}
    )  # fmt: skip
    lines = [PLAN_HEADER] + [
        f"PLAN-{i:05d},P-1,plan,100,pcs,2026-12-01,0,released,WC,10,op,WC-P,5,0.5\n"
        for i in range(orders)
    ]
    data = "".join(lines).encode()
    ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
    while not Path(stop_file).exists():
        started = time.monotonic()
        began = time.time()
        apply_mapping(integ, ledger, map_records(parse_csv(data), integ.field_map, integ.maps),
                      bulk=True)  # fmt: skip
        with Path(stop_file + ".polls").open("a") as log:  # when each poll ran (wall clock)
            log.write(f"{began} {time.time()}\n")
        while time.monotonic() - started < every and not Path(stop_file).exists():
            time.sleep(0.2)
    ledger.close()


def pump_main(poll_only: bool, argv: list[str]) -> None:
    """``floorledger writeback run``; with ``poll_only`` the pump does not LISTEN."""
    if poll_only:
        from adapters.writeback.pump import Pump

        Pump._listen = lambda self, stop: None  # type: ignore[method-assign,assignment]
    from api.cli import main

    sys.argv = ["floorledger", *argv]
    main()


# ---------------------------------------------------------------------------- the load


@dataclass
class Sample:
    order_no: str
    after: int  # the order's previous action's position (its messages are not this one's)
    position: int
    sent: float  # wall clock (time.time) when the operator's request was sent
    acked: float
    viewed: float | None = None


@dataclass
class Round:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    rest: dict[int, tuple[float, str]] = field(default_factory=dict)
    table: dict[int, tuple[float, str]] = field(default_factory=dict)
    polls: list[tuple[float, float]] = field(default_factory=list)  # plan polls: start, end

    def near_poll(self, s: Sample, after: float = 2.0) -> bool:
        """Whether the action was answered during a plan poll or within ``after`` s of one."""
        return any(a <= s.acked <= b + after for a, b in self.polls)

    def latencies(self, arrived: dict[int, tuple[float, str]]) -> list[float]:
        """Request sent → the last of the action's messages at the ERP, per action whose
        messages all arrived (an action records one or more events)."""
        by_order: dict[str, list[tuple[int, float]]] = {}
        for pos, (t, order_no) in arrived.items():
            by_order.setdefault(order_no, []).append((pos, t))
        out = []
        for s in self.samples:
            times = [t for pos, t in by_order.get(s.order_no, ()) if s.after < pos <= s.position]
            if times:
                out.append(max(times) - s.sent)
        return out

    def view_lags(self) -> list[float]:
        return [s.viewed - s.acked for s in self.samples if s.viewed is not None]


async def operate(api: str, auth: dict[str, str], wcs: int, every: float, seconds: float,
                  result: Round) -> None:  # fmt: skip
    async def one(wc: int) -> None:
        async with httpx.AsyncClient(base_url=api, headers=auth, timeout=30) as client:
            await asyncio.sleep(random.random() * every)
            stop = time.monotonic() + seconds
            n, last = 0, 0
            while time.monotonic() < stop:
                due = time.monotonic() + every
                order_no = f"LAT-{wc:03d}"
                sent = time.time()
                r = await client.post(
                    f"/orders/{order_no}/operations/10/quantities",
                    json={"good": 1},
                    headers={"Idempotency-Key": f"{uuid.uuid4().hex}-{wc}-{n}"},
                )
                acked = time.time()
                n += 1
                if r.status_code != 200:
                    result.errors += 1
                else:
                    sample = Sample(order_no, last, int(r.json()["position"]), sent, acked)
                    last = sample.position
                    result.samples.append(sample)
                    v = await client.get(
                        f"/orders/{order_no}/status",
                        params={"wait_for_position": sample.position, "wait_seconds": 10},
                    )
                    if v.status_code == 200:
                        sample.viewed = time.time()
                await asyncio.sleep(max(0.0, due - time.monotonic()))

    await asyncio.gather(*(one(wc) for wc in range(wcs)))


def watch_table(pg: str, schema: str, table: str, stop: threading.Event,
                seen: dict[int, tuple[float, str]]) -> None:  # fmt: skip
    """Note when each position's row appears in the interface table (every 10 ms)."""
    last = 0
    with psycopg.connect(pg, autocommit=True) as conn:
        while not stop.is_set():
            try:
                rows = conn.execute(
                    f'SELECT position, order_no FROM "{schema}"."{table}" WHERE position > %s',
                    (last,),
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                rows = []
            now = time.time()
            for p, order_no in rows:
                seen.setdefault(int(p), (now, order_no))
                last = max(last, int(p))
            stop.wait(0.01)


def one_round(opts: argparse.Namespace, poll_only: bool, code: Path = ROOT) -> Round:
    """One plant run; the API, views and pump from the checkout ``code``."""
    schema = "bench_lat_" + uuid.uuid4().hex[:8]
    with psycopg.connect(opts.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{opts.pg}?schema={schema}"
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="fl-lat-"))
    result = Round()
    stop_watch = threading.Event()
    try:
        settings = Settings(database_url=url)  # type: ignore[arg-type]
        ledger = build_ledger(settings)
        ledger.release_orders(
            [
                ErpOrder(
                    f"LAT-{wc:03d}",
                    "P-1",
                    Decimal(1_000_000),
                    "pcs",
                    work_centre="WC",
                    routing=(ErpOperation("10", "op", f"WC-{wc}", Decimal(1), Decimal("0.1")),),
                )
                for wc in range(opts.work_centres)
            ],
            ERP,
        )
        ledger.close()
        tokens = TokenStore(settings)
        _, secret = tokens.create("bench-operator", "operator")
        tokens.close()

        receiver_port = free_port()
        arrived_file = tmp / "arrived.json"
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--as-receiver", str(receiver_port), str(arrived_file)],
            cwd=ROOT))  # fmt: skip
        table = "erp_interface"
        wb_url = opts.pg.replace("postgresql://", "postgresql+psycopg://")
        cfg = config(
            tmp,
            [
                {"name": "erp-rest", "transport": "rest",
                 "url": f"http://127.0.0.1:{receiver_port}/events",
                 "batch_url": f"http://127.0.0.1:{receiver_port}/events/batch"},
                {"name": "erp-table", "transport": "sql", "url_env": "LAT_WB_URL",
                 "table": table, "schema": schema},
            ],
            poll_seconds=0.5,
        )  # fmt: skip
        cfg_path = write_config(tmp / "plant.toml", cfg)
        env = dict(os.environ, FLOORLEDGER_DATABASE_URL=url, FLOORLEDGER_PG_POOL_SIZE="4",
                   FLOORLEDGER_CONFIG=str(cfg_path), LAT_WB_URL=wb_url,
                   FLOORLEDGER_FOLLOW_VIEWS="false",
                   FLOORLEDGER_THREADS=str(opts.api_threads))  # fmt: skip
        api_port = free_port()
        # The API first: once it is ready its tables exist, and the views and the pump do not
        # race it creating them (concurrent CREATE ... IF NOT EXISTS on PostgreSQL can fail
        # with 'tuple concurrently updated').
        procs.append(floorledger(serve_args(api_port, "--log-level", "warning"), env, code=code))
        api = f"http://127.0.0.1:{api_port}"
        wait_up(api + "/health/ready")
        procs.append(floorledger(["views", "run"], env, code=code))
        pump_log = (tmp / "pump.log").open("wb")
        if poll_only:
            procs.append(start([__file__, "--as-pump", "1", "writeback", "run"], env,
                               stdout=pump_log, stderr=subprocess.STDOUT))  # fmt: skip
        else:
            procs.append(floorledger(["writeback", "run"], env, code=code, stdout=pump_log,
                                     stderr=subprocess.STDOUT))  # fmt: skip
        wait_up(f"http://127.0.0.1:{receiver_port}/")
        time.sleep(2)  # the views and the pump start up
        # Started once the others have created their tables (concurrent CREATE ... IF NOT
        # EXISTS on PostgreSQL can fail with 'tuple concurrently updated').
        stop_file = tmp / "stop"
        if opts.plan_orders:
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--as-plan-poll", url, str(opts.plan_orders),
                 str(opts.plan_every), str(stop_file)], cwd=ROOT))  # fmt: skip
        watcher = threading.Thread(
            target=watch_table, args=(opts.pg, schema, table, stop_watch, result.table)
        )
        watcher.start()
        asyncio.run(operate(api, {"Authorization": f"Bearer {secret}"}, opts.work_centres,
                            opts.every, opts.seconds, result))  # fmt: skip
        time.sleep(3)  # let the last messages arrive
        if opts.verbose:
            print((tmp / "pump.log").read_text()[-3000:])
        stop_file.touch()
        polls = Path(str(stop_file) + ".polls")
        if polls.exists():
            result.polls = [
                (float(a), float(b))
                for a, b in (ln.split() for ln in polls.read_text().split("\n") if ln)
            ]
        httpx.get(f"http://127.0.0.1:{receiver_port}/", timeout=10)
        result.rest = {
            int(k): (v[0], v[1]) for k, v in json.loads(arrived_file.read_text()).items()
        }
        stop_watch.set()
        watcher.join()
        return result
    finally:
        stop_watch.set()
        stop_all(procs)
        with psycopg.connect(opts.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def describe(label: str, r: Round) -> dict[str, float]:
    rest, table, view = r.latencies(r.rest), r.latencies(r.table), r.view_lags()
    ms = {
        "rest_p50": percentile(rest, 50) * 1000, "rest_p95": percentile(rest, 95) * 1000,
        "rest_p99": percentile(rest, 99) * 1000, "table_p50": percentile(table, 50) * 1000,
        "table_p99": percentile(table, 99) * 1000, "view_p50": percentile(view, 50) * 1000,
        "view_p99": percentile(view, 99) * 1000,
    }  # fmt: skip
    near = [s.viewed - s.acked for s in r.samples if s.viewed is not None and r.near_poll(s)]
    away = [s.viewed - s.acked for s in r.samples if s.viewed is not None and not r.near_poll(s)]
    polls = ", ".join(f"{b - a:.1f} s" for a, b in r.polls)
    print(
        f"    plan polls: {len(r.polls)} ({polls}); view lag p50/p99 during a poll (+2 s): "
        f"{percentile(near, 50) * 1000:.0f}/{percentile(near, 99) * 1000:.0f} ms "
        f"({len(near)} actions); otherwise {percentile(away, 50) * 1000:.0f}/"
        f"{percentile(away, 99) * 1000:.0f} ms ({len(away)})"
    )
    ms["view_p99_away"] = percentile(away, 99) * 1000
    missing = len(r.samples) - len(rest)
    if not rest:
        print(
            f"    (nothing matched: {len(r.rest)} REST and {len(r.table)} table arrivals; "
            f"positions sent {[s.position for s in r.samples[:3]]}, got {sorted(r.rest)[:3]})"
        )
    print(
        f"    {label}: {len(r.samples)} actions ({r.errors} errors, {missing} not at the ERP); "
        f"to REST p50/p95/p99 {ms['rest_p50']:.0f}/{ms['rest_p95']:.0f}/{ms['rest_p99']:.0f} ms; "
        f"to table p50/p99 {ms['table_p50']:.0f}/{ms['table_p99']:.0f} ms; "
        f"view lag p50/p99 {ms['view_p50']:.0f}/{ms['view_p99']:.0f} ms",
        flush=True,
    )
    return ms


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-receiver":
        receiver_main(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--as-plan-poll":
        plan_poll_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--as-pump":
        pump_main(sys.argv[2] == "1", sys.argv[3:])
        return
    # SIGTERM ends the run through its clean-up (the child processes, the schema)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-centres", type=int, default=50)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between actions")
    parser.add_argument("--seconds", type=float, default=60, help="load per round")
    parser.add_argument("--plan-orders", type=int, default=1000)
    parser.add_argument("--plan-every", type=float, default=60)
    parser.add_argument(
        "--pg",
        default=os.environ.get("FLOORLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--verbose", action="store_true", help="show the pump's log")
    parser.add_argument(
        "--api-threads",
        type=int,
        default=40,
        help="FLOORLEDGER_THREADS of the API (main's code held a view connection per thread)",
    )
    parser.add_argument(
        "--baseline-code",
        type=Path,
        help="baseline: the API, views and pump (NOTIFY) of this other checkout (e.g. main's "
        "code from `git archive`), instead of the pump woken by its poll alone",
    )
    rounds_argument(parser, default=2)
    opts = parser.parse_args()
    machine = Machine.now()
    print(
        f"{opts.work_centres} work centres, one action each every {opts.every:g} s for "
        f"{opts.seconds:g} s per round; plan poll of {opts.plan_orders} orders every "
        f"{opts.plan_every:g} s; PostgreSQL"
    )
    stats: dict[str, dict[str, list[float]]] = {"poll": {}, "notify": {}}

    base_code = opts.baseline_code.resolve() if opts.baseline_code else None

    def run(which: str) -> float:
        if which == "poll" and base_code is not None:
            r = one_round(opts, poll_only=False, code=base_code)
        else:
            r = one_round(opts, poll_only=which == "poll")
        ms = describe(which, r)
        for k, v in ms.items():
            stats[which].setdefault(k, []).append(v)
        return ms["rest_p99"]

    if base_code is not None:
        names = (f"code of {base_code}", "this checkout")
        print(f"baseline: API, views and pump (NOTIFY) from {base_code}; subject: this checkout")
    else:
        names = ("pump woken by its 0.5 s poll alone", "pump woken by NOTIFY")
    c = alternate(f"{names[1]}: p99 to REST", names[0], lambda: run("poll"),
                  lambda: run("notify"), rounds=opts.rounds, unit="ms",
                  higher_is_better=False, verbose=False)  # fmt: skip
    print(c.report())
    view = Comparison(f"{names[1]}: view lag p99", names[0], "ms", stats["notify"]["view_p99"],
                      stats["poll"]["view_p99"], higher_is_better=False)  # fmt: skip
    print(view.report())
    for which, label in (("poll", f"baseline, {names[0]}"), ("notify", f"subject, {names[1]}")):
        s = stats[which]
        med = {k: sorted(v)[len(v) // 2] for k, v in s.items()}
        print(
            f"  {label} (median of rounds): to REST p50/p95/p99 {med['rest_p50']:.0f}/"
            f"{med['rest_p95']:.0f}/{med['rest_p99']:.0f} ms (goal p99 <= 1000); to table "
            f"p50/p99 {med['table_p50']:.0f}/{med['table_p99']:.0f} ms; view lag p50/p99 "
            f"{med['view_p50']:.0f}/{med['view_p99']:.0f} ms (goal p99 <= 250; "
            f"{med['view_p99_away']:.0f} ms away from the plan polls)"
        )
    print(machine.report())


if __name__ == "__main__":
    main()
