"""Readers for the plan files an ERP drops: CSV, Excel, B2MML XML, delimited and fixed width.

Each parser yields :class:`~adapters.mapping.Record` items (one per data row or per
ProductionRequest, with its row or line number) and :class:`~adapters.mapping.RowError`
items for what it refuses. A bad row never stops the good ones; a document that cannot be
read at all yields one error with ``row`` None (or the line where reading failed).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as safe_et
import openpyxl
import python_calamine
from defusedxml import DefusedXmlException
from lxml import etree

from adapters.config import FilesInbound, FixedWidthColumn
from adapters.mapping import Record, RowError
from domain.errors import InvalidValueError
from domain.values import in_range

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


class FileRefused(ValueError):
    """A whole file is refused before (or instead of) reading it: over a configured limit."""


def _document_error(message: str, row: int | None = None, field: str = "document") -> RowError:
    return RowError(row, field, None, message)


def _read(source: Source) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding.lower()


def _encoding_problem(data: bytes, encoding: str) -> str | None:
    """What is wrong when the bytes plainly are not in the configured encoding (a byte-order
    mark of another encoding, or UTF-16 without one): a message that names the fix."""
    codec = _codec(encoding)
    wide = codec.startswith(("utf-16", "utf-32"))
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF8, "UTF-8"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            fits = {"UTF-8": codec in ("utf-8", "utf-8-sig"), "UTF-16": codec.startswith("utf-16")}
            if fits.get(name, codec.startswith("utf-32")):
                return None
            fix = {"UTF-8": "utf-8-sig", "UTF-16": "utf-16", "UTF-32": "utf-32"}[name]
            return (
                f"the file starts with a {name} byte-order mark but encoding is {encoding}: "
                f'set encoding = "{fix}"'
            )
    if data.startswith(b"PK\x03\x04"):
        return "the file is a zip archive (an Excel workbook?), not text: check format"
    head = data[:4096]
    even, odd = head[0::2], head[1::2]
    if not wide and len(odd) >= 2:
        even_zeros, odd_zeros = even.count(0) / len(even), odd.count(0) / len(odd)
        if max(even_zeros, odd_zeros) >= 0.9 and min(even_zeros, odd_zeros) <= 0.1:
            fix = "utf-16-be" if even_zeros > odd_zeros else "utf-16-le"
            return (
                f"the file looks like UTF-16 text without a byte-order mark (every other byte "
                f'is zero) but encoding is {encoding}: set encoding = "{fix}"'
            )
    return None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _lines(data: bytes, encoding: str) -> tuple[list[str], list[RowError]]:
    """The text lines of a file; a line that is not valid in the encoding is a row error
    (the line is kept, its bad bytes replaced, so its order can still be named)."""
    problem = _encoding_problem(data, encoding)
    if problem:
        return [], [_document_error(problem, 1, "encoding")]
    codec = _codec(encoding)
    if codec.startswith(("utf-16", "utf-32")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            return [], [_document_error(f"is not {encoding} text (byte {exc.start + 1})")]
        return _LINE.findall(text.removeprefix("\ufeff")), []
    first = "utf-8-sig" if codec == "utf-8" else encoding
    lines: list[str] = []
    errors: list[RowError] = []
    for n, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append(raw.decode(first if n == 1 else encoding))
        except UnicodeDecodeError as exc:
            errors.append(
                RowError(n, "line", None, f"is not {encoding} text (byte {exc.start + 1})")
            )
            lines.append(raw.decode(encoding, errors="replace"))
    return lines, errors


def _fields_of(line: str, delimiter: str, quotechar: str | None) -> list[str]:
    """One line split into fields on its own (quotes that do not close are kept as text)."""
    try:
        return next(
            csv.reader(
                [line],
                delimiter=delimiter,
                quotechar=quotechar or '"',
                quoting=csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE,
            ),
            [],
        )
    except csv.Error:
        return line.rstrip("\r\n").split(delimiter)


def _at(values: Sequence[Any], index: int | None) -> str:
    if index is None or not 0 <= index < len(values) or values[index] is None:
        return ""
    v = values[index]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _order_candidates(
    values: Sequence[Any], names: Sequence[str], index: int | None
) -> tuple[str, ...]:
    """Which order a row with the wrong number of fields belongs to: the value in the order
    column counted from the left, and counted as if the extra (or missing) fields came
    before it."""
    shifted = None if index is None else index + len(values) - len(names)
    found = (_at(values, index), _at(values, shifted))
    return tuple(dict.fromkeys(v for v in found if v))


def _row_limit(count: int, max_rows: int | None) -> None:
    if max_rows is not None and count > max_rows:
        raise FileRefused(
            f"has more than {max_rows} data rows (max_rows = {max_rows}); nothing of it was "
            "imported"
        )


# ---------------------------------------------------------------------------- CSV / delimited


def parse_csv(
    source: Source,
    *,
    delimiter: str = ",",
    quotechar: str | None = '"',
    encoding: str = "utf-8",
    header: bool = True,
    column_names: Sequence[str] = (),
    order_field: str | None = None,
    max_rows: int | None = None,
) -> Iterator[Parsed]:
    """Read delimiter-separated rows; the header (or ``column_names``) names the fields.

    A refused row names the order it belongs to (the value in the ``order_field`` column),
    so the mapping can refuse that order as a whole. A quote that never closes names the
    line where it opened and every order on the lines it swallowed.
    """
    lines, bad_lines = _lines(_read(source), encoding)
    bad = {e.row: e for e in bad_lines}
    if None in bad or (1 in bad and bad[1].field == "encoding"):
        yield from bad.values()
        return
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
    index: int | None = None
    count = 0

    def order_index() -> int | None:
        return names.index(order_field) if names and order_field in names else None

    index = order_index()

    def order_on(line_no: int) -> str:
        return _at(_fields_of(lines[line_no - 1], delimiter, quotechar), index)

    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            if end > start and quotechar:
                yield from _unclosed_quote(start, end, order_on, f"cannot be read: {exc}")
            else:
                yield RowError(
                    start, "line", None, f"cannot be read: {exc}", order_on(start) or None
                )
            continue
        end = reader.line_num
        spanned = [bad[n] for n in range(start, end + 1) if n in bad]
        if spanned:
            for e in spanned:
                del bad[e.row]
                cand = _order_candidates(values, names or values, index)
                yield replace(e, order_no=cand[0] if cand else None, candidates=cand)
            continue
        if not values or all(not v.strip() for v in values):
            continue
        if names is None:
            names = [v.strip() for v in values]
            missing = [i + 1 for i, v in enumerate(names) if not v]
            dupes = sorted({v for v in names if names.count(v) > 1})
            if missing or dupes:
                why = f"has no name for column(s) {missing}" if missing else f"repeats {dupes}"
                yield _document_error(f"the header {why}", start, "header")
                return
            index = order_index()
            continue
        if len(values) != len(names):
            why = f"has {len(values)} fields, the header has {len(names)}"
            if end > start and quotechar:
                yield from _unclosed_quote(start, end, order_on, why)
                continue
            cand = _order_candidates(values, names, index)
            yield RowError(
                start,
                "line",
                delimiter.join(values),
                why,
                cand[0] if cand else None,
                candidates=cand,
            )
            continue
        count += 1
        _row_limit(count, max_rows)
        yield Record(start, dict(zip(names, (v.strip() for v in values), strict=True)))
    yield from bad.values()


def _unclosed_quote(
    start: int, end: int, order_on: Callable[[int], str], why: str
) -> Iterator[RowError]:
    """A quote opened on line ``start`` ran on to line ``end``: the opening line and every
    order on the lines it swallowed are refused, each by name."""
    lost = {n: order_on(n) for n in range(start + 1, end + 1)}
    orders = list(dict.fromkeys(o for o in lost.values() if o))
    named = f" (orders {', '.join(orders)})" if orders else ""
    opening = order_on(start)
    yield RowError(
        start,
        "line",
        None,
        f"opens a quote that is not closed before line {end}, so lines {start + 1}–{end}"
        f"{named} were read as part of one field ({why})",
        opening or None,
    )
    for n, order_no in lost.items():
        if order_no:
            yield RowError(
                n,
                "line",
                None,
                f"was swallowed by the quote opened on line {start} that is never closed",
                order_no,
            )


def parse_delimited(
    source: Source,
    *,
    delimiter: str = "|",
    quotechar: str | None = None,
    encoding: str = "utf-8",
    header: bool = True,
    column_names: Sequence[str] = (),
    order_field: str | None = None,
    max_rows: int | None = None,
) -> Iterator[Parsed]:
    """Read delimited text (pipe, tab, semicolon…), by default without quoting."""
    return parse_csv(
        source,
        delimiter=delimiter,
        quotechar=quotechar,
        encoding=encoding,
        header=header,
        column_names=column_names,
        order_field=order_field,
        max_rows=max_rows,
    )


# ---------------------------------------------------------------------------- fixed width


def parse_fixed_width(
    source: Source,
    *,
    columns: Sequence[FixedWidthColumn],
    encoding: str = "utf-8",
    skip_lines: int = 0,
    order_field: str | None = None,
    max_rows: int | None = None,
) -> Iterator[Parsed]:
    """Read fixed-width records: each column is a 1-based, inclusive character span."""
    if not columns:
        raise ValueError("fixed-width parsing needs a column layout")
    lines, bad_lines = _lines(_read(source), encoding)
    if not lines:
        yield from bad_lines
        return
    bad = {e.row: e for e in bad_lines}
    last_start = max(c.start for c in columns)
    order_col = next((c for c in columns if c.name == order_field), None)
    count = 0
    for n, line in enumerate(lines, start=1):
        if n <= skip_lines:
            continue
        line = line.rstrip("\r\n")
        order_no = line[order_col.start - 1 : order_col.end].strip() if order_col else ""
        if n in bad:
            yield replace(bad[n], order_no=order_no or None)
            continue
        if not line.strip():
            continue
        if len(line) < last_start:
            yield RowError(
                n,
                "line",
                line,
                f"is {len(line)} characters long; the record layout needs at least {last_start}",
                order_no or None,
            )
            continue
        count += 1
        _row_limit(count, max_rows)
        yield Record(n, {c.name: line[c.start - 1 : c.end].strip() for c in columns})


# ---------------------------------------------------------------------------- Excel


def check_zip(source: Source, max_unpacked_bytes: int | None) -> None:
    """Refuse a workbook whose zip members declare more unpacked bytes than allowed, before
    anything is unpacked (zip bombs). zipfile stops at the declared size of each member,
    so a member that lies about its size fails its CRC check instead of growing."""
    if max_unpacked_bytes is None:
        return
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with zipfile.ZipFile(stream) as z:
            declared = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        return  # openpyxl names the problem
    if declared > max_unpacked_bytes:
        raise FileRefused(
            f"unpacks to {declared} bytes, more than max_unpacked_bytes = {max_unpacked_bytes} "
            "(a workbook this large, or a zip bomb); nothing of it was read"
        )


def _calamine_cell(value: Any) -> Any:
    """A cell as openpyxl (data_only) gives it: empty is None, a whole number an int, a date
    a datetime at midnight; text (leading zeros kept), floats, times and booleans as they are."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value


