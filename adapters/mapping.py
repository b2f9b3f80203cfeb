"""Master-data alignment: ERP records turned into floor orders by field mappings and value maps.

A tabular source (CSV, Excel, SQL, delimited, fixed width) gives one flat row per routing
operation, grouped by order number; a nested source (JSON, B2MML) gives one record per order
with a list of operations. Values the maps do not cover are kept raw and reported as
unmapped references (warn, don't block); values that cannot be read are row errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import field as _field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, cast

from adapters.config import FieldMap, UnitMapping, ValueMaps
from domain.errors import InvalidValueError
from domain.values import QUANTITY_LIMIT, ErpOperation, ErpOrder, in_range, plain

RefKind = Literal["work_centre", "operation", "unit", "reason_code"]
OrderState = Literal["released", "cancelled", "not_released"]

WARNING_CODES: dict[str, str] = {
    "work_centre": "unknown_work_centre",
    "operation": "unknown_erp_operation",
    "unit": "unknown_unit",
    "reason_code": "unknown_reason_code",
}

# Minutes per time unit as (multiplier, divisor), so whole seconds convert exactly.
_MINUTES: dict[str, tuple[int, int]] = {"min": (1, 1), "h": (60, 1), "s": (1, 60)}
# Standard times are kept to a millionth of a minute.
_TIME_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class Record:
    """One raw record from a source, with the row or line it came from (1-based)."""

    row: int
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RowError:
    """A record (or a whole document, when ``row`` is None) refused: where, which field, what."""

    row: int | None
    field: str
    value: Any
    message: str
    order_no: str | None = None
    # Order numbers the refused record may belong to (a row with the wrong number of fields).
    candidates: tuple[str, ...] = _field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "document"
        value = "" if self.value is None else f" {_show(self.value)}"
        order = f" (order {self.order_no})" if self.order_no else ""
        return f"{where}{order}: {self.field}:{value} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-friendly data (for error sidecar reports)."""
        return {
            "row": self.row,
            "field": self.field,
            "value": _plain(self.value),
            "message": self.message,
            "order_no": self.order_no,
        }


@dataclass(frozen=True)
class UnmappedRef:
    """An ERP value the value maps do not cover; the order keeps the raw value."""

    kind: RefKind
    value: str
    where: str

    @property
    def code(self) -> str:
        """The warning code raised on the order."""
        return WARNING_CODES[self.kind]

    def message(self, order_no: str) -> str:
        label = self.kind.replace("_", " ")
        return (
            f"ERP {label} {self.value!r} ({self.where}) of order {order_no} is not in the "
            f"{label} map; the raw value was kept"
        )


@dataclass(frozen=True)
class OrderNote:
    """An integration warning about an order that is imported all the same (warn, don't
    block): ``code``, ``value`` and ``message(order_no)`` as an :class:`UnmappedRef` has."""

    code: str
    value: str
    text: str

    def message(self, order_no: str) -> str:
        return self.text.format(order_no=order_no)


W_NO_WORK_CENTRE = "no_work_centre"


@dataclass(frozen=True)
class MappedOrder:
    """An ERP order in floor terms, with its ERP state and the references the maps missed."""

    order: ErpOrder
    state: OrderState
    raw_state: str = ""
    # References the maps missed, and other integration warnings raised on the order.
    unmapped: tuple[UnmappedRef | OrderNote, ...] = ()
    rows: tuple[int, ...] = ()
    # Why the order is not released (state not_released), for the import summary.
    reason: str = ""

    @property
    def order_no(self) -> str:
        return self.order.order_no


@dataclass
class MappingResult:
    """Every order a source delivered, and every record that was refused."""

    orders: list[MappedOrder] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def refused_order_nos(self) -> set[str]:
        """Orders whose records were refused (still present at the ERP, just unreadable)."""
        return {e.order_no for e in self.errors if e.order_no}

    @property
    def has_unattributed_errors(self) -> bool:
        """Some refused record could not even be tied to an order number."""
        return any(not e.order_no for e in self.errors)


