"""The SQL transport against real PostgreSQL and MariaDB staging tables, with a real Ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.config import Integration
from adapters.inbound import sql
from adapters.inbound.sync import SourceUnavailable, apply_mapping, open_orders_in_ledger
from adapters.mapping import map_records
from adapters.settings import Settings, build_ledger
from domain import Actor, Ledger, OrderState
from domain.commands import ReceiveErpOrder, ReportQuantity, StartOperation
from tests.conftest import require_server

OPERATOR = Actor("op-7", "operator", "api")

SERVERS = {
    "postgresql": ("PostgreSQL", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
    "mariadb": ("MariaDB", 3306, "mysql://root@127.0.0.1:3306/test"),
}


@dataclass
class Staging:
    """A uniquely named staging table on a real database server."""

    url: str
    name: str
    engine: sa.Engine
    table: sa.Table

    def put(self, *rows: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), [dict(r) for r in rows])

    def replace(self, *rows: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())
            if rows:
                conn.execute(self.table.insert(), [dict(r) for r in rows])

    def update(self, order_no: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.table.update().where(self.table.c.order_no == order_no).values(**values)
            )

    def rename(self, new: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {self.name} RENAME TO {new}"))


def staging_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("order_no", sa.String(40), nullable=False),
        sa.Column("part_no", sa.String(40)),
        sa.Column("description", sa.String(200)),
        sa.Column("quantity", sa.String(20)),
        sa.Column("unit", sa.String(10)),
        sa.Column("due_date", sa.Date),
        sa.Column("priority", sa.Integer),
        sa.Column("state", sa.String(10)),
        sa.Column("work_centre", sa.String(20)),
        sa.Column("op_id", sa.String(10)),
        sa.Column("op_name", sa.String(60)),
        sa.Column("op_work_centre", sa.String(20)),
        sa.Column("setup_time", sa.Numeric(10, 3)),
        sa.Column("run_time", sa.Numeric(10, 3)),
    )


@pytest.fixture(params=sorted(SERVERS))
def staging(request: pytest.FixtureRequest) -> Iterator[Staging]:
    label, port, url = SERVERS[request.param]
    require_server(label, "127.0.0.1", port)
    name = "stg_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(sql.database_url(url))
    metadata = sa.MetaData()
    table = staging_table(metadata, name)
    metadata.create_all(engine)
    try:
        yield Staging(url, name, engine, table)
    finally:
        sql.dispose_engines()
        with engine.begin() as conn:
            for n in (name, name + "_x"):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {n}"))
        engine.dispose()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))  # type: ignore[arg-type]
    try:
        yield ledger
    finally:
        ledger.close()


def rows(
    order_no: str,
    *,
    qty: str = "10",
    state: str = "REL",
    ops: tuple[str, ...] = ("0010", "0020"),
    wc: str = "PG-10",
) -> list[dict[str, Any]]:
    return [
        {
            "order_no": order_no,
            "part_no": f"P-{order_no}",
            "description": "bracket",
            "quantity": qty,
            "unit": "pcs",
            "due_date": None,
            "priority": 1,
            "state": state,
            "work_centre": wc,
            "op_id": op,
            "op_name": f"op {op}",
            "op_work_centre": wc,
            "setup_time": Decimal("5.5"),
            "run_time": Decimal("0.25"),
        }
        for op in ops
    ]


def integration(staging: Staging, monkeypatch: pytest.MonkeyPatch, **over: Any) -> Integration:
    monkeypatch.setenv("ERP_DB_URL", staging.url)
    inbound: dict[str, Any] = {"transport": "sql", "url_env": "ERP_DB_URL", "table": staging.name}
    inbound.update(over.pop("inbound", {}))
    data: dict[str, Any] = {
        "name": "plant1",
        "mode": "B",
        "inbound": inbound,
        "fields": {"released_values": ["REL"], "cancelled_values": ["CNL"]},
    }
    data.update(over)
    return Integration.model_validate(data)


def sync(integ: Integration, ledger: Ledger) -> Any:
    return sql.sync(integ, ledger, open_orders=lambda: open_orders_in_ledger(ledger, integ.name))


def test_staging_rows_are_released_reimported_changed_and_cancelled(
    staging: Staging, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = sqlite_ledger
    staging.put(
        *rows("WO-1"), *rows("WO-2"), *rows("WO-3"), *rows("WO-4"), *rows("WO-9", state="PLAN")
    )
    integ = integration(staging, monkeypatch)
    first = sync(integ, ledger)
    assert sorted(first.released) == ["WO-1", "WO-2", "WO-3", "WO-4"] and first.ok
    assert first.not_released == ["WO-9"]
    order = ledger.get_order("WO-1", "plant1")
    assert order.routing_ids() == ["0010", "0020"]
    assert order.routing[0].setup_time == Decimal("5.5")

    assert sorted(sync(integ, ledger).unchanged) == ["WO-1", "WO-2", "WO-3", "WO-4"]

    ledger.execute(StartOperation("WO-2", "0010", integration="plant1"), OPERATOR)
    ledger.execute(StartOperation("WO-4", "0010", integration="plant1"), OPERATOR)
    staging.update("WO-1", quantity="12")
    staging.update("WO-2", quantity="12")
    staging.update("WO-3", state="CNL")
    staging.update("WO-4", state="CNL")
    third = sync(integ, ledger)
    assert third.changed == ["WO-1"]
    assert sorted(third.conflicts) == ["WO-2", "WO-4"]
    assert third.cancelled == ["WO-3"]
    assert ledger.get_order("WO-1", "plant1").quantity == 12
    assert ledger.get_order("WO-2", "plant1").quantity == 10  # work already recorded is kept

    # The ERP moves WO-1 back to planning: kept on the floor, warned about once.
    staging.update("WO-1", state="PLAN")
    fourth = sync(integ, ledger)
    assert fourth.not_released == ["WO-1", "WO-9"]
    assert [w for w in fourth.warnings if "not_released_in_erp" in w]
    assert not [w for w in sync(integ, ledger).warnings if "not_released_in_erp" in w]


def test_malformed_rows_and_unknown_references_never_stop_the_good_orders(
    staging: Staging, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.put(
        *rows("WO-1", wc="PG-99"),
        *rows("WO-2", qty="ten"),
        *rows("WO-3"),
        *rows("WO-4", ops=("0010",)),
    )
    staging.update("WO-4", part_no=None)
    integ = integration(
        staging, monkeypatch, maps={"work_centres": {"PG-10": "saw-1"}}, full_plan=True
    )
    summary = sync(integ, sqlite_ledger)
    assert sorted(summary.released) == ["WO-1", "WO-3"]
    assert any("order WO-2" in e and "'ten'" in e for e in summary.errors)
    assert any("order WO-4" in e and "part_no" in e for e in summary.errors)
    assert any("unknown_work_centre" in w and "PG-99" in w for w in summary.warnings)
    assert sqlite_ledger.get_order("WO-3", "plant1").routing[0].work_centre == "saw-1"
    # Orders whose rows were refused are not "missing" from the full plan.
    staging.replace(*rows("WO-1", wc="PG-99"), *rows("WO-3"), *rows("WO-2", qty="ten"))
    again = sync(integ, sqlite_ledger)
    assert again.cancelled == [] and again.warnings == []


def test_a_release_state_filter_and_a_query_read_only_what_they_select(
    staging: Staging, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.put(*rows("WO-1"), *rows("WO-2", state="PLAN"), *rows("WO-3", state="CNL"))
    integ = integration(staging, monkeypatch, inbound={"release_state_value": "REL"})
    assert {r.data["order_no"] for r in sql.fetch_records(integ)} == {"WO-1", "WO-3"}
    query = f"SELECT * FROM {staging.name} WHERE order_no = 'WO-1'"
    by_query = integration(staging, monkeypatch, inbound={"table": None, "query": query})
    assert sync(by_query, sqlite_ledger).released == ["WO-1"]


def test_while_the_database_is_down_the_floor_records_and_sync_resumes(
    staging: Staging, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.put(*rows("WO-1"))
    integ = integration(staging, monkeypatch)
    assert sync(integ, sqlite_ledger).released == ["WO-1"]
    # The staging table disappears (an ERP job recreating it), then comes back.
    staging.rename(staging.name + "_x")
    with pytest.raises(SourceUnavailable, match="plant1"):
        sync(integ, sqlite_ledger)
    sqlite_ledger.execute(ReportQuantity("WO-1", "0010", good=2, integration="plant1"), OPERATOR)
    with staging.engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {staging.name}_x RENAME TO {staging.name}"))
    staging.put(*rows("WO-2"))
    assert sync(integ, sqlite_ledger).released == ["WO-2"]
    # The server unreachable: a closed port.
    url = staging.url.replace(":5432", ":1").replace(":3306", ":1")
    monkeypatch.setenv("ERP_DB_URL", url)
    with pytest.raises(SourceUnavailable, match="OperationalError"):
        sync(integ, sqlite_ledger)
    sqlite_ledger.execute(ReportQuantity("WO-1", "0010", good=1, integration="plant1"), OPERATOR)
    monkeypatch.setenv("ERP_DB_URL", staging.url)
    assert sorted(sync(integ, sqlite_ledger).unchanged) == ["WO-1", "WO-2"]


def test_the_bulk_path_has_the_same_outcome_as_order_by_order(
    staging: Staging, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.put(*[r for i in range(1, 8) for r in rows(f"WO-{i}")], *rows("WO-8", state="CNL"))
    integ = integration(staging, monkeypatch, maps={"work_centres": {"PG-20": "x"}})
    outcomes = []
    for bulk in (False, True):
        ledger = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / f'{bulk}.db'}"))  # type: ignore[arg-type]
        try:
            # One order already known, and started, so a chunk falls back order by order.
            ledger.execute(
                ReceiveErpOrder(
                    map_records(sql.fetch_records(integ)[:2], integ.field_map, integ.maps)
                    .orders[0]
                    .order,
                    integration="plant1",
                ),
                Actor("sync:plant1", "integration", "erp:plant1"),
            )
            ledger.execute(StartOperation("WO-1", "0010", integration="plant1"), OPERATOR)
            staging.update("WO-1", quantity="11")
            result = sql.read(integ)
            passes = [
                apply_mapping(integ, ledger, result, bulk=bulk).counts(),
                apply_mapping(integ, ledger, result, bulk=bulk).counts(),
            ]
            history = {
                f"WO-{i}": [e.event for e in ledger.history(f"WO-{i}", integration="plant1")]
                for i in range(1, 8)
            }
            outcomes.append((passes, history, ledger.get_order("WO-1", "plant1").state))
            staging.update("WO-1", quantity="10")
        finally:
            ledger.close()
    assert outcomes[0] == outcomes[1]
    passes, history, state = outcomes[1]
    assert passes[0]["released"] == 6 and passes[0]["conflicts"] == 1
    assert passes[1]["unchanged"] == 7
    assert history["WO-2"] == ["Released", "WarningRaised"]
    assert state == OrderState.IN_PROGRESS
