"""Readers for the plan files an ERP drops: CSV, Excel, B2MML XML, delimited and fixed width.

Each parser yields :class:`~adapters.mapping.Record` items (one per data row or per
ProductionRequest, with its row or line number) and :class:`~adapters.mapping.RowError`
items for what it refuses. A bad row never stops the good ones; a document that cannot be
read at all yields one error with ``row`` None (or the line where reading failed).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as safe_et
import openpyxl
import xmlschema
from defusedxml import DefusedXmlException
from lxml import etree

from adapters.config import FilesInbound, FixedWidthColumn
from adapters.mapping import Record, RowError

Parsed = Record | RowError
Source = Path | bytes

B2MML_NS = "http://www.mesa.org/xml/B2MML-V0600"
B2MML_SCHEMA_FILE = "B2MML-V0600-ProductionSchedule.xsd"
B2MML_DIR_ENV = "FLOORLEDGER_B2MML_DIR"
SETUP_PARAMETER = "setuptime"
RUN_PARAMETER = "runtimeperunit"
# Time units: minutes = value * multiplier / divisor (exact for whole seconds and hours).
_TIME_UNITS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("min", "mins", "minute", "minutes"), (1, 1)),
    **dict.fromkeys(("h", "hr", "hour", "hours"), (60, 1)),
    **dict.fromkeys(("s", "sec", "second", "seconds"), (1, 60)),
}


def _document_error(message: str, row: int | None = None, field: str = "document") -> RowError:
    return RowError(row, field, None, message)


def _read(source: Source) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _lines(data: bytes, encoding: str) -> tuple[list[str], list[RowError]]:
    """The text lines of a file; a line that is not valid in the encoding is a row error."""
    codec = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    lines: list[str] = []
    errors: list[RowError] = []
    for n, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append(raw.decode(codec if n == 1 else encoding))
        except UnicodeDecodeError as exc:
            errors.append(
                RowError(n, "line", None, f"is not {encoding} text (byte {exc.start + 1})")
            )
            lines.append("\n")  # keep line numbers
    return lines, errors


# ---------------------------------------------------------------------------- CSV / delimited


def parse_csv(
    source: Source,
    *,
    delimiter: str = ",",
    quotechar: str | None = '"',
    encoding: str = "utf-8",
    header: bool = True,
    column_names: Sequence[str] = (),
) -> Iterator[Parsed]:
    """Read delimiter-separated rows; the header (or ``column_names``) names the fields."""
    lines, bad_lines = _lines(_read(source), encoding)
    bad = {e.row: e for e in bad_lines}
    reader = csv.reader(
        lines,
        delimiter=delimiter,
        quotechar=quotechar,
        quoting=csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE,
        strict=True,
    )
    names: list[str] | None = [c.strip() for c in column_names] if column_names else None
    if header:
        names = None
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield RowError(reader.line_num, "line", None, f"cannot be read: {exc}")
            continue
        n = reader.line_num
        if n in bad:
            yield bad.pop(n)
            continue
        if not values or all(not v.strip() for v in values):
            continue
        if names is None:
            names = [v.strip() for v in values]
            missing = [i + 1 for i, v in enumerate(names) if not v]
            dupes = sorted({v for v in names if names.count(v) > 1})
            if missing or dupes:
                why = f"has no name for column(s) {missing}" if missing else f"repeats {dupes}"
                yield _document_error(f"the header {why}", n, "header")
                return
            continue
        if len(values) != len(names):
            yield RowError(
                n,
                "line",
                delimiter.join(values),
                f"has {len(values)} fields, the header has {len(names)}",
            )
            continue
        yield Record(n, dict(zip(names, (v.strip() for v in values), strict=True)))
    yield from bad.values()


def parse_delimited(
    source: Source,
    *,
    delimiter: str = "|",
    quotechar: str | None = None,
    encoding: str = "utf-8",
    header: bool = True,
    column_names: Sequence[str] = (),
) -> Iterator[Parsed]:
    """Read delimited text (pipe, tab, semicolon…), by default without quoting."""
    return parse_csv(
        source,
        delimiter=delimiter,
        quotechar=quotechar,
        encoding=encoding,
        header=header,
        column_names=column_names,
    )


# ---------------------------------------------------------------------------- fixed width


def parse_fixed_width(
    source: Source,
    *,
    columns: Sequence[FixedWidthColumn],
    encoding: str = "utf-8",
    skip_lines: int = 0,
) -> Iterator[Parsed]:
    """Read fixed-width records: each column is a 1-based, inclusive character span."""
    if not columns:
        raise ValueError("fixed-width parsing needs a column layout")
    lines, bad_lines = _lines(_read(source), encoding)
    bad = {e.row: e for e in bad_lines}
    last_start = max(c.start for c in columns)
    for n, line in enumerate(lines, start=1):
        if n <= skip_lines:
            continue
        if n in bad:
            yield bad[n]
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if len(line) < last_start:
            yield RowError(
                n,
                "line",
                line,
                f"is {len(line)} characters long; the record layout needs at least {last_start}",
            )
            continue
        yield Record(n, {c.name: line[c.start - 1 : c.end].strip() for c in columns})


# ---------------------------------------------------------------------------- Excel


def parse_xlsx(source: Source, *, sheet: str | None = None) -> Iterator[Parsed]:
    """Read the first (or the named) worksheet: row 1 names the columns, one record per row."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        wb = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        yield _document_error(f"is not a readable Excel workbook (.xlsx): {exc}")
        return
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            yield _document_error(
                f"has no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})", field="sheet"
            )
            return
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        names: list[str] | None = None
        for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            if names is None:
                names = ["" if v is None else str(v).strip() for v in values]
                while names and not names[-1]:
                    names.pop()
                missing = [i + 1 for i, v in enumerate(names) if not v]
                dupes = sorted({v for v in names if names.count(v) > 1})
                if missing or dupes or not names:
                    why = f"has no name for column(s) {missing}" if missing else f"repeats {dupes}"
                    yield _document_error(f"the header row {why}", n, "header")
                    return
                continue
            extra = [v for v in values[len(names) :] if v not in (None, "")]
            if extra:
                yield RowError(
                    n, "line", extra[0], f"has values beyond the {len(names)} named columns"
                )
                continue
            cells = list(values[: len(names)]) + [None] * (len(names) - len(values))
            data = {
                k: (v.strip() if isinstance(v, str) else v)
                for k, v in zip(names, cells, strict=True)
            }
            yield Record(n, data)
    finally:
        wb.close()


