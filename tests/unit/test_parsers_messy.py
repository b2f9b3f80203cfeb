"""Messy ERP exports (issue #12): every fault is refused by name, nothing is guessed."""

from __future__ import annotations

import codecs
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.config import B2MML_FIELDS, ConfigError, FieldMap, ValueMaps, parse_config
from adapters.inbound.parsers import FileRefused, parse_b2mml, parse_csv
from adapters.mapping import MappedOrder, MappingResult, RowError, map_records
from domain.errors import InvalidValueError
from domain.values import quantity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"
SCHEDULE = FIXTURES / "production_schedule.xml"
HEADER = "order_no,part_no,quantity,unit,state,work_centre,op_id,setup_time,run_time\n"
FIELDS = FieldMap(released_values=["REL"])


def csv_result(text: str, fields: FieldMap = FIELDS, **kw: object) -> MappingResult:
    items = parse_csv(text.encode(), order_field="order_no", **kw)  # type: ignore[arg-type]
    return map_records(items, fields, ValueMaps())


def released(result: MappingResult) -> dict[str, list[str]]:
    return {m.order_no: [op.op_id for op in m.order.routing] for m in result.orders}


def messages(result: MappingResult) -> list[str]:
    return [str(e) for e in result.errors]


# ---------------------------------------------------------------- 1. wrong number of fields


def test_a_row_with_too_few_fields_refuses_its_whole_order_by_name() -> None:
    result = csv_result(
        HEADER
        + "WO-1,P-1,5,pcs,REL,PG-1,0010,1,1\n"
        + "WO-1,P-1,5,pcs,REL,PG-1,0020\n"
        + "WO-2,P-2,5,pcs,REL,PG-1,0010,1,1\n"
    )
    assert released(result) == {"WO-2": ["0010"]}
    assert {e.order_no for e in result.errors} == {"WO-1"}
    assert any("row 3 (order WO-1)" in m and "7 fields" in m for m in messages(result))
    assert any("refused as a whole" in m and "other rows (2)" in m for m in messages(result))


def test_a_row_with_an_extra_delimiter_before_the_order_column_still_names_its_order() -> None:
    header = "description,order_no,part_no,quantity,unit,state,op_id\n"
    result = csv_result(
        header
        + "Bracket,WO-1,P-1,5,pcs,REL,0010\n"
        + "Bracket, zinc,WO-1,P-1,5,pcs,REL,0020\n"
        + "Cover,WO-2,P-2,5,pcs,REL,0010\n",
        FieldMap(released_values=["REL"], work_centre=None, op_work_centre=None),
    )
    assert released(result) == {"WO-2": ["0010"]}
    (row_error,) = [e for e in result.errors if e.row == 3]
    assert row_error.order_no == "WO-1" and "8 fields, the header has 7" in row_error.message


# ---------------------------------------------------------------- 2 and 11. numbers in range


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("setup_time", "1e30", "is out of range: it must be below 1000000000000"),
        ("run_time", "Infinity", "is not a finite number"),
        ("run_time", "NaN", "is not a finite number"),
        ("quantity", "1E-400", "has more than 6 decimal places (at most 6)"),
        ("quantity", "1e400", "is out of range: it must be below 1000000000000"),
        ("quantity", "0.1234567", "has more than 6 decimal places (at most 6)"),
        ("quantity", "-5", "is negative"),
    ],
)
def test_a_number_out_of_range_refuses_its_order_naming_field_and_value(
    column: str, value: str, reason: str
) -> None:
    values = {"quantity": "5", "setup_time": "1", "run_time": "1", column: value}
    row = f"WO-1,P-1,{values['quantity']},pcs,REL,PG-1,0010,{values['setup_time']},"
    result = csv_result(HEADER + row + values["run_time"] + "\nWO-2,P-2,5,pcs,REL,PG-1,0010,1,1\n")
    assert released(result) == {"WO-2": ["0010"]}
    (err,) = result.errors
    assert (err.order_no, err.field, err.value, err.message) == ("WO-1", column, value, reason)