def _calamine_sheets(source: Source) -> tuple[list[str], Callable[[str], Iterator[Sequence[Any]]]]:
    """The workbook read by calamine (Rust): sheet names and a reader of one sheet's rows."""
    wb = python_calamine.CalamineWorkbook.from_object(
        io.BytesIO(source) if isinstance(source, bytes) else str(source)
    )

    def rows(name: str) -> Iterator[Sequence[Any]]:
        for values in wb.get_sheet_by_name(name).to_python(skip_empty_area=False):
            yield [_calamine_cell(v) for v in values]

    return list(wb.sheet_names), rows


def parse_xlsx(
    source: Source,
    *,
    sheet: str | None = None,
    order_field: str | None = None,
    max_rows: int | None = None,
    max_unpacked_bytes: int | None = None,
) -> Iterator[Parsed]:
    """Read the first (or the named) worksheet: row 1 names the columns, one record per row.

    calamine reads the workbook; openpyxl only where calamine cannot (it then names the
    problem of a workbook that cannot be read at all)."""
    check_zip(source, max_unpacked_bytes)
    wb: Any = None
    try:
        sheetnames, sheet_rows = _calamine_sheets(source)
    except Exception:  # calamine's errors are its own; openpyxl decides and names them
        stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
        try:
            wb = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            yield _document_error(f"is not a readable Excel workbook (.xlsx): {exc}")
            return
        sheetnames = list(wb.sheetnames)

        def sheet_rows(name: str) -> Iterator[Sequence[Any]]:
            return wb[name].iter_rows(values_only=True)  # type: ignore[no-any-return]

    try:
        if sheet is not None and sheet not in sheetnames:
            yield _document_error(
                f"has no sheet {sheet!r} (sheets: {', '.join(sheetnames)})", field="sheet"
            )
            return
        if not sheetnames:
            yield _document_error("is not a readable Excel workbook (.xlsx): it has no sheets")
            return
        yield from _sheet_records(sheet_rows(sheet if sheet is not None else sheetnames[0]),
                                  order_field, max_rows)  # fmt: skip
    finally:
        if wb is not None:
            wb.close()