ValueStatus = Literal["mapped", "passed_through", "unknown"]


@dataclass(frozen=True)
class UncoveredValue:
    """One ERP value seen in the data that a value map does not cover (it raises warnings)."""

    kind: RefKind
    value: str
    count: int
    examples: tuple[str, ...]


@dataclass
class SeenValue:
    """One ERP value seen in the data, and what sync does with it.

    ``mapped``: the map translates it; ``passed_through``: the map is empty (or there is no
    map for this field), the value reaches the floor unchanged and nothing is warned;
    ``unknown``: the map has entries but not this one, the raw value is kept and every
    released order holding it raises a warning (``warns``).
    """

    kind: str
    value: str
    status: ValueStatus
    floor_value: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    orders: int = 0
    warns: bool = False


# The value maps of ValueMaps, by the kind of value they translate.
_MAP_OF: dict[str, str] = {
    "work_centre": "work_centres",
    "operation": "operations",
    "unit": "units",
    "reason_code": "reason_codes",
}


class MappingCheck:
    """Every ERP value seen, how the maps treat it, and the warnings sync would raise.

    What raises a warning is decided by :func:`map_order` alone (its ``unmapped``
    references), the same code path sync takes; the check only records it. A value
    counts as a warning only on a released order, because only those are imported.
    """

    MAX_EXAMPLES = 3

    def __init__(self, maps: ValueMaps) -> None:
        self.maps = maps
        self.values: dict[tuple[str, str], SeenValue] = {}
        # (order number, warning code, value): exactly the mapping warnings sync raises.
        self.warnings: set[tuple[str, str, str]] = set()
        self.orders_seen = 0
        self.orders_released = 0

    def covered(self, kind: RefKind, value: str) -> bool:
        """Whether the map of this kind has an entry for the value."""
        table: Mapping[str, Any] = getattr(self.maps, _MAP_OF[kind])
        return value in table

    def _floor_value(self, kind: str, value: str) -> str:
        if kind not in _MAP_OF:
            return value
        table: Mapping[str, Any] = getattr(self.maps, _MAP_OF[kind])
        hit = table.get(value)
        if hit is None:
            return value
        return hit.unit if isinstance(hit, UnitMapping) else str(hit)

    def _note(self, kind: str, value: str, order_no: str, *, unknown: bool, warns: bool) -> None:
        if not value:
            return
        key = (kind, value)
        seen = self.values.get(key)
        if seen is None:
            if unknown:
                status: ValueStatus = "unknown"
            elif kind in _MAP_OF and self.covered(cast(RefKind, kind), value):
                status = "mapped"
            else:
                status = "passed_through"
            seen = self.values[key] = SeenValue(kind, value, status, self._floor_value(kind, value))
        elif unknown:
            seen.status = "unknown"
        seen.count += 1
        seen.warns = seen.warns or warns
        if order_no and order_no not in seen.examples:
            seen.orders += 1
            if len(seen.examples) < self.MAX_EXAMPLES:
                seen.examples.append(order_no)

    def see(self, kind: RefKind, value: str, order_no: str = "") -> None:
        """Note one ERP value seen outside an order mapping (mode A's measuring points):
        sync raises no mapping warning for it."""
        self._note(kind, value, order_no, unknown=False, warns=False)

    def see_order(self, mapped: MappedOrder, raw: RawOrder) -> None:
        """Note every mappable ERP value of one mapped order, and the warnings it raises."""
        self.orders_seen += 1
        released = mapped.state == "released"
        self.orders_released += released
        unknown = {(r.kind, r.value) for r in mapped.unmapped if isinstance(r, UnmappedRef)}
        if released:
            for ref in mapped.unmapped:
                self.warnings.add((mapped.order_no, ref.code, ref.value))
        order_no = mapped.order_no

        def note(kind: str, value: str) -> None:
            bad = (kind, value) in unknown
            self._note(kind, value, order_no, unknown=bad, warns=bad and released)

        note("part", mapped.order.part_no)
        note("work_centre", raw.work_centre)
        note("unit", raw.unit)
        for op_id, wc in raw.operations:
            note("operation", op_id)
            note("work_centre", wc)

    def seen(self) -> list[SeenValue]:
        """Every value seen, by kind, most frequent first."""
        return sorted(self.values.values(), key=lambda v: (v.kind, -v.count, v.value))

    def uncovered(self) -> list[UncoveredValue]:
        """The values that raise warnings when synced, most frequent first."""
        return [
            UncoveredValue(cast(RefKind, v.kind), v.value, v.count, tuple(v.examples))
            for v in self.seen()
            if v.warns
        ]

    @property
    def ok(self) -> bool:
        """No value seen would raise a warning."""
        return not self.warnings

    def lines(self) -> list[str]:
        """Human-readable report lines: the values that would raise warnings."""
        if self.ok:
            return [f"no value of {self.orders_seen} order(s) raises a mapping warning"]
        out = []
        for u in self.uncovered():
            eg = f" (e.g. orders {', '.join(u.examples)})" if u.examples else ""
            out.append(f"{u.kind.replace('_', ' ')} {u.value!r}: {u.count} time(s){eg}")
        return out


