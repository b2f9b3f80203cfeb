"""HTTP API load: floor actions from 100 concurrent clients against `floorledger serve` on
PostgreSQL, compared with a FastAPI hello-world route served the same way, in one run.

    python bench/api.py [--clients 100] [--seconds 10] [--workers 1] [--rounds 3]
                        [--pg postgresql://...]

Both servers are uvicorn processes on loopback with the same workers and log settings; the
load generator is httpx (async) in this process. Each client reports quantities on its own
order with an Idempotency-Key per request (a real write: one event each, committed before the
answer). The two loads alternate in ``--rounds`` rounds (bench/method.py); prints
requests/s and p50/p99 latency of each run, and the median ratios with their spread (goals:
throughput >= 45% of hello-world, p99 <= 3x hello-world's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.settings import Settings, build_ledger
from adapters.tokens import TokenStore
from bench.method import Comparison, Machine, alternate, rounds_argument
from bench.servers import floorledger, free_port, serve_args, start, stop_all, wait_up
from domain import Actor, ErpOperation, ErpOrder

ERP = Actor("bench-erp", "integration", "erp:erp")


# The baseline: a FastAPI app factory with one hello-world route (written to a temporary
# module so that uvicorn serves it by import string, with workers, like floorledger).
HELLO_MODULE = """
from fastapi import FastAPI


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app
"""


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<12} {self.rps:9.0f} req/s   p50 {self.pct(50):7.2f} ms   "
            f"p99 {self.pct(99):7.2f} ms   ({self.requests} ok, {self.errors} errors)"
        )


def loop_name() -> str:
    """The event loop uvicorn picks ("auto"): uvloop when installed (uvicorn[standard])."""
    try:
        import uvloop  # noqa: F401

        return "uvloop + httptools"
    except ImportError:
        return "asyncio + h11"


def an_order(i: int) -> ErpOrder:
    return ErpOrder(
        order_no=f"API-{i:05d}",
        part_no="P-1",
        quantity=Decimal(1_000_000),
        unit="pcs",
        work_centre="WC",
        routing=(ErpOperation("10", "op", "WC-1", Decimal(1), Decimal("0.1")),),
    )


async def load(
    name: str,
    clients: int,
    seconds: float,
    request: Callable[[httpx.AsyncClient, int, int], Awaitable[httpx.Response]],
) -> Result:
    # One client (one keep-alive connection) each: a single httpx pool of 100 connections
    # spends more time in its own bookkeeping than the servers do.
    pool = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=30)
        for _ in range(clients)
    ]
    latencies: list[float] = []
    errors = 0
    try:
        await asyncio.gather(*(request(pool[c], c, -1) for c in range(clients)))  # warm up
        stop = time.perf_counter() + seconds

        async def one(c: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await request(pool[c], c, n)
                dt = time.perf_counter() - t0
                if r.status_code == 200:
                    latencies.append(dt)
                else:
                    errors += 1
                n += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
    finally:
        for client in pool:
            await client.aclose()
    return Result(name, len(latencies), errors, elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--pg",
        default=os.environ.get("FLOORLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument(
        "--views",
        choices=["process", "inprocess"],
        default="process",
        help="run the views in a separate process (default) or inside the API process",
    )
    parser.add_argument(
        "--api-code",
        type=Path,
        default=None,
        help="serve the floor API (and views) from this other checkout, e.g. main's code",
    )
    rounds_argument(parser)
    opts = parser.parse_args()
    code = opts.api_code.resolve() if opts.api_code else ROOT
    machine = Machine.now()

    schema = "bench_api_" + uuid.uuid4().hex[:8]
    with psycopg.connect(opts.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{opts.pg}?schema={schema}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings(database_url=url)  # type: ignore[arg-type]
        ledger = build_ledger(settings)
        ledger.release_orders([an_order(i) for i in range(opts.clients)], ERP)
        ledger.close()
        tokens = TokenStore(settings)
        _, secret = tokens.create("bench-operator", "operator")
        tokens.close()

        env = dict(os.environ, FLOORLEDGER_DATABASE_URL=url, FLOORLEDGER_PG_POOL_SIZE="10")
        if opts.views == "process":
            # The recommended layout: the API writes, a separate process keeps the views.
            env["FLOORLEDGER_FOLLOW_VIEWS"] = "false"
            procs.append(floorledger(["views", "run"], env, code=code))
        hello_port, api_port = free_port(), free_port()
        uvicorn_flags = ["--workers", str(opts.workers), "--log-level", "warning"]
        hello_dir = Path(tempfile.mkdtemp(prefix="fl-bench-"))
        (hello_dir / "fl_bench_hello.py").write_text(HELLO_MODULE)
        procs.append(
            start(
                ["-m", "uvicorn", "fl_bench_hello:hello_app", "--factory",
                 "--app-dir", str(hello_dir), "--host", "127.0.0.1", "--port", str(hello_port),
                 *uvicorn_flags, "--no-access-log"],
                env,
            )
        )  # fmt: skip
        procs.append(floorledger(serve_args(api_port, *uvicorn_flags), env, code=code))
        hello_url = f"http://127.0.0.1:{hello_port}"
        api_url = f"http://127.0.0.1:{api_port}"
        wait_up(hello_url + "/hello")
        wait_up(api_url + "/health/ready")
        auth = {"Authorization": f"Bearer {secret}"}
        run_id = uuid.uuid4().hex[:6]

        async def hello(client: httpx.AsyncClient, c: int, n: int) -> httpx.Response:
            return await client.get(hello_url + "/hello")

        async def report(client: httpx.AsyncClient, c: int, n: int) -> httpx.Response:
            return await client.post(
                f"{api_url}/orders/API-{c:05d}/operations/10/quantities",
                json={"good": 1},
                headers={**auth, "Idempotency-Key": f"{run_id}-{uuid.uuid4().hex}"},
            )

        print(
            f"{opts.clients} clients, {opts.seconds:.0f} s each, {opts.workers} worker(s), "
            f"views {opts.views}, uvicorn loop {loop_name()}, floor API from {code}, "
            f"PostgreSQL schema {schema}, "
            f"{opts.rounds} alternated rounds"
        )
        runs: dict[str, list[Result]] = {"baseline": [], "floor": []}

        def measure(which: str) -> float:
            if which == "baseline":
                r = asyncio.run(load("baseline", opts.clients, opts.seconds, hello))
            else:
                r = asyncio.run(load("floor write", opts.clients, opts.seconds, report))
            runs[which].append(r)
            print("    " + r.line(), flush=True)
            return r.rps

        c = alternate("floor write (POST quantities)", "FastAPI hello-world",
                      lambda: measure("baseline"), lambda: measure("floor"),
                      rounds=opts.rounds, unit="req/s", verbose=False)  # fmt: skip
        print(c.report() + "   (goal >= 0.45)")
        p99 = Comparison("floor write p99", "hello-world p99", "ms",
                         [r.pct(99) for r in runs["floor"]],
                         [r.pct(99) for r in runs["baseline"]], higher_is_better=False)  # fmt: skip
        print(p99.report() + "   (goal <= 3)")
        floor_requests = sum(r.requests + r.errors for r in runs["floor"])
        check = build_ledger(settings)
        reports = sum(
            1
            for i in range(opts.clients)
            for e in check.history(an_order(i).order_no)
            if e.event == "QuantityReported"
        )
        check.close()
        expected = floor_requests + opts.clients * opts.rounds  # with the warm-up requests
        print(f"quantity reports recorded: {reports} (requests sent: {expected})")
        print(machine.report())
    finally:
        stop_all(procs)
        with psycopg.connect(opts.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
