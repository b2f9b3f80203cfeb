"""Plan import throughput: released orders with 5 operations each, into PostgreSQL, per format.

    python bench/import.py [--orders 10000] [--formats csv,xlsx,b2mml,sql] [--pg postgresql://...]

For each format the plan is written first (not timed), then read, mapped and applied to a
fresh ledger in its own PostgreSQL schema through ``apply_mapping`` with the bulk path
(timed: orders/s), then applied again unchanged (the re-poll of a plan).

Named baselines, alternated with the subject in ``--rounds`` rounds (bench/method.py):
  * XLSX read+map: the previous reader (openpyxl) against calamine;
  * B2MML read+map: the previous validation (xmlschema, pure Python) against libxml2 (lxml);
  * unchanged re-poll: checking every order against the ledger against the ERP memory
    (fingerprints of what the ERP last stated; domain/erp_seen.py).
Goals: full import >= 1,000 orders/s in every format; an unchanged re-poll of 10,000
orders well under a second of CPU.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.config import Integration
from adapters.inbound import sql as sql_source
from adapters.inbound.parsers import B2MML_NS, parse_b2mml, parse_csv, parse_xlsx
from adapters.inbound.sync import apply_mapping
from adapters.mapping import MappingResult, map_records
from adapters.settings import Settings, build_ledger
from bench.method import Machine, alternate, rounds_argument

COLUMNS = [
    "order_no", "part_no", "description", "quantity", "unit", "due_date", "priority", "state",
    "work_centre", "op_id", "op_name", "op_work_centre", "setup_time", "run_time",
]  # fmt: skip
OPS = 5


def rows(n: int) -> list[list[Any]]:
    """The flat plan: one row per operation."""
    out = []
    for i in range(n):
        for k in range(OPS):
            out.append(
                [
                    f"B-{i:06d}", f"P-{i % 97}", "bench order", "100", "pcs", "2026-12-01",
                    i % 5, "released", "WC", f"{10 * (k + 1):04d}", f"op {k}", f"WC-{k}",
                    "5", "0.5",
                ]
            )  # fmt: skip
    return out


def write_csv(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows(n))


def write_xlsx(path: Path, n: int) -> None:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("plan")
    ws.append(COLUMNS)
    for r in rows(n):
        ws.append(r)
    wb.save(path)


def write_b2mml(path: Path, n: int) -> None:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ProductionSchedule xmlns="{B2MML_NS}">']
    parts.append("<ID>bench</ID>")
    for i in range(n):
        segs = []
        for k in range(OPS):
            material = (
                f"<MaterialRequirement><MaterialDefinitionID>P-{i % 97}</MaterialDefinitionID>"
                "<MaterialUse>Produced</MaterialUse><Quantity><QuantityString>100"
                "</QuantityString><UnitOfMeasure>pcs</UnitOfMeasure></Quantity>"
                "</MaterialRequirement>"
                if k == OPS - 1
                else ""
            )
            segs.append(
                f"<SegmentRequirement><ID>{10 * (k + 1):04d}</ID><Description>op {k}"
                "</Description><ProductionParameter><Parameter><ID>SetupTime</ID><Value>"
                "<ValueString>5</ValueString><UnitOfMeasure>min</UnitOfMeasure></Value>"
                "</Parameter></ProductionParameter><ProductionParameter><Parameter>"
                "<ID>RunTimePerUnit</ID><Value><ValueString>0.5</ValueString><UnitOfMeasure>"
                "min</UnitOfMeasure></Value></Parameter></ProductionParameter>"
                f"<EquipmentRequirement><EquipmentID>WC-{k}</EquipmentID>"
                f"</EquipmentRequirement>{material}</SegmentRequirement>"
            )
        parts.append(
            f"<ProductionRequest><ID>B-{i:06d}</ID><Description>{escape('bench order')}"
            f"</Description><Priority>{i % 5}</Priority>{''.join(segs)}"
            "<RequestState>Released</RequestState></ProductionRequest>"
        )
    parts.append("</ProductionSchedule>")
    path.write_text("".join(parts), encoding="utf-8")


def tabular(name: str) -> Integration:
    return Integration.model_validate(
        {"name": name, "mode": "B", "inbound": _files_inbound(name)}  # the format's field map
    )


def _files_inbound(fmt: str) -> dict[str, Any]:
    return {
        "transport": "files",
        "inbox": "/tmp/unused",
        "archive": "/tmp/unused",
        "error": "/tmp/unused",
        "format": fmt,
    }


def openpyxl_records(path: Path) -> Any:
    """The previous XLSX reader (openpyxl, read-only), for the baseline."""
    from adapters.inbound.parsers import _sheet_records

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        yield from _sheet_records(wb.worksheets[0].iter_rows(values_only=True), None, None)
    finally:
        wb.close()


def xmlschema_records(path: Path) -> Any:
    """The previous B2MML reader: the same parse, validated by xmlschema (pure Python)."""
    import xmlschema  # the bench extra; no longer a dependency of floorledger
    from lxml import etree

    from adapters.inbound.parsers import B2MML_SCHEMA_FILE, _q, _request_record, b2mml_schema_dir
    from adapters.mapping import Record

    schema = _XMLSCHEMA.get("s")
    if schema is None:
        schema = xmlschema.XMLSchema(str(b2mml_schema_dir() / B2MML_SCHEMA_FILE), allow="local")
        _XMLSCHEMA["s"] = schema
    root = etree.fromstring(path.read_bytes())
    errors = list(schema.iter_errors(xmlschema.XMLResource(root, allow="none")))
    assert not errors, errors[:1]
    for req in root.iter(_q("ProductionRequest")):
        yield Record(req.sourceline, _request_record(req))


_XMLSCHEMA: dict[str, Any] = {}


def timed(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


class Plan:
    """One format's plan in its own PostgreSQL schema: imported once, then re-polled."""

    def __init__(self, pg: str, integration: Integration, read: Callable[[], MappingResult],
                 n: int) -> None:  # fmt: skip
        self.pg, self.integration, self.read, self.n = pg, integration, read, n
        self.schema = "bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        url = f"{pg}?schema={self.schema}"
        self.ledger = build_ledger(Settings(database_url=url))  # type: ignore[arg-type]
        self.import_rates: list[float] = []
        self.repoll_cpu: list[float] = []

    def full_import(self) -> float:
        """Read, map and apply a plan of new orders (the first import), orders/s."""
        start = time.perf_counter()
        summary = apply_mapping(self.integration, self.ledger, self.read(), bulk=True)
        rate = self.n / (time.perf_counter() - start)
        assert len(summary.released) == self.n and summary.ok, summary.line()
        self.import_rates.append(rate)
        # The next poll checks every order the full way (their Released events are new)
        # and leaves the memory of what the ERP stated.
        apply_mapping(self.integration, self.ledger, self.read(), bulk=True)
        return rate

    def repoll(self, *, memory: bool) -> float:
        """Apply the unchanged plan again (read and map included), orders/s; ``memory``
        False checks every order against the ledger (as before the fingerprints)."""
        result = self.read()
        ledger = self.ledger
        if not memory:
            ledger.erp_unchanged = lambda integration, fingerprints: set()  # type: ignore[method-assign]
        try:
            start, cpu = time.perf_counter(), time.process_time()
            again = apply_mapping(self.integration, ledger, result, bulk=True)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            ledger.__dict__.pop("erp_unchanged", None)
        assert len(again.unchanged) == self.n, again.line()
        if memory:
            self.repoll_cpu.append(cpu)
        return self.n / seconds

    def close(self) -> None:
        self.ledger.close()
        with psycopg.connect(self.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


def bench_format(
    label: str,
    pg: str,
    integration: Integration,
    read: Callable[[], MappingResult],
    previous: Callable[[], MappingResult] | None,
    previous_name: str,
    n: int,
    rounds: int,
) -> None:
    print(f"{label}:")
    if previous is not None:
        c = alternate(f"{label} read+map", previous_name, lambda: timed(previous, n),
                      lambda: timed(read, n), rounds=rounds, unit="orders/s")  # fmt: skip
        print(c.report())
    plan = Plan(pg, integration, read, n)
    try:
        plan.full_import()
        c = alternate("unchanged re-poll with the ERP memory", "re-poll checking every order",
                      lambda: plan.repoll(memory=False), lambda: plan.repoll(memory=True),
                      rounds=rounds, unit="orders/s")  # fmt: skip
        print(c.report())
        cpu = statistics.median(plan.repoll_cpu)
        print(f"  unchanged re-poll of {n} orders: {cpu:.2f} s CPU to apply (read+map apart)")
    finally:
        plan.close()
    imports = []
    for _ in range(rounds):
        fresh = Plan(pg, integration, read, n)
        try:
            imports.append(fresh.full_import())
        finally:
            fresh.close()
    print(
        f"  full import (read, map, bulk release): median {statistics.median(imports):,.0f} "
        f"orders/s (min {min(imports):,.0f}, max {max(imports):,.0f}; goal >= 1,000)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=10_000, help="released orders (5 ops each)")
    p.add_argument("--formats", default="csv,xlsx,b2mml,sql")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    rounds_argument(p)
    args = p.parse_args()
    n, formats = args.orders, args.formats.split(",")
    machine = Machine.now()
    print(f"plan import: {n} released orders x {OPS} operations into PostgreSQL, "
          f"{args.rounds} rounds")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if "csv" in formats:
            write_csv(d / "plan.csv", n)
            integ = tabular("csv")
            bench_format("CSV", args.pg, integ,
                         lambda: map_records(parse_csv(d / "plan.csv"), integ.field_map,
                                             integ.maps),
                         None, "", n, args.rounds)  # fmt: skip
        if "xlsx" in formats:
            write_xlsx(d / "plan.xlsx", n)
            ix = tabular("xlsx")
            bench_format("XLSX", args.pg, ix,
                         lambda: map_records(parse_xlsx(d / "plan.xlsx"), ix.field_map, ix.maps),
                         lambda: map_records(openpyxl_records(d / "plan.xlsx"), ix.field_map,
                                             ix.maps),
                         "openpyxl read+map", n, args.rounds)  # fmt: skip
        if "b2mml" in formats:
            write_b2mml(d / "plan.xml", n)
            ib = tabular("b2mml")
            bench_format("B2MML", args.pg, ib,
                         lambda: map_records(parse_b2mml(d / "plan.xml"), ib.field_map, ib.maps),
                         lambda: map_records(xmlschema_records(d / "plan.xml"), ib.field_map,
                                             ib.maps),
                         "xmlschema-validated read+map", n, args.rounds)  # fmt: skip
    if "sql" in formats:
        bench_sql(args.pg, n, args.rounds)
    print(machine.report())


def bench_sql(pg: str, n: int, rounds: int) -> None:
    table = "bench_stg_" + uuid.uuid4().hex[:8]
    engine = sa.create_engine(sql_source.database_url(pg))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in COLUMNS)})"))
    with psycopg.connect(pg) as conn, conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        for r in rows(n):
            copy.write_row([str(v) for v in r])
    integ = Integration.model_validate(
        {
            "name": "sql",
            "mode": "B",
            "inbound": {"transport": "sql", "url_env": "BENCH_DB_URL", "table": table},
        }
    )
    import os

    os.environ["BENCH_DB_URL"] = pg
    try:
        bench_format("SQL", pg, integ, lambda: sql_source.read(integ), None, "", n, rounds)
    finally:
        sql_source.dispose_engines()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


if __name__ == "__main__":
    main()