@dataclass(frozen=True)
class RawOrder:
    """The ERP's own values that the maps translate, kept for the mapping check."""

    work_centre: str
    unit: str
    operations: tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------- reading values


def _show(value: Any) -> str:
    """A value as an error message shows it: quoted, cut to 80 characters."""
    s = repr(value) if isinstance(value, str) else repr(_plain(value))
    return s if len(s) <= 80 else s[:79] + "…"


def _plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if value is None or isinstance(value, str | int | float | bool):
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "…"
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) < 40:
        return plain(value)  # fixed-point, never 1E+1
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``header.number``, ``lines.0.qty``); a flat key first."""
    if type(data) is dict:  # the common case, without the Mapping ABC check
        if path in data:
            return data[path]
    elif isinstance(data, Mapping) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return None
            current = current[index]
        else:
            return None
    return current


class _Refused(Exception):
    def __init__(self, field_name: str, value: Any, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field_name
        self.value = value
        self.message = message
        self.row = row


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """A value as text: whole floats lose their '.0' (spreadsheets store numbers as floats)."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


# Decimal comma: digits, optionally '.'-separated thousands in groups of three, then ',' decimals.
_COMMA_NUMBER = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")
_POINT_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _decimal(path: str, value: Any, fields: FieldMap, *, negative: bool = False) -> Decimal:
    """A number from the ERP, checked against the documented range (see docs/inbound.md):
    finite, below 10^12, at most 6 decimal places, not negative unless ``negative``."""
    if isinstance(value, bool):
        raise _Refused(path, value, "is not a number")
    if isinstance(value, int | Decimal):
        d = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(path, value, "is not a finite number")
        d = Decimal(format(value, ".15g"))  # what the spreadsheet shows: 15 significant digits
    else:
        d = _text_number(path, value, fields)
    try:
        return in_range(path, d, value, negative=negative)
    except InvalidValueError as exc:
        raise _Refused(path, value, exc.reason) from None


def _text_number(path: str, value: Any, fields: FieldMap) -> Decimal:
    s = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if fields.decimal_comma:
        if _COMMA_NUMBER.fullmatch(s):
            return Decimal(s.replace(".", "").replace(",", "."))
        if _POINT_NUMBER.fullmatch(s):
            raise _Refused(
                path,
                value,
                "is ambiguous with decimal_comma = true: ',' is the decimal separator and '.' "
                "only separates thousands in groups of three (1.234,5), so this number is "
                "refused rather than guessed",
            )
        raise _Refused(path, value, "is not a number in the decimal-comma format (1.234,5)")
    if _POINT_NUMBER.fullmatch(s):
        return Decimal(s)
    if _COMMA_NUMBER.fullmatch(s.replace(".", "")) and "," in s:
        raise _Refused(
            path,
            value,
            "is not a number: ',' is not a decimal separator unless decimal_comma = true",
        )
    lowered = s.lower().lstrip("+-")
    if lowered in ("inf", "infinity", "nan", "snan"):
        raise _Refused(path, value, "is not a finite number")
    raise _Refused(path, value, "is not a number")