def test_quantities_and_times_at_the_edge_of_the_range_are_kept_exactly() -> None:
    result = csv_result(HEADER + "WO-1,P-1,999999999999.999999,pcs,REL,PG-1,0010,0.000001,2\n")
    (order,) = result.orders
    assert order.order.quantity == Decimal("999999999999.999999")
    assert str(order.order.quantity) == "999999999999.999999"
    assert str(order.order.routing[0].setup_time) == "0.000001"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1E-400", "has more than 6 decimal places (at most 6)"),
        ("1e12", "is out of range: it must be below 1000000000000"),
        ("Infinity", "is not a finite number"),
        (float("inf"), "is not finite"),
        ("-1", "is negative"),
    ],
)
def test_the_domain_refuses_a_quantity_outside_the_range_from_any_source(
    value: object, reason: str
) -> None:
    with pytest.raises(InvalidValueError) as caught:
        quantity("good", value)
    assert (caught.value.field, caught.value.value, caught.value.reason) == ("good", value, reason)


def test_domain_quantities_print_in_fixed_point() -> None:
    assert str(quantity("good", "1E+3")) == "1000"
    assert str(quantity("good", "0.000001")) == "0.000001"
    assert str(quantity("good", "5.500")) == "5.5"


# ---------------------------------------------------------------- 3. decimal comma


def test_with_decimal_comma_a_point_decimal_is_refused_not_read_as_thousands() -> None:
    fields = FieldMap(released_values=["REL"], decimal_comma=True)
    result = csv_result(
        HEADER.replace(",", ";")
        + "WO-1;P-1;1.5;pcs;REL;PG-1;0010;1;1\n"
        + "WO-2;P-2;1.500;pcs;REL;PG-1;0010;0,25;1\n",
        fields,
        delimiter=";",
    )
    (err,) = result.errors
    assert (err.order_no, err.field, err.value) == ("WO-1", "quantity", "1.5")
    assert "ambiguous" in err.message and "refused rather than guessed" in err.message
    (wo2,) = result.orders
    assert wo2.order.quantity == 1500 and wo2.order.routing[0].setup_time == Decimal("0.25")


def test_without_decimal_comma_a_comma_decimal_is_refused_with_the_setting_named() -> None:
    result = csv_result(
        HEADER.replace(",", ";") + "WO-1;P-1;1,5;pcs;REL;PG-1;0010;1;1\n", delimiter=";"
    )
    (err,) = result.errors
    assert err.value == "1,5" and "unless decimal_comma = true" in err.message


# ---------------------------------------------------------------- 4. unterminated quote


def test_an_unterminated_quote_names_the_line_it_opened_and_every_order_it_swallowed() -> None:
    header = "order_no,part_no,description,quantity,unit,state,op_id\n"
    text = (
        header
        + 'WO-1,P-1,"Bracket,5,pcs,REL,0010\n'  # line 2: the quote never closes
        + "WO-2,P-2,Cover,5,pcs,REL,0010\n"
        + "WO-3,P-3,Plate,5,pcs,REL,0010\n"
        + "WO-0,P-0,Shaft,5,pcs,REL,0010\n"
    )
    fields = FieldMap(released_values=["REL"], work_centre=None, op_work_centre=None)
    result = csv_result(
        header + "WO-0,P-0,Shaft,5,pcs,REL,0020\n" + text.removeprefix(header), fields
    )
    assert released(result) == {}
    opening = next(e for e in result.errors if e.row == 3)
    assert opening.order_no == "WO-1"
    assert "opens a quote that is not closed before line 6" in opening.message
    assert "(orders WO-2, WO-3, WO-0)" in opening.message
    assert {e.order_no for e in result.errors} == {"WO-0", "WO-1", "WO-2", "WO-3"}


