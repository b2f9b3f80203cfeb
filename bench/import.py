"""Plan import throughput: released orders with 5 operations each, into PostgreSQL, per format.

    python bench/import.py [--orders 10000] [--formats csv,xlsx,b2mml,sql] [--pg postgresql://...]

For each format the plan is written first (not timed), then read, mapped and applied to a
fresh ledger in its own PostgreSQL schema through ``apply_mapping`` with the bulk path
(timed: orders/s), then applied once more unchanged (the re-import of a polled plan).
Goal: >= 2,000 orders/s for CSV and SQL.
"""

from __future__ import annotations

import argparse
import csv
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
        {"name": name, "mode": "B", "inbound": _files_inbound(name), "fields": {}}
    )


def _files_inbound(fmt: str) -> dict[str, Any]:
    return {
        "transport": "files",
        "inbox": "/tmp/unused",
        "archive": "/tmp/unused",
        "error": "/tmp/unused",
        "format": fmt,
    }


def run(
    label: str,
    pg: str,
    integration: Integration,
    read: Callable[[], MappingResult],
    n: int,
) -> tuple[str, float, float, float]:
    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    ledger = build_ledger(Settings(database_url=f"{pg}?schema={schema}"))  # type: ignore[arg-type]
    try:
        start = time.perf_counter()
        result = read()
        mapped = time.perf_counter()
        summary = apply_mapping(integration, ledger, result, bulk=True)
        done = time.perf_counter()
        assert len(summary.released) == n and summary.ok, summary.line()
        again_start = time.perf_counter()
        again = apply_mapping(integration, ledger, read(), bulk=True)
        again_done = time.perf_counter()
        assert len(again.unchanged) == n, again.line()
        return (
            label,
            n / (done - start),
            n / (mapped - start),
            n / (again_done - again_start),
        )
    finally:
        ledger.close()
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=10_000, help="released orders (5 ops each)")
    p.add_argument("--formats", default="csv,xlsx,b2mml,sql")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = p.parse_args()
    n, formats = args.orders, args.formats.split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if "csv" in formats:
            write_csv(d / "plan.csv", n)
            integ = tabular("csv")
            results.append(
                run(
                    "CSV",
                    args.pg,
                    integ,
                    lambda: map_records(parse_csv(d / "plan.csv"), integ.field_map, integ.maps),
                    n,
                )
            )
        if "xlsx" in formats:
            write_xlsx(d / "plan.xlsx", n)
            integ = tabular("xlsx")
            results.append(
                run(
                    "XLSX",
                    args.pg,
                    integ,
                    lambda: map_records(parse_xlsx(d / "plan.xlsx"), integ.field_map, integ.maps),
                    n,
                )
            )
        if "b2mml" in formats:
            write_b2mml(d / "plan.xml", n)
            integ = tabular("b2mml")
            results.append(
                run(
                    "B2MML",
                    args.pg,
                    integ,
                    lambda: map_records(parse_b2mml(d / "plan.xml"), integ.field_map, integ.maps),
                    n,
                )
            )
    if "sql" in formats:
        results.append(bench_sql(args.pg, n))
    print(f"plan import: {n} released orders x {OPS} operations into PostgreSQL")
    print(f"{'format':<7} {'import orders/s':>16} {'read+map orders/s':>18} {'re-import /s':>13}")
    for label, total, read_map, again in results:
        print(f"{label:<7} {total:>16.0f} {read_map:>18.0f} {again:>13.0f}")


def bench_sql(pg: str, n: int) -> tuple[str, float, float, float]:
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
        return run("SQL", pg, integ, lambda: sql_source.read(integ), n)
    finally:
        sql_source.dispose_engines()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


if __name__ == "__main__":
    main()