def _sheet_records(
    rows: Iterator[Sequence[Any]], order_field: str | None, max_rows: int | None
) -> Iterator[Parsed]:
    names: list[str] | None = None
    index: int | None = None
    count = 0
    for n, values in enumerate(rows, start=1):
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
            index = names.index(order_field) if order_field in names else None
            continue
        extra = [v for v in values[len(names) :] if v not in (None, "")]
        if extra:
            order_no = _at(values, index)
            yield RowError(
                n,
                "line",
                extra[0],
                f"has values beyond the {len(names)} named columns",
                order_no or None,
            )
            continue
        count += 1
        _row_limit(count, max_rows)
        cells = list(values[: len(names)]) + [None] * (len(names) - len(values))
        data = {
            k: (v.strip() if isinstance(v, str) else v) for k, v in zip(names, cells, strict=True)
        }
        yield Record(n, data)


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


_SCHEMA_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def xml_schema(path: str) -> etree.XMLSchema:
    """A W3C XML schema compiled by libxml2 (lxml), loaded once per process; its imports
    and includes are read from beside it, never from the network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(path, parser))


def schema_errors(schema: etree.XMLSchema, doc: Any) -> list[Any]:
    """The schema's complaints about ``doc`` (an lxml element or tree), in document order.

    A compiled schema keeps its error log on itself, so one validation at a time."""
    with _SCHEMA_LOCK:
        if schema.validate(doc):
            return []
        return list(schema.error_log)


def schema_reason(entry: Any) -> str:
    """libxml2's message for one complaint, with the B2MML namespace left out of names."""
    return str(entry.message).replace(f"{{{B2MML_NS}}}", "")