def test_a_quoted_field_spanning_lines_is_still_read_as_one_field() -> None:
    items = list(
        parse_csv(
            b'order_no,description,op_id\nWO-1,"two\nlines",0010\nWO-2,one line,0010\n',
            order_field="order_no",
        )
    )
    assert [(i.row, dict(i.data)) for i in items if not isinstance(i, RowError)] == [
        (2, {"order_no": "WO-1", "description": "two\nlines", "op_id": "0010"}),
        (4, {"order_no": "WO-2", "description": "one line", "op_id": "0010"}),
    ]


# ---------------------------------------------------------------- 8. encodings named


def test_a_utf8_byte_order_mark_with_a_cp1252_setting_names_the_fix() -> None:
    data = codecs.BOM_UTF8 + HEADER.encode() + b"WO-1,P-1,5,pcs,REL,PG-1,0010,1,1\n"
    (err,) = list(parse_csv(data, encoding="cp1252"))
    assert err.message == (
        "the file starts with a UTF-8 byte-order mark but encoding is cp1252: "
        'set encoding = "utf-8-sig"'
    )


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])
def test_utf16_text_with_a_utf8_setting_names_the_fix(codec: str) -> None:
    data = (HEADER + "WO-1,P-1,5,pcs,REL,PG-1,0010,1,1\n").encode(codec)
    (err,) = list(parse_csv(data))
    assert "UTF-16" in err.message and 'set encoding = "utf-16' in err.message
    assert "header" not in err.message


def test_a_workbook_dropped_into_a_csv_inbox_is_named_as_such() -> None:
    (err,) = list(parse_csv((FIXTURES / "plan.xlsx").read_bytes()))
    assert err.message == "the file is a zip archive (an Excel workbook?), not text: check format"


def test_utf16_text_with_a_utf16_setting_is_read() -> None:
    data = (HEADER + "WO-1,P-1,5,pcs,REL,PG-1,0010,1,1\r\n").encode("utf-16")
    result = map_records(parse_csv(data, encoding="utf-16"), FIELDS, ValueMaps())
    assert released(result) == {"WO-1": ["0010"]}


def test_a_line_in_the_wrong_encoding_refuses_its_order_by_name() -> None:
    data = (
        HEADER.encode()
        + b"WO-1,P-1,5,pcs,REL,PG-1,0010,1,1\n"
        + b"WO-1,P-1,5,pcs,REL,PG-1,0020,1,1 \xff\n"
        + b"WO-2,P-2,5,pcs,REL,PG-1,0010,1,1\n"
    )
    result = map_records(parse_csv(data, order_field="order_no"), FIELDS, ValueMaps())
    assert released(result) == {"WO-2": ["0010"]}
    assert any(e.row == 3 and e.order_no == "WO-1" for e in result.errors)


# ---------------------------------------------------------------- 6. rows limit


def test_more_rows_than_max_rows_refuses_the_file() -> None:
    text = HEADER + "".join(f"WO-{i},P,5,pcs,REL,PG-1,0010,1,1\n" for i in range(3))
    with pytest.raises(FileRefused, match=r"more than 2 data rows \(max_rows = 2\)"):
        list(parse_csv(text.encode(), max_rows=2))


# ---------------------------------------------------------------- 5. B2MML


def b2mml(old: bytes, new: bytes) -> bytes:
    data = SCHEDULE.read_bytes()
    assert old in data
    return data.replace(old, new, 1)


def b2mml_result(data: bytes) -> MappingResult:
    return map_records(parse_b2mml(data), B2MML_FIELDS, ValueMaps())


def by_no(result: MappingResult) -> dict[str, MappedOrder]:
    return {m.order_no: m for m in result.orders}


