"""Field mappings and value maps turn raw ERP records into floor orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapters.config import FieldMap, UnitMapping, ValueMaps
from adapters.mapping import (
    MappedOrder,
    MappingCheck,
    Record,
    RowError,
    lookup,
    map_order,
    map_reason_code,
    map_records,
)

TABULAR = FieldMap(
    order_no="Auftrag",
    part_no="Material",
    description="Text",
    quantity="Menge",
    unit="ME",
    due_date="Termin",
    priority="Prio",
    release_state="Status",
    released_values=["REL", "FREI"],
    cancelled_values=["STORNO"],
    work_centre="Arbeitsplatz",
    op_id="Vorgang",
    op_name="VorgangText",
    op_work_centre="VorgangAP",
    setup_time="Ruest",
    run_time="Bearb",
)
MAPS = ValueMaps(
    work_centres={"PG-10": "saw-1", "PG-20": "mill-2"},
    operations={"0010": "10", "0020": "20"},
    units={"ST": UnitMapping(unit="pcs"), "DZ": UnitMapping(unit="pcs", factor=Decimal(12))},
)


def row(n: int, **over: Any) -> Record:
    data: dict[str, Any] = {
        "Auftrag": "4711",
        "Material": "P-100",
        "Text": "Bracket",
        "Menge": "50",
        "ME": "ST",
        "Termin": "2025-03-14",
        "Prio": "2",
        "Status": "REL",
        "Arbeitsplatz": "PG-10",
        "Vorgang": "0010",
        "VorgangText": "Saw",
        "VorgangAP": "PG-10",
        "Ruest": "15",
        "Bearb": "0.5",
    }
    data.update(over)
    return Record(n, data)


def test_tabular_rows_of_one_order_become_one_order_with_its_routing() -> None:
    out = map_order(
        [row(2), row(3, Vorgang="0020", VorgangText="Mill", VorgangAP="PG-20")], TABULAR, MAPS
    )
    assert isinstance(out, MappedOrder)
    o = out.order
    assert (o.order_no, o.part_no, o.quantity, o.unit) == ("4711", "P-100", Decimal(50), "pcs")
    assert o.due_date == date(2025, 3, 14) and o.priority == 2 and o.work_centre == "saw-1"
    assert [(op.op_id, op.name, op.work_centre) for op in o.routing] == [
        ("10", "Saw", "saw-1"),
        ("20", "Mill", "mill-2"),
    ]
    assert o.routing[0].setup_time == 15 and o.routing[0].run_time_per_unit == Decimal("0.5")
    assert out.state == "released" and out.unmapped == () and out.rows == (2, 3)


def test_unknown_references_are_kept_raw_and_listed_once_each() -> None:
    out = map_order(
        [
            row(2, Arbeitsplatz="PG-99", VorgangAP="PG-99"),
            row(3, Arbeitsplatz="PG-99", Vorgang="0030", VorgangAP=""),
        ],
        TABULAR,
        MAPS,
    )
    assert isinstance(out, MappedOrder)
    assert out.order.work_centre == "PG-99"
    assert [op.op_id for op in out.order.routing] == ["10", "0030"]
    assert [(u.code, u.value) for u in out.unmapped] == [
        ("unknown_work_centre", "PG-99"),
        ("unknown_erp_operation", "0030"),
    ]
    assert "PG-99" in out.unmapped[0].message("4711")


def test_an_erp_unit_with_a_factor_converts_quantity_and_run_time() -> None:
    out = map_order([row(2, ME="DZ", Menge="4", Bearb="6")], TABULAR, MAPS)
    assert isinstance(out, MappedOrder)
    assert out.order.quantity == 48 and out.order.unit == "pcs"
    assert out.order.routing[0].run_time_per_unit == Decimal("0.5")
    assert out.order.unit_factors == {"DZ": Decimal(12)}


def test_a_bad_value_is_a_row_error_naming_row_field_and_value() -> None:
    out = map_order([row(2), row(3, Vorgang="0020", Ruest="ten")], TABULAR, MAPS)
    assert out == [RowError(3, "Ruest", "ten", "is not a number", "4711")]
    assert str(out[0]) == "row 3 (order 4711): Ruest: 'ten' is not a number"


def test_domain_checks_are_reported_against_the_source_column() -> None:
    out = map_order([row(2, Menge="-3")], TABULAR, MAPS)
    assert out == [RowError(2, "Menge", "-3", "is negative", "4711")]
    dup = map_order([row(2), row(5)], TABULAR, MAPS)
    assert dup == [RowError(5, "Vorgang", "0010", "appears twice", "4711")]


def test_rows_of_one_order_that_disagree_on_the_header_are_refused() -> None:
    out = map_order([row(2), row(3, Vorgang="0020", Menge="60")], TABULAR, MAPS)
    assert out == [RowError(3, "Menge", "60", "differs from row 2 ('50')", "4711")]


def test_release_states_are_read_from_the_configured_values() -> None:
    states = {
        s: map_order([row(2, Status=s)], TABULAR, MAPS) for s in ("FREI", "STORNO", "ERÖ", "")
    }
    assert {s: o.state for s, o in states.items() if isinstance(o, MappedOrder)} == {
        "FREI": "released",
        "STORNO": "cancelled",
        "ERÖ": "not_released",
        "": "not_released",
    }


def test_a_source_without_a_state_field_delivers_only_released_orders() -> None:
    out = map_order([row(2)], TABULAR.model_copy(update={"release_state": None}), MAPS)
    assert isinstance(out, MappedOrder) and out.state == "released"


def test_spreadsheet_values_and_formats_are_read() -> None:
    fields = TABULAR.model_copy(
        update={"date_format": "%d.%m.%Y", "decimal_comma": True, "time_unit": "h"}
    )
    out = map_order(
        [
            row(
                2,
                Auftrag=4711.0,
                Menge="1.250,5",
                Termin="14.03.2025",
                Prio=3.0,
                Ruest="0,25",
                Bearb="0,5",
            )
        ],
        fields,
        MAPS,
    )
    assert isinstance(out, MappedOrder)
    assert out.order.routing[0].run_time_per_unit == 30
    assert out.order.order_no == "4711" and out.order.quantity == Decimal("1250.5")
    assert out.order.due_date == date(2025, 3, 14) and out.order.priority == 3
    assert out.order.routing[0].setup_time == 15
    xl = map_order([row(2, Termin=datetime(2025, 3, 14, 0, 0))], TABULAR, MAPS)
    assert isinstance(xl, MappedOrder) and xl.order.due_date == date(2025, 3, 14)
    bad = map_order([row(2, Termin="2025-14-03")], TABULAR, MAPS)
    assert isinstance(bad, list) and bad[0].field == "Termin" and bad[0].value == "2025-14-03"


def test_nested_json_records_map_by_dotted_paths() -> None:
    fields = FieldMap(
        order_no="header.number",
        part_no="header.article.code",
        quantity="header.qty",
        unit="header.uom",
        due_date="header.due",
        priority=None,
        release_state="status",
        work_centre=None,
        operations="routing",
        op_id="id",
        op_name="name",
        op_work_centre="wc",
        setup_time="setup",
        run_time="run",
    )
    rec = Record(
        1,
        {
            "header": {
                "number": "SO-1",
                "article": {"code": "A-9"},
                "qty": 10,
                "uom": "pcs",
                "due": "2025-04-01T12:00:00Z",
            },
            "status": "Released",
            "routing": [{"id": "10", "name": "Cut", "wc": "PG-10", "setup": 5, "run": 1.5}],
        },
    )
    out = map_order(rec, fields, MAPS)
    assert isinstance(out, MappedOrder)
    assert out.order.part_no == "A-9" and out.order.due_date == date(2025, 4, 1)
    assert out.order.routing[0].work_centre == "saw-1"
    assert out.order.routing[0].run_time_per_unit == Decimal("1.5")
    assert lookup(rec.data, "routing.0.name") == "Cut"
    assert lookup(rec.data, "routing.5.name") is None


def test_map_records_groups_rows_by_order_and_keeps_good_orders_when_one_is_bad() -> None:
    items = [
        row(2),
        row(3, Auftrag="4712", Menge="x"),
        row(4, Vorgang="0020"),
        row(5, Auftrag=""),
        RowError(6, "line", "…", "has 3 fields, the header has 14"),
    ]
    result = map_records(items, TABULAR, MAPS)
    assert [o.order_no for o in result.orders] == ["4711"]
    assert [o.op_id for o in result.orders[0].order.routing] == ["10", "20"]
    assert {(e.row, e.field) for e in result.errors} == {
        (6, "line"),
        (5, "Auftrag"),
        (3, "Menge"),
    }
    assert result.refused_order_nos == {"4712"}
    assert result.has_unattributed_errors


def test_the_mapping_check_counts_every_value_that_raises_a_warning_with_example_orders() -> None:
    maps = MAPS.model_copy(update={"units": {}})
    check = MappingCheck(maps)
    items = [
        row(2, Arbeitsplatz="PG-99"),
        row(3, Auftrag="4712", Arbeitsplatz="PG-99", ME="KAR"),
        row(4, Auftrag="4713", Vorgang="0090"),
    ]
    map_records(items, TABULAR, maps, check=check)
    found = {(u.kind, u.value): (u.count, u.examples) for u in check.uncovered()}
    assert found == {
        ("work_centre", "PG-99"): (2, ("4711", "4712")),
        ("operation", "0090"): (1, ("4713",)),
    }
    assert check.orders_seen == 3 and not check.ok
    assert any("PG-99" in line and "2 time(s)" in line for line in check.lines())
    statuses = {(v.kind, v.value): v.status for v in check.seen()}
    # The unit map is empty: units pass through unchanged and sync raises no warning.
    assert statuses[("unit", "KAR")] == "passed_through"
    assert statuses[("work_centre", "PG-10")] == "mapped"
    assert statuses[("part", "P-100")] == "passed_through"
    assert check.warnings == {
        ("4711", "unknown_work_centre", "PG-99"),
        ("4712", "unknown_work_centre", "PG-99"),
        ("4713", "unknown_erp_operation", "0090"),
    }


def test_values_of_orders_not_released_are_unknown_but_raise_no_warning() -> None:
    check = MappingCheck(MAPS)
    map_records([row(2, Status="PLAN", Arbeitsplatz="PG-77")], TABULAR, MAPS, check=check)
    [wc] = [v for v in check.seen() if v.value == "PG-77"]
    assert wc.status == "unknown" and not wc.warns
    assert check.ok and check.uncovered() == []


def test_reason_codes_map_erp_codes_and_flag_unknown_ones() -> None:
    maps = ValueMaps(reason_codes={"S01": "scrap.material"})
    assert map_reason_code("S01", maps) == ("scrap.material", None)
    code, ref = map_reason_code("S99", maps)
    assert code == "S99" and ref is not None and ref.code == "unknown_reason_code"
    assert map_reason_code("S99", ValueMaps()) == ("S99", None)


def test_a_source_without_a_state_field_can_declare_every_order_released() -> None:
    from adapters.config import FieldMap, ValueMaps
    from adapters.mapping import Record, map_records

    rows = [
        Record(2, {"order_no": "A-1", "part_no": "P", "quantity": "3", "op_id": "10"}),
    ]
    without = map_records(rows, FieldMap(release_state=""), ValueMaps())
    assert [(o.order.order_no, o.state) for o in without.orders] == [("A-1", "released")]
    strict = map_records(rows, FieldMap(), ValueMaps())
    assert [o.state for o in strict.orders] == ["not_released"]