def _date(path: str, value: Any, fields: FieldMap) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip()
    try:
        if fields.date_format:
            return datetime.strptime(s, fields.date_format).date()
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s).date()
    except ValueError:
        fmt = fields.date_format or "an ISO date (YYYY-MM-DD)"
        raise _Refused(path, value, f"is not a date in the format {fmt}") from None


def _priority(path: str, value: Any, fields: FieldMap) -> int:
    if _blank(value):
        return 0
    d = _decimal(path, value, fields, negative=True)
    if d != d.to_integral_value():
        raise _Refused(path, value, "is not a whole number")
    return int(d)


# ---------------------------------------------------------------------------- mapping


def _state(value: Any, fields: FieldMap) -> tuple[OrderState, str]:
    if not fields.release_state:  # release_state = "": the source delivers released orders only
        return "released", ""
    raw = _text(value)
    folded = raw.casefold()
    if folded in _folded(tuple(fields.released_values)):
        return "released", raw
    if folded in _folded(tuple(fields.cancelled_values)):
        return "cancelled", raw
    return "not_released", raw


@lru_cache(maxsize=64)
def _folded(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values)


def _get(data: Mapping[str, Any], path: str | None) -> Any:
    return None if path is None else lookup(data, path)


def map_order(
    records: Record | Sequence[Record],
    fields: FieldMap,
    maps: ValueMaps,
    *,
    check: MappingCheck | None = None,
) -> MappedOrder | list[RowError]:
    """Map one order: a nested record, or the tabular rows (one per operation) of one order.

    Returns the mapped order, or the row errors that refuse it (each naming row, field and
    value). Values outside the value maps are kept raw and listed as unmapped references.
    """
    rows = [records] if isinstance(records, Record) else list(records)
    if not rows:
        raise ValueError("map_order needs at least one record")
    head = rows[0]
    order_no = _text(_get(head.data, fields.order_no))
    errors: list[RowError] = []

    def refuse(exc: _Refused, row: int) -> None:
        errors.append(RowError(exc.row or row, exc.field, exc.value, exc.message, order_no or None))

    if not order_no:
        return [RowError(head.row, fields.order_no, None, "is required")]

    # Header fields: read from the first row; every other row of the order must agree.
    header_paths = [
        p
        for p in (
            fields.part_no,
            fields.description,
            fields.quantity,
            fields.unit,
            fields.due_date,
            fields.priority,
            fields.release_state,
            fields.work_centre,
        )
        if p is not None
    ]
    if fields.operations is None:
        for r in rows[1:]:
            for p in header_paths:
                a, b = _get(head.data, p), _get(r.data, p)
                if type(a) is str and type(b) is str and a == b:
                    continue  # the same text (the common case, without converting)
                if _text(a) != _text(b):
                    errors.append(
                        RowError(
                            r.row, p, b, f"differs from row {head.row} ({_text(a)!r})", order_no
                        )
                    )
    data = head.data
    state, raw_state = _state(_get(data, fields.release_state), fields)
    unmapped: list[UnmappedRef] = []

    part_no = _text(_get(data, fields.part_no))
    description = _text(_get(data, fields.description))
    erp_unit = _text(_get(data, fields.unit)) or fields.default_unit
    unit, factor = erp_unit, Decimal(1)
    if erp_unit in maps.units:
        unit, factor = maps.units[erp_unit].unit, maps.units[erp_unit].factor
    elif maps.units:
        unmapped.append(UnmappedRef("unit", erp_unit, "order unit"))

    qty_raw = _get(data, fields.quantity)
    quantity = Decimal(0)
    due: date | None = None
    priority = 0
    try:
        if _blank(qty_raw):
            raise _Refused(fields.quantity, None, "is required")
        quantity = _decimal(fields.quantity, qty_raw, fields)
        if factor != 1:
            quantity = _converted(fields.quantity, qty_raw, quantity * factor, erp_unit, unit)
    except _Refused as exc:
        refuse(exc, head.row)
    try:
        if fields.due_date is not None:
            due = _date(fields.due_date, _get(data, fields.due_date), fields)
    except _Refused as exc:
        refuse(exc, head.row)
    try:
        if fields.priority is not None:
            priority = _priority(fields.priority, _get(data, fields.priority), fields)
    except _Refused as exc:
        refuse(exc, head.row)

    raw_wc = _text(_get(data, fields.work_centre))
    work_centre = _work_centre(raw_wc, maps, unmapped, "order work centre")

    # Routing: one row per operation (tabular) or the list at fields.operations (nested).
    op_items: list[tuple[int, Mapping[str, Any]]]
    if fields.operations is None:
        op_items = [(r.row, r.data) for r in rows if not _blank(_get(r.data, fields.op_id))]
    else:
        listed = lookup(data, fields.operations)
        if listed is None:
            listed = []
        if not isinstance(listed, Sequence) or isinstance(listed, str):
            errors.append(RowError(head.row, fields.operations, listed, "is not a list", order_no))
            listed = []
        op_items = []
        for i, item in enumerate(listed):
            if not isinstance(item, Mapping):
                errors.append(
                    RowError(
                        head.row, f"{fields.operations}.{i}", item, "is not an object", order_no
                    )
                )
                continue
            op_items.append((head.row, item))

    ops: list[ErpOperation] = []
    op_rows: list[int] = []
    raw_ops: list[tuple[str, str]] = []
    minutes = _MINUTES[fields.time_unit]
    for row, item in op_items:
        raw_op = _text(_get(item, fields.op_id))
        if not raw_op:
            errors.append(RowError(row, str(fields.op_id), None, "is required", order_no))
            continue
        op_id = maps.operations.get(raw_op, raw_op)
        if maps.operations and raw_op not in maps.operations:
            unmapped.append(UnmappedRef("operation", raw_op, f"operation {raw_op}"))
        raw_op_wc = _text(_get(item, fields.op_work_centre))
        op_wc = _work_centre(raw_op_wc, maps, unmapped, f"operation {raw_op}")
        setup = run = Decimal(0)
        try:
            value = _get(item, fields.setup_time)
            if not _blank(value):
                setup = _minutes(
                    str(fields.setup_time),
                    value,
                    _decimal(str(fields.setup_time), value, fields),
                    minutes,
                )
        except _Refused as exc:
            refuse(exc, row)
        try:
            value = _get(item, fields.run_time)
            if not _blank(value):
                # Run time is per ERP unit; per floor unit it is divided by the unit factor.
                path = str(fields.run_time)
                run = _minutes(path, value, _decimal(path, value, fields) / factor, minutes)
        except _Refused as exc:
            refuse(exc, row)
        ops.append(
            ErpOperation(
                op_id=op_id,
                name=_text(_get(item, fields.op_name)),
                work_centre=op_wc,
                setup_time=setup,
                run_time_per_unit=run,
            )
        )
        op_rows.append(row)
        raw_ops.append((raw_op, raw_op_wc))

    order = ErpOrder(
        order_no=order_no,
        part_no=part_no,
        quantity=quantity,
        unit=unit,
        description=description,
        due_date=due,
        priority=priority,
        work_centre=work_centre,
        routing=tuple(ops),
        unit_factors={erp_unit: factor} if erp_unit != unit else {},
    )
    if not errors:
        try:
            order = order.checked()
        except InvalidValueError as exc:
            row, path, value = _locate(exc, fields, head.row, op_rows, data, op_items)
            errors.append(RowError(row, path, value, exc.reason, order_no))
    if errors:
        return errors
    notes: list[UnmappedRef | OrderNote] = list(_dedupe(unmapped))
    if fields.work_centre is not None or fields.op_work_centre is not None:
        notes.extend(_missing_work_centres(order))
    mapped = MappedOrder(
        order=order,
        state=state,
        raw_state=raw_state,
        unmapped=tuple(notes),
        rows=tuple(r.row for r in rows),
        reason=_not_released_reason(fields, raw_state) if state == "not_released" else "",
    )
    if check is not None:
        check.see_order(mapped, RawOrder(raw_wc, erp_unit, tuple(raw_ops)))
    return mapped