def b2mml_schema(schema_dir: Path | None = None) -> etree.XMLSchema:
    """The ProductionSchedule schema (loaded once per process)."""
    folder = (schema_dir or b2mml_schema_dir()).resolve()
    return xml_schema(str(folder / B2MML_SCHEMA_FILE))


def _readable_path(el: Any) -> str:
    """``/ProductionSchedule/ProductionRequest[2]/Priority``: where an element is."""
    steps: list[str] = []
    while el is not None:
        name = etree.QName(el).localname
        parent = el.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == el.tag]
            if len(same) > 1:
                name += f"[{same.index(el) + 1}]"
        steps.append(name)
        el = parent
    return "/" + "/".join(reversed(steps))


@lru_cache(maxsize=256)
def _q(tag: str) -> str:
    return f"{{{B2MML_NS}}}{tag}"


def _first(el: Any, path: tuple[str, ...]) -> Any:
    """The first element at ``path`` below ``el`` in document order (as ``el.find``), with
    libxml2 filtering the children by name."""
    for child in el.iterchildren(_q(path[0])):
        if len(path) == 1:
            return child
        found = _first(child, path[1:])
        if found is not None:
            return found
    return None


def _child_text(el: Any, *path: str) -> str:
    found = _first(el, path)
    return (found.text or "").strip() if found is not None else ""


