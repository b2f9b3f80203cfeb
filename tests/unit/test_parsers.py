"""Plan file parsers: good rows come through with their row numbers, bad rows become errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.config import B2MML_FIELDS, FieldMap, FixedWidthColumn, ValueMaps
from adapters.inbound.parsers import (
    parse_b2mml,
    parse_csv,
    parse_delimited,
    parse_fixed_width,
    parse_json_items,
    parse_xlsx,
)
from adapters.mapping import MappedOrder, Record, RowError, map_records

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
SCHEDULE = FIXTURES / "production_schedule.xml"


def records(items: list[Record | RowError]) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def errors(items: list[Record | RowError]) -> list[RowError]:
    return [i for i in items if isinstance(i, RowError)]


def test_a_csv_file_yields_one_record_per_row_with_its_line_number() -> None:
    items = list(parse_csv(FIXTURES / "plan.csv"))
    assert errors(items) == []
    assert [r.row for r in records(items)] == [2, 3, 4, 5]
    first = records(items)[0].data
    assert first["order_no"] == "WO-1001" and first["description"] == "Bracket, zinc plated"


def test_a_csv_row_with_the_wrong_number_of_fields_is_an_error_and_the_rest_come_through() -> None:
    items = list(parse_csv(FIXTURES / "plan_bad_row.csv"))
    assert [(e.row, e.field) for e in errors(items)] == [(5, "line")]
    assert "has 9 fields, the header has 14" in errors(items)[0].message
    assert [r.data["order_no"] for r in records(items)] == [
        "WO-2001",
        "WO-2002",
        "WO-2003",
        "WO-2005",
    ]


def test_a_csv_line_in_the_wrong_encoding_is_refused_alone() -> None:
    data = b"order_no,part_no\nA1,P1\nA2,P\xff\xfe\nA3,P3\n"
    items = list(parse_csv(data))
    assert [r.data["order_no"] for r in records(items)] == ["A1", "A3"]
    assert [(e.row, e.message) for e in errors(items)] == [(3, "is not utf-8 text (byte 5)")]


def test_a_csv_with_a_byte_order_mark_and_semicolons_is_read() -> None:
    data = "\ufefforder_no;qty\r\nA1;1,5\r\n".encode()
    assert records(list(parse_csv(data, delimiter=";"))) == [
        Record(2, {"order_no": "A1", "qty": "1,5"})
    ]


def test_a_csv_header_with_a_repeated_column_refuses_the_document() -> None:
    items = list(parse_csv(b"order_no,qty,qty\nA1,1,2\n"))
    assert items == [RowError(1, "header", None, "the header repeats ['qty']")]


def test_a_csv_without_header_uses_the_configured_column_names() -> None:
    items = list(parse_csv(b"A1,5\nA2,6\n", header=False, column_names=["order_no", "qty"]))
    assert [r.data for r in records(items)] == [
        {"order_no": "A1", "qty": "5"},
        {"order_no": "A2", "qty": "6"},
    ]


def test_pipe_delimited_text_with_decimal_commas_maps_to_orders() -> None:
    items = list(parse_delimited(FIXTURES / "plan.txt", delimiter="|"))
    fields = FieldMap(
        order_no="AUFTRAG",
        part_no="MATERIAL",
        quantity="MENGE",
        unit="ME",
        release_state="STATUS",
        released_values=["FREI"],
        work_centre="AP",
        op_id="VORGANG",
        setup_time="RUEST",
        run_time="BEARB",
        description=None,
        due_date=None,
        priority=None,
        op_name=None,
        op_work_centre=None,
        decimal_comma=True,
    )
    result = map_records(items, fields, ValueMaps())
    assert result.errors == []
    assert [o.order_no for o in result.orders] == ["WO-3001", "WO-3002"]
    assert result.orders[0].order.routing[1].run_time_per_unit == Decimal("1.25")


FIXED = [
    FixedWidthColumn(name="order_no", start=1, end=10),
    FixedWidthColumn(name="part_no", start=11, end=20),
    FixedWidthColumn(name="quantity", start=21, end=28),
    FixedWidthColumn(name="unit", start=29, end=33),
    FixedWidthColumn(name="state", start=34, end=38),
    FixedWidthColumn(name="work_centre", start=39, end=44),
    FixedWidthColumn(name="op_id", start=45, end=48),
    FixedWidthColumn(name="setup_time", start=49, end=54),
    FixedWidthColumn(name="run_time", start=55, end=60),
]


def test_fixed_width_records_are_cut_by_column_spans_and_short_lines_are_errors() -> None:
    items = list(parse_fixed_width(FIXTURES / "plan_fixed.txt", columns=FIXED, skip_lines=1))
    assert records(items)[0] == Record(
        2,
        {
            "order_no": "WO-4001",
            "part_no": "P-100",
            "quantity": "25",
            "unit": "ST",
            "state": "REL",
            "work_centre": "PG-10",
            "op_id": "0010",
            "setup_time": "15",
            "run_time": "0.5",
        },
    )
    assert [(e.row, e.field, e.value) for e in errors(items)] == [(5, "line", "WO-4003 short")]
    result = map_records(items, FieldMap(released_values=["REL"]), ValueMaps())
    assert [(o.order_no, len(o.order.routing)) for o in result.orders] == [
        ("WO-4001", 2),
        ("WO-4002", 1),
    ]


def test_an_excel_sheet_yields_typed_cells_and_skips_empty_rows() -> None:
    items = list(parse_xlsx(FIXTURES / "plan.xlsx"))
    assert errors(items) == []
    assert [r.row for r in records(items)] == [2, 3, 5, 6]
    result = map_records(items, FieldMap(released_values=["REL"]), ValueMaps())
    assert [o.order_no for o in result.orders] == ["5001", "5002"]
    assert result.orders[1].order.quantity == Decimal("12.5")
    assert str(result.orders[0].order.due_date) == "2025-03-14"
    assert [(e.row, e.field, e.value) for e in result.errors] == [(6, "quantity", "lots")]


def test_a_file_that_is_not_a_workbook_is_refused_as_a_document() -> None:
    items = list(parse_xlsx(b"this is not a zip file"))
    assert len(items) == 1 and isinstance(items[0], RowError) and items[0].row is None
    assert "not a readable Excel workbook" in items[0].message


def test_a_missing_sheet_is_named() -> None:
    items = list(parse_xlsx(FIXTURES / "plan.xlsx", sheet="Orders"))
    assert items == [RowError(None, "sheet", None, "has no sheet 'Orders' (sheets: Plan)")]


def test_a_b2mml_production_schedule_validates_and_maps_to_orders_with_routing() -> None:
    items = list(parse_b2mml(SCHEDULE))
    assert errors(items) == []
    result = map_records(items, B2MML_FIELDS, ValueMaps())
    by_no = {o.order_no: o for o in result.orders}
    assert set(by_no) == {"WO-1001", "WO-1002", "WO-0999", "WO-1003"}
    wo = by_no["WO-1001"]
    assert isinstance(wo, MappedOrder) and wo.state == "released"
    o = wo.order
    assert (o.part_no, o.quantity, o.unit, o.priority) == ("P-100", 50, "pcs", 2)
    assert str(o.due_date) == "2025-03-14" and o.work_centre == "PG-10"
    assert [(op.op_id, op.work_centre) for op in o.routing] == [
        ("0010", "PG-10"),
        ("0020", "PG-20"),
    ]
    assert o.routing[0].setup_time == 15 and o.routing[0].run_time_per_unit == Decimal("0.5")
    assert o.routing[1].setup_time == 30 and o.routing[1].run_time_per_unit == Decimal("1.5")
    assert by_no["WO-0999"].state == "cancelled"
    assert by_no["WO-1003"].state == "not_released"


def test_a_production_request_that_breaks_the_schema_is_refused_and_the_others_come_through() -> (
    None
):
    data = SCHEDULE.read_bytes().replace(
        b"<Priority>1</Priority>", b"<Priority>1</Priority><Colour>red</Colour>"
    )
    items = list(parse_b2mml(data))
    assert [r.data["order_no"] for r in records(items)] == ["WO-1001", "WO-0999", "WO-1003"]
    (err,) = errors(items)
    assert err.order_no == "WO-1002" and err.row == 66
    assert "Colour" in err.message and "B2MML schema" in err.message


def test_a_schedule_level_schema_violation_refuses_the_document() -> None:
    data = SCHEDULE.read_bytes().replace(b"<PublishedDate>", b"<Colour/><PublishedDate>")
    items = list(parse_b2mml(data))
    assert len(items) == 1 and isinstance(items[0], RowError) and items[0].order_no is None


@pytest.mark.parametrize("name", ["xml_bomb.xml", "xxe.xml"])
def test_an_xml_bomb_or_external_entity_is_refused_with_a_clear_error(name: str) -> None:
    items = list(parse_b2mml(FIXTURES / name))
    assert len(items) == 1 and isinstance(items[0], RowError)
    assert items[0].row is None and "XML bomb" in items[0].message


def test_malformed_xml_is_refused_naming_the_line() -> None:
    items = list(parse_b2mml(b"<ProductionSchedule>\n<ID>x</ProductionSchedule>"))
    assert len(items) == 1 and isinstance(items[0], RowError) and items[0].row == 2
    assert "not well-formed" in items[0].message


def test_xml_that_is_not_a_production_schedule_is_refused() -> None:
    items = list(parse_b2mml(b'<Orders xmlns="urn:x"><Order/></Orders>'))
    assert len(items) == 1 and "expected a B2MML V0600 ProductionSchedule" in items[0].message


def test_json_items_are_found_by_path() -> None:
    body = {"data": {"orders": [{"order_no": "J1"}, 7]}}
    items = list(parse_json_items(body, "data.orders"))
    assert items == [
        Record(1, {"order_no": "J1"}),
        RowError(2, "data.orders", 7, "is not a JSON object"),
    ]
    (missing,) = parse_json_items(body, "nope")
    assert isinstance(missing, RowError)