def _minutes(path: str, raw: Any, value: Decimal, unit: tuple[int, int]) -> Decimal:
    """A standard time in minutes, rounded to a millionth of a minute, within range."""
    try:
        minutes = (value * unit[0] / unit[1]).quantize(_TIME_QUANTUM)
        return in_range(path, minutes, raw)
    except (InvalidOperation, InvalidValueError):
        raise _Refused(
            path, raw, f"is out of range: in minutes it must be below {plain(QUANTITY_LIMIT)}"
        ) from None


def _converted(path: str, raw: Any, value: Decimal, erp_unit: str, unit: str) -> Decimal:
    """A quantity converted to the floor unit, still within the documented range."""
    try:
        return in_range(path, value, raw)
    except InvalidValueError as exc:
        raise _Refused(
            path,
            raw,
            f"is {plain(value)} {unit} after conversion from {erp_unit}, which {exc.reason}",
        ) from None


def _missing_work_centres(order: ErpOrder) -> list[OrderNote]:
    """A warning when an order (or some of its operations) has no work centre: the floor
    cannot queue that work at any terminal until the ERP names one."""
    if order.work_centre:
        return []
    if not order.routing:
        return [
            OrderNote(
                W_NO_WORK_CENTRE,
                "order",
                "the ERP names no work centre for order {order_no} and it has no operations; "
                "no terminal will show it",
            )
        ]
    ops = [op.op_id for op in order.routing if not op.work_centre]
    if not ops:
        return []
    return [
        OrderNote(
            W_NO_WORK_CENTRE,
            ",".join(ops),
            "the ERP names no work centre for order {order_no} nor for its operation(s) "
            + ", ".join(ops)
            + "; no terminal will show them",
        )
    ]