class _Node:
    """An element whose child elements are read once, on first use, into lists by tag in
    document order (a ProductionRequest is read through about 60 child lookups; on lxml
    elements each would walk the children again)."""

    __slots__ = ("_kids", "el")

    def __init__(self, el: Any) -> None:
        self.el = el
        self._kids: dict[str, list[_Node]] | None = None

    @property
    def text(self) -> str | None:
        text: str | None = self.el.text
        return text

    @property
    def kids(self) -> dict[str, list[_Node]]:
        kids = self._kids
        if kids is None:
            kids = self._kids = {}
            for child in self.el:
                tag = child.tag
                if isinstance(tag, str):  # elements only (not comments or processing instr.)
                    kids.setdefault(tag, []).append(_Node(child))
        return kids

    def find(self, tag: str) -> _Node | None:
        found = self.kids.get(_q(tag))
        return found[0] if found else None

    def findall(self, tag: str) -> list[_Node]:
        return self.kids.get(_q(tag), [])


def _node_first(node: _Node, path: tuple[str, ...]) -> _Node | None:
    """As :func:`_first`, on a read node."""
    for child in node.kids.get(_q(path[0]), ()):
        if len(path) == 1:
            return child
        found = _node_first(child, path[1:])
        if found is not None:
            return found
    return None


def _node_text(node: _Node, *path: str) -> str:
    found = _node_first(node, path)
    return (found.text or "").strip() if found is not None else ""