@pytest.mark.parametrize("value", [b"Infinity", b"1e400", b"NaN", b"-3"])
def test_a_b2mml_time_out_of_range_refuses_its_request_naming_the_parameter(value: bytes) -> None:
    result = b2mml_result(
        b2mml(b"<ValueString>15</ValueString>", b"<ValueString>" + value + b"</ValueString>")
    )
    (err,) = result.errors
    assert err.order_no == "WO-1001" and err.value == value.decode()
    assert "SegmentRequirement 0010 / Parameter SetupTime" in err.field
    assert "WO-1002" in by_no(result)


def test_nested_segment_requirements_become_operations_in_document_order() -> None:
    data = SCHEDULE.read_bytes()
    start = data.index(b"<SegmentRequirement>")
    end = data.index(b"</SegmentRequirement>", data.index(b"<ID>0020</ID>")) + len(
        b"</SegmentRequirement>"
    )
    group = (
        b"<SegmentRequirement><ID>G</ID><Description>Machining</Description>"
        b"<EquipmentRequirement><EquipmentID>PG-99</EquipmentID></EquipmentRequirement>"
        + data[start:end]
        + b"</SegmentRequirement>"
    )
    nested = data[:start] + group + data[end:]
    flat = by_no(b2mml_result(data))["WO-1001"].order
    order = by_no(b2mml_result(nested))["WO-1001"].order
    assert [op.op_id for op in order.routing] == ["0010", "0020"]
    assert order.routing == flat.routing
    assert (order.part_no, order.quantity) == (flat.part_no, flat.quantity)


def test_an_order_without_any_work_centre_is_imported_with_a_warning_naming_it() -> None:
    data = SCHEDULE.read_bytes()
    first = data.index(b"<ProductionRequest>")
    second = data.index(b"<ProductionRequest>", first + 1)
    request = data[first:second]
    for tag in (b"HierarchyScope", b"EquipmentRequirement"):
        while b"<" + tag + b">" in request:
            a = request.index(b"<" + tag + b">")
            b = request.index(b"</" + tag + b">", a) + len(tag) + 3
            request = request[:a] + request[b:]
    result = b2mml_result(data[:first] + request + data[second:])
    wo = by_no(result)["WO-1001"]
    assert result.errors == [] and wo.state == "released"
    (note,) = wo.unmapped
    assert note.code == "no_work_centre"
    assert note.message("WO-1001") == (
        "the ERP names no work centre for order WO-1001 nor for its operation(s) 0010, 0020; "
        "no terminal will show them"
    )


def test_a_request_without_request_state_says_why_it_was_not_released() -> None:
    data = b2mml(b"<RequestState>Released</RequestState>", b"")
    wo = by_no(b2mml_result(data))["WO-1001"]
    assert wo.state == "not_released"
    assert wo.reason == "its release state (state) is missing or empty; released: 'released'"


def test_an_xml_nesting_beyond_the_parser_limit_is_explained_without_libxml_advice() -> None:
    deep = b"<Description>" + b"<x>" * 300 + b"</x>" * 300 + b"</Description>"
    data = b2mml(b"<Description>", deep + b"<Description>")
    (err,) = [e for e in parse_b2mml(data) if isinstance(e, RowError)]
    assert "nests elements more than 256 levels deep" in err.message
    assert "XML_PARSE_HUGE" not in err.message


def test_a_decimal_in_an_error_report_is_written_in_fixed_point() -> None:
    error = RowError(2, "quantity", Decimal("1E+3"), "is refused", "WO-1")
    assert error.to_dict()["value"] == "1000" and "'1000'" in str(error)


def test_a_configuration_pattern_mismatch_is_explained_in_words_not_as_a_regex() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "integrations": [
                    {"name": "a b", "mode": "B", "inbound": {"transport": "rest", "url": "ftp://x"}}
                ]
            }
        )
    problems = caught.value.problems
    assert (
        "integrations[0].inbound.url: 'ftp://x' must be an http:// or https:// URL without spaces"
        in problems
    )
    assert any("may hold only letters, digits" in p for p in problems)
    assert not any("^" in p or "\\S" in p for p in problems)