def _not_released_reason(fields: FieldMap, raw_state: str) -> str:
    released = ", ".join(repr(v) for v in fields.released_values)
    if not raw_state:
        return (
            f"its release state ({fields.release_state}) is missing or empty; released: {released}"
        )
    return f"its release state ({fields.release_state}) is {raw_state!r}; released: {released}"


def _work_centre(raw: str, maps: ValueMaps, unmapped: list[UnmappedRef], where: str) -> str:
    if not raw:
        return ""
    if raw in maps.work_centres:
        return maps.work_centres[raw]
    if maps.work_centres:
        unmapped.append(UnmappedRef("work_centre", raw, where))
    return raw


def _dedupe(refs: Iterable[UnmappedRef]) -> list[UnmappedRef]:
    seen: set[tuple[str, str]] = set()
    out = []
    for ref in refs:
        if (ref.kind, ref.value) not in seen:
            seen.add((ref.kind, ref.value))
            out.append(ref)
    return out


_ORDER_FIELDS = {
    "order_no": "order_no",
    "part_no": "part_no",
    "quantity": "quantity",
    "unit": "unit",
    "description": "description",
    "work_centre": "work_centre",
}
_OP_FIELDS = {
    "op_id": "op_id",
    "name": "op_name",
    "work_centre": "op_work_centre",
    "setup_time": "setup_time",
    "run_time_per_unit": "run_time",
}


def _locate(
    exc: InvalidValueError,
    fields: FieldMap,
    head_row: int,
    op_rows: list[int],
    data: Mapping[str, Any],
    op_items: list[tuple[int, Mapping[str, Any]]],
) -> tuple[int, str, Any]:
    """The row, source field and raw value behind a domain check that refused the order."""
    name = exc.field
    if name.startswith("routing["):
        index_s, _, sub = name[len("routing[") :].partition("].")
        index = int(index_s)
        path = getattr(fields, _OP_FIELDS.get(sub, "op_id")) or sub
        if index < len(op_items):
            return op_rows[index], path, _get(op_items[index][1], path)
        return head_row, path, exc.value
    attr = _ORDER_FIELDS.get(name)
    path = (getattr(fields, attr) if attr else None) or name
    raw = _get(data, path)
    return head_row, path, raw if raw is not None else exc.value