class _Refused(ValueError):
    """One ProductionRequest refused: which element, which value, why."""

    def __init__(self, row: int | None, field: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.row, self.field, self.value, self.message = row, field, value, message


def _minutes(value: str, unit: str, where: str, row: int | None) -> Decimal:
    """A standard time in minutes (rounded to a millionth), checked against the range."""
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise _Refused(row, where, value, "is not a number") from None
    try:
        in_range(where, d, value)
    except InvalidValueError as exc:
        raise _Refused(row, where, value, exc.reason) from None
    factor = _TIME_UNITS.get(unit.strip().lower() or "min")
    if factor is None:
        raise _Refused(row, f"{where}/UnitOfMeasure", unit, "is not a time unit (min, h, s)")
    return (d * factor[0] / factor[1]).quantize(Decimal("0.000001"))


def _equipment(seg: _Node) -> str:
    return _node_text(seg, "EquipmentRequirement", "EquipmentID") or _node_text(
        seg, "HierarchyScope", "EquipmentID"
    )


_TIME_KEYS = {SETUP_PARAMETER: "setup_time", RUN_PARAMETER: "run_time"}


def _times(seg: _Node, op_id: str) -> dict[str, Decimal]:
    times: dict[str, Decimal] = {}
    for group in seg.findall("ProductionParameter"):
        for param in group.findall("Parameter"):
            raw_id = _node_text(param, "ID")
            key = _TIME_KEYS.get(raw_id.replace(" ", "").replace("_", "").lower())
            if key is None:
                continue
            value = _node_text(param, "Value", "ValueString")
            unit = _node_text(param, "Value", "UnitOfMeasure")
            where = f"SegmentRequirement {op_id} / Parameter {raw_id}"
            times[key] = _minutes(value, unit, where, param.el.sourceline)
    return times


def _operations(parent: _Node, inherited_wc: str) -> Iterator[dict[str, Any]]:
    """The routing in document order: a SegmentRequirement holding SegmentRequirements is a
    group whose leaves are the operations (they inherit its equipment); a group that sets
    times of its own is refused, as those times belong to no one operation."""
    for seg in parent.findall("SegmentRequirement"):
        op_id = _node_text(seg, "ID") or _node_text(seg, "ProcessSegmentID")
        work_centre = _equipment(seg) or inherited_wc
        times = _times(seg, op_id)
        if seg.find("SegmentRequirement") is not None:
            if times:
                raise _Refused(
                    seg.el.sourceline,
                    f"SegmentRequirement {op_id}",
                    None,
                    "holds nested SegmentRequirements and also sets SetupTime/RunTimePerUnit; "
                    "the times cannot be given to one operation",
                )
            yield from _operations(seg, work_centre)
            continue
        yield {
            "op_id": op_id,
            "op_name": _node_text(seg, "Description") or _node_text(seg, "ProcessSegmentID"),
            "op_work_centre": work_centre,
            "setup_time": times.get("setup_time", ""),
            "run_time": times.get("run_time", ""),
        }


def _request_record(req_el: Any) -> dict[str, Any]:
    """One ProductionRequest in the canonical record shape (see config.B2MML_FIELDS)."""
    req = _Node(req_el)
    state_node = req.find("RequestState")
    state = ""
    if state_node is not None:
        state = (state_node.text or "").strip()
        if state == "Other" and state_node.el.get("OtherValue"):
            state = state_node.el.get("OtherValue").strip()
    work_centre = _node_text(req, "HierarchyScope", "EquipmentID") or _node_text(
        req, "Location", "EquipmentID"
    )
    end = _node_text(req, "EndTime")
    record: dict[str, Any] = {
        "order_no": _node_text(req, "ID"),
        "description": _node_text(req, "Description"),
        "priority": _node_text(req, "Priority"),
        "due_date": end[:10] if end else "",
        "state": state,
        "work_centre": work_centre,
        "part_no": "",
        "quantity": "",
        "unit": "",
        "operations": list(_operations(req, "")),
    }
    # The order's product: the (last) material the routing produces, nested segments included.
    for seg in req_el.iter(_q("SegmentRequirement")):
        for mat in seg.findall(_q("MaterialRequirement")):
            if _child_text(mat, "MaterialUse") == "Produced":
                record["part_no"] = _child_text(mat, "MaterialDefinitionID")
                record["quantity"] = _child_text(mat, "Quantity", "QuantityString")
                record["unit"] = _child_text(mat, "Quantity", "UnitOfMeasure")
    return record


def _libxml_message(exc: etree.XMLSyntaxError) -> str:
    """libxml's message without its advice to turn protection off (XML_PARSE_HUGE)."""
    text = str(exc)
    if "XML_PARSE_HUGE" not in text:
        return f"is not well-formed XML: {text}"
    what = "is too large or too deeply nested"
    if "depth" in text.lower():
        what = "nests elements more than 256 levels deep"
    elif "text node" in text.lower():
        what = "has a text node longer than 10,000,000 characters"
    elif "buffer" in text.lower() or "attribute" in text.lower():
        what = "has a name, attribute or text longer than 10,000,000 characters"
    return (
        f"is refused: it {what}, beyond the XML parser's safety limits (line {exc.lineno}); "
        "a production schedule never needs that"
    )


def _schedules(root: Any) -> list[Any]:
    if root.tag == _q("ProductionSchedule"):
        return [root]
    return list(root.iter(_q("ProductionSchedule")))


def parse_b2mml(
    source: Source, *, schema_dir: Path | None = None, max_rows: int | None = None
) -> Iterator[Parsed]:
    """Read a B2MML V0600 ProductionSchedule: one record per ProductionRequest.

    DTDs and entity declarations are refused before anything is expanded (XML bombs,
    external entities); the document is validated against the MESA schema, and a
    ProductionRequest that violates it is refused while the others come through.
    """
    data = _read(source)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root: Any = None
    with contextlib.suppress(etree.XMLSyntaxError):
        root = etree.fromstring(data, parser)  # entities are never expanded, nothing fetched
    docinfo = root.getroottree().docinfo if root is not None else None
    if docinfo is None or docinfo.doctype or docinfo.internalDTD is not None:
        # A DTD, or not well-formed: defusedxml names what is wrong (a document without a
        # DTD declares no entities, so it has nothing to refuse there).
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
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            yield _document_error(_libxml_message(exc), exc.lineno)
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
    tree = root.getroottree()
    for err in schema_errors(schema, tree):
        found = tree.xpath(err.path) if err.path else []
        el: Any = found[0] if found else root
        if err.type_name == "SCHEMAV_ELEMENT_CONTENT" and el.getparent() is not None:
            el = el.getparent()  # an unexpected or missing child: its parent is at fault
        req = el
        while req is not None and req.tag != _q("ProductionRequest"):
            req = req.getparent()
        line = getattr(el, "sourceline", None) or err.line
        reason = schema_reason(err)
        if req is None:
            yield _document_error(f"does not conform to the B2MML schema: {reason}", line)
            return
        order_no = _child_text(req, "ID") or None
        refused.setdefault(req, []).append(
            RowError(
                line,
                _readable_path(el),
                order_no,
                f"does not conform to the B2MML schema: {reason}",
                order_no,
            )
        )
    _row_limit(sum(len(s.findall(_q("ProductionRequest"))) for s in schedules), max_rows)
    for schedule in schedules:
        for req in schedule.findall(_q("ProductionRequest")):
            if req in refused:
                yield from refused[req]
                continue
            try:
                yield Record(req.sourceline, _request_record(req))
            except _Refused as exc:
                order_no = _child_text(req, "ID") or None
                yield RowError(exc.row, exc.field, exc.value, exc.message, order_no)


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


def check_size(path: Path, max_file_bytes: int | None) -> None:
    """Refuse a file larger than the configured limit, before a byte of it is read."""
    if max_file_bytes is None:
        return
    size = path.stat().st_size
    if size > max_file_bytes:
        raise FileRefused(
            f"is {size} bytes, more than max_file_bytes = {max_file_bytes}; nothing of it was read"
        )


def parse_file(
    path: Path, inbound: FilesInbound, *, order_field: str | None = None
) -> Iterator[Parsed]:
    """Read one inbox file in the integration's configured format, within its limits.

    ``order_field`` is the column holding the order number (tabular formats), so a row that
    cannot be read still names its order. Raises :class:`FileRefused` when the file is over
    a limit (``max_file_bytes``, ``max_rows``, ``max_unpacked_bytes``).
    """
    check_size(path, inbound.max_file_bytes)
    fmt = inbound.format
    rows = inbound.max_rows
    if fmt in ("csv", "delimited"):
        quotechar = inbound.quotechar
        if fmt == "delimited" and "quotechar" not in inbound.model_fields_set:
            quotechar = None
        return parse_csv(
            path,
            delimiter=inbound.delimiter,
            quotechar=quotechar,
            encoding=inbound.encoding,
            header=inbound.header,
            column_names=inbound.column_names,
            order_field=order_field,
            max_rows=rows,
        )
    if fmt == "fixed_width":
        return parse_fixed_width(
            path,
            columns=inbound.columns,
            encoding=inbound.encoding,
            skip_lines=inbound.skip_lines,
            order_field=order_field,
            max_rows=rows,
        )
    if fmt == "xlsx":
        return parse_xlsx(
            path,
            sheet=inbound.sheet,
            order_field=order_field,
            max_rows=rows,
            max_unpacked_bytes=inbound.max_unpacked_bytes,
        )
    return parse_b2mml(path, max_rows=rows)


__all__ = [
    "B2MML_DIR_ENV",
    "B2MML_NS",
    "FileRefused",
    "Parsed",
    "b2mml_schema",
    "b2mml_schema_dir",
    "check_size",
    "check_zip",
    "parse_b2mml",
    "parse_csv",
    "parse_delimited",
    "parse_file",
    "parse_fixed_width",
    "parse_json_items",
    "parse_xlsx",
    "schema_errors",
    "schema_reason",
    "xml_schema",
]