# ---------------------------------------------------------------------------- B2MML


def b2mml_schema_dir() -> Path:
    """Where the MESA B2MML V0600 schemas are: $FLOORLEDGER_B2MML_DIR, else the copy shipped
    in adapters/b2mml/V0600, else shared/b2mml/V0600 beside the checkout."""
    env = os.environ.get(B2MML_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    shipped = here.parents[1] / "b2mml" / "V0600"
    if (shipped / B2MML_SCHEMA_FILE).is_file():
        return shipped
    for parent in here.parents:
        for candidate in (
            parent / "shared" / "b2mml" / "V0600",
            parent.parent / "shared" / "b2mml" / "V0600",
        ):
            if (candidate / B2MML_SCHEMA_FILE).is_file():
                return candidate
    raise FileNotFoundError(
        f"the B2MML V0600 schemas were not found: set {B2MML_DIR_ENV} to the folder "
        f"holding {B2MML_SCHEMA_FILE}"
    )


@lru_cache(maxsize=4)
def _schema(directory: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(Path(directory) / B2MML_SCHEMA_FILE), allow="local")


def b2mml_schema(schema_dir: Path | None = None) -> xmlschema.XMLSchema:
    """The ProductionSchedule schema (loaded once per process; about a second)."""
    return _schema(str((schema_dir or b2mml_schema_dir()).resolve()))


def _q(tag: str) -> str:
    return f"{{{B2MML_NS}}}{tag}"


def _child_text(el: Any, *path: str) -> str:
    found = el.find("/".join(_q(p) for p in path))
    return (found.text or "").strip() if found is not None else ""


def _minutes(value: str, unit: str, where: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a number") from None
    factor = _TIME_UNITS.get(unit.strip().lower() or "min")
    if factor is None:
        raise ValueError(f"{where}: unit {unit!r} is not a time unit (min, h, s)")
    return d * factor[0] / factor[1]


def _request_record(req: Any) -> dict[str, Any]:
    """One ProductionRequest in the canonical record shape (see config.B2MML_FIELDS)."""
    state_el = req.find(_q("RequestState"))
    state = ""
    if state_el is not None:
        state = (state_el.text or "").strip()
        if state == "Other" and state_el.get("OtherValue"):
            state = state_el.get("OtherValue").strip()
    work_centre = _child_text(req, "HierarchyScope", "EquipmentID") or _child_text(
        req, "Location", "EquipmentID"
    )
    end = _child_text(req, "EndTime")
    record: dict[str, Any] = {
        "order_no": _child_text(req, "ID"),
        "description": _child_text(req, "Description"),
        "priority": _child_text(req, "Priority"),
        "due_date": end[:10] if end else "",
        "state": state,
        "work_centre": work_centre,
        "part_no": "",
        "quantity": "",
        "unit": "",
        "operations": [],
    }
    for seg in req.findall(_q("SegmentRequirement")):
        op_id = _child_text(seg, "ID") or _child_text(seg, "ProcessSegmentID")
        op: dict[str, Any] = {
            "op_id": op_id,
            "op_name": _child_text(seg, "Description") or _child_text(seg, "ProcessSegmentID"),
            "op_work_centre": _child_text(seg, "EquipmentRequirement", "EquipmentID")
            or _child_text(seg, "HierarchyScope", "EquipmentID"),
            "setup_time": "",
            "run_time": "",
        }
        for param in seg.iterfind(f"{_q('ProductionParameter')}/{_q('Parameter')}"):
            pid = _child_text(param, "ID").replace(" ", "").replace("_", "").lower()
            key = {SETUP_PARAMETER: "setup_time", RUN_PARAMETER: "run_time"}.get(pid)
            if key is None:
                continue
            value = _child_text(param, "Value", "ValueString")
            unit = _child_text(param, "Value", "UnitOfMeasure")
            op[key] = _minutes(value, unit, f"operation {op_id} parameter {pid}")
        record["operations"].append(op)
        # The order's product: the (last) material the routing produces.
        for mat in seg.findall(_q("MaterialRequirement")):
            if _child_text(mat, "MaterialUse") == "Produced":
                record["part_no"] = _child_text(mat, "MaterialDefinitionID")
                record["quantity"] = _child_text(mat, "Quantity", "QuantityString")
                record["unit"] = _child_text(mat, "Quantity", "UnitOfMeasure")
    return record


def _schedules(root: Any) -> list[Any]:
    if root.tag == _q("ProductionSchedule"):
        return [root]
    return list(root.iter(_q("ProductionSchedule")))


def parse_b2mml(source: Source, *, schema_dir: Path | None = None) -> Iterator[Parsed]:
    """Read a B2MML V0600 ProductionSchedule: one record per ProductionRequest.

    DTDs and entity declarations are refused before anything is expanded (XML bombs,
    external entities); the document is validated against the MESA schema, and a
    ProductionRequest that violates it is refused while the others come through.
    """
    data = _read(source)
    try:
        safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        yield _document_error(
            "is refused: it declares a DTD or entities, which could expand without bound or "
            f"read other files (XML bomb / external entity protection) [{type(exc).__name__}]"
        )
        return
    except safe_et.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        yield _document_error(f"is not well-formed XML: {exc}", line)
        return
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        yield _document_error(f"is not well-formed XML: {exc}", exc.lineno)
        return
    schedules = _schedules(root)
    if not schedules:
        yield _document_error(
            f"has root element {etree.QName(root).localname!r} in namespace "
            f"{etree.QName(root).namespace!r}; expected a B2MML V0600 ProductionSchedule",
            root.sourceline,
        )
        return
    schema = b2mml_schema(schema_dir)
    refused: dict[Any, list[RowError]] = {}
    for err in schema.iter_errors(xmlschema.XMLResource(root, allow="none")):
        el: Any = err.elem
        req = el
        while req is not None and req.tag != _q("ProductionRequest"):
            req = req.getparent()
        line = getattr(el, "sourceline", None)
        reason = err.reason or err.message
        if req is None:
            yield _document_error(f"does not conform to the B2MML schema: {reason}", line)
            return
        order_no = _child_text(req, "ID") or None
        refused.setdefault(req, []).append(
            RowError(
                line,
                err.path or "ProductionRequest",
                order_no,
                f"does not conform to the B2MML schema: {reason}",
                order_no,
            )
        )
    for schedule in schedules:
        for req in schedule.findall(_q("ProductionRequest")):
            if req in refused:
                yield from refused[req]
                continue
            try:
                yield Record(req.sourceline, _request_record(req))
            except ValueError as exc:
                order_no = _child_text(req, "ID") or None
                yield RowError(req.sourceline, "ProductionParameter", None, str(exc), order_no)


# ---------------------------------------------------------------------------- JSON


def parse_json_items(payload: Any, items_path: str = "") -> Iterator[Parsed]:
    """Records from an already-decoded JSON body: the list at ``items_path`` (or the body)."""
    from adapters.mapping import lookup

    items = lookup(payload, items_path) if items_path else payload
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        yield _document_error(f"has no list of orders at {items_path or 'the top level'!r}")
        return
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield Record(i, item)
        else:
            yield RowError(i, items_path or "item", item, "is not a JSON object")


# ---------------------------------------------------------------------------- dispatch


def parse_file(path: Path, inbound: FilesInbound) -> Iterator[Parsed]:
    """Read one inbox file in the integration's configured format."""
    fmt = inbound.format
    if fmt == "csv":
        return parse_csv(
            path,
            delimiter=inbound.delimiter,
            quotechar=inbound.quotechar,
            encoding=inbound.encoding,
            header=inbound.header,
            column_names=inbound.column_names,
        )
    if fmt == "delimited":
        return parse_delimited(
            path,
            delimiter=inbound.delimiter,
            quotechar=inbound.quotechar if "quotechar" in inbound.model_fields_set else None,
            encoding=inbound.encoding,
            header=inbound.header,
            column_names=inbound.column_names,
        )
    if fmt == "fixed_width":
        return parse_fixed_width(
            path, columns=inbound.columns, encoding=inbound.encoding, skip_lines=inbound.skip_lines
        )
    if fmt == "xlsx":
        return parse_xlsx(path, sheet=inbound.sheet)
    return parse_b2mml(path)


__all__ = [
    "B2MML_DIR_ENV",
    "B2MML_NS",
    "Parsed",
    "b2mml_schema",
    "b2mml_schema_dir",
    "parse_b2mml",
    "parse_csv",
    "parse_delimited",
    "parse_file",
    "parse_fixed_width",
    "parse_json_items",
    "parse_xlsx",
]