def map_records(
    items: Iterable[Record | RowError],
    fields: FieldMap,
    maps: ValueMaps,
    *,
    check: MappingCheck | None = None,
) -> MappingResult:
    """Map everything a source delivered; refused records never stop the good ones."""
    result = MappingResult()
    records: list[Record] = []
    for item in items:
        if isinstance(item, RowError):
            result.errors.append(item)
        else:
            records.append(item)
    groups: list[list[Record]]
    if fields.operations is None:
        by_order: dict[str, list[Record]] = {}
        groups = []
        for r in records:
            key = _text(lookup(r.data, fields.order_no))
            if not key:
                result.errors.append(RowError(r.row, fields.order_no, None, "is required"))
                continue
            if key not in by_order:
                by_order[key] = []
                groups.append(by_order[key])
            by_order[key].append(r)
    else:
        groups = [[r] for r in records]
        seen: dict[str, int] = {}
        for r in records:
            key = _text(lookup(r.data, fields.order_no))
            if key and key in seen:
                result.errors.append(
                    RowError(
                        r.row,
                        fields.order_no,
                        key,
                        f"appears again (first at row {seen[key]})",
                        key,
                    )
                )
            seen.setdefault(key, r.row)
        dupes = {e.order_no for e in result.errors if "appears again" in e.message}
        groups = [g for g in groups if _text(lookup(g[0].data, fields.order_no)) not in dupes]
    groups = _refuse_whole_orders(groups, result.errors, fields)
    for group in groups:
        out = map_order(group, fields, maps, check=check)
        if isinstance(out, MappedOrder):
            result.orders.append(out)
        else:
            result.errors.extend(out)
    return result


def _refuse_whole_orders(
    groups: list[list[Record]], errors: list[RowError], fields: FieldMap
) -> list[list[Record]]:
    """Drop every order one of whose records the parser refused, naming it: importing the
    rest would release (or change) it with a truncated routing."""
    keys = {_text(lookup(g[0].data, fields.order_no)): g for g in groups}
    refused: dict[str, int | None] = {}
    for i, e in enumerate(errors):
        matches = [k for k in dict.fromkeys((e.order_no or "", *e.candidates)) if k in keys]
        if matches and e.order_no != matches[0]:
            errors[i] = replace(e, order_no=matches[0])
        for k in matches:
            refused.setdefault(k, e.row)
    for key, row in refused.items():
        group = keys[key]
        rows = ", ".join(str(r.row) for r in group)
        errors.append(
            RowError(
                group[0].row,
                fields.order_no,
                key,
                f"is refused as a whole because its record at row {row} could not be read; "
                f"its other rows ({rows}) were not imported either",
                key,
            )
        )
    return [g for g in groups if _text(lookup(g[0].data, fields.order_no)) not in refused]


def map_reason_code(code: str, maps: ValueMaps) -> tuple[str, UnmappedRef | None]:
    """An ERP reason code in floor terms, or the raw code with an unmapped reference."""
    if code in maps.reason_codes:
        return maps.reason_codes[code], None
    if maps.reason_codes:
        return code, UnmappedRef("reason_code", code, "reason code")
    return code, None


__all__ = [
    "WARNING_CODES",
    "W_NO_WORK_CENTRE",
    "MappedOrder",
    "MappingCheck",
    "MappingResult",
    "OrderNote",
    "RawOrder",
    "Record",
    "RowError",
    "SeenValue",
    "UncoveredValue",
    "UnmappedRef",
    "ValueStatus",
    "lookup",
    "map_order",
    "map_reason_code",
    "map_records",
]
