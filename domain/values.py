"""Value objects and input checks shared by the aggregates."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from domain.errors import InvalidValueError

# Namespace for deterministic aggregate ids (uuid5).
NAMESPACE = uuid.UUID("5b1c2f0e-6d1a-4f7e-9a53-2f1e7c0d9b41")

ROLES = ("operator", "supervisor", "auditor", "integration", "admin", "system")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Characters no text field takes, beyond C0 controls: C1 controls, lone surrogates, the
# non-characters (U+FDD0-FDEF and U+xFFFE/U+xFFFF of every plane; XML 1.0 refuses U+FFFE/FFFF),
# bidirectional embeddings, overrides and isolates (text that displays other than it reads),
# the byte-order mark and invisible separators. Identifiers and codes also refuse the
# zero-width (non-)joiners and marks; free text (FREE_TEXT_LEN characters or more allowed:
# notes, messages, descriptions, reasons) keeps those, which emoji and some scripts need.
FREE_TEXT_LEN = 400
_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_NOT_FREE_TEXT = re.compile(
    "[\x80-\x9f\ud800-\udfff\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\u2060-\u2064\ufeff\ufff9-\ufffb" + _NONCHARACTERS + "]"
)
_NOT_IDENTIFIER = re.compile(
    "[\x80-\x9f\ud800-\udfff\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\u2060-\u2064\ufeff\ufff9-\ufffb\u200b-\u200f\u00ad\u034f" + _NONCHARACTERS + "]"
)
_SOURCE = re.compile(r"^(api|cli|system|erp:[A-Za-z0-9_.\-]+)$")


@lru_cache(maxsize=65536)
def order_id_for(integration: str, order_no: str) -> uuid.UUID:
    """The WorkOrder id: the same integration and ERP order number always give the same id."""
    return uuid.uuid5(NAMESPACE, f"order\x1f{integration}\x1f{order_no}")


@lru_cache(maxsize=4096)
def workstation_id_for(name: str) -> uuid.UUID:
    """The Workstation (measuring point) id, derived from its name."""
    return uuid.uuid5(NAMESPACE, f"workstation\x1f{name}")


def receipt_id_for(key: str) -> uuid.UUID:
    """The id of the receipt that records the outcome of an idempotent command."""
    return uuid.uuid5(NAMESPACE, f"receipt\x1f{key}")


@dataclass(frozen=True)
class Actor:
    """Who did something (id and role) and where it came from (api, cli, erp:<integration>)."""

    id: str
    role: str
    source: str

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise InvalidValueError("actor.id", self.id, "must not be empty")
        if self.role not in ROLES:
            raise InvalidValueError("actor.role", self.role, f"must be one of {', '.join(ROLES)}")
        if not _SOURCE.match(self.source):
            raise InvalidValueError(
                "actor.source", self.source, "must be api, cli, system or erp:<integration>"
            )


def text(field_name: str, value: Any, *, required: bool = True, max_len: int = 200) -> str:
    """A trimmed string, refused when required and empty or when too long."""
    if type(value) is str:
        s = value.strip()
        # Printable ASCII holds none of the characters refused below: only the length and
        # emptiness remain to check.
        if s.isascii() and s.isprintable() and (s or not required) and len(s) <= max_len:
            return s
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValueError(field_name, value, "must be text")
    s = str(value).strip()
    if required and not s:
        raise InvalidValueError(field_name, s, "must not be empty")
    if len(s) > max_len:
        raise InvalidValueError(field_name, s[:40] + "…", f"is longer than {max_len}")
    if _CONTROL.search(s):
        raise InvalidValueError(field_name, s, "contains control characters")
    bad = (_NOT_FREE_TEXT if max_len >= FREE_TEXT_LEN else _NOT_IDENTIFIER).search(s)
    if bad is not None:
        ch = bad.group()
        raise InvalidValueError(
            field_name,
            ascii(s[:80])[1:-1],
            f"contains U+{ord(ch):04X} at position {bad.start() + 1}, a character XML 1.0, "
            "spreadsheets or an ERP cannot carry safely (C1 control, surrogate, "
            "non-character, bidirectional or invisible formatting character)",
        )
    return s


# One precision and range for every quantity and standard time (docs/inbound.md, "Numbers").
QUANTITY_PLACES = 6
QUANTITY_LIMIT = Decimal(10) ** 12
# Unit conversion factors (1 ERP unit = factor floor units) may be finer: 0.45359237 kg per lb.
FACTOR_PLACES = 12


def plain(d: Decimal) -> str:
    """A Decimal in fixed-point notation (never 1E+1 or 1E-7), for messages and exports."""
    return format(d, "f")


def decimal_places(d: Decimal) -> int:
    """How many decimal places a finite Decimal needs (trailing zeros do not count)."""
    exponent = d.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _as_decimal(field_name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidValueError(field_name, value, "is not a number")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidValueError(field_name, value, "is not finite")
            return Decimal(repr(value))
        return Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidValueError(field_name, value, "is not a number") from None


def in_range(
    field_name: str,
    d: Decimal,
    value: Any = None,
    *,
    places: int = QUANTITY_PLACES,
    negative: bool = False,
) -> Decimal:
    """``d`` checked against the documented range: finite, |d| < 10^12, at most ``places``
    decimal places, and not negative unless allowed; the error names the field and value."""
    key = (str(d), places, negative)  # str(d) keeps the exponent: "5" and "5.0" differ
    if key in _IN_RANGE:
        return d
    shown = d if value is None else value
    if not d.is_finite():
        raise InvalidValueError(field_name, shown, "is not a finite number")
    if not negative and d < 0:
        raise InvalidValueError(field_name, shown, "is negative")
    if abs(d) >= QUANTITY_LIMIT:
        raise InvalidValueError(
            field_name, shown, f"is out of range: it must be below {plain(QUANTITY_LIMIT)}"
        )
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places and decimal_places(d) > places:
        raise InvalidValueError(
            field_name, shown, f"has more than {places} decimal places (at most {places})"
        )
    if len(_IN_RANGE) >= 4096:
        _IN_RANGE.clear()
    _IN_RANGE.add(key)
    return d


# Numbers already found in range (a plan repeats a few values thousands of times).
_IN_RANGE: set[tuple[str, int, bool]] = set()


# Quantities already found good, by their spelling (a plan repeats a few values thousands of
# times): the same spelling always gives the same checked value, so it is checked once.
_GOOD_QUANTITIES: dict[tuple[type, str], Decimal] = {}


def quantity(field_name: str, value: Any) -> Decimal:
    """A quantity (or standard time) as a Decimal: 0 ≤ q < 10^12, at most 6 decimal places."""
    kind = type(value)
    if kind is Decimal or kind is str:
        key = (kind, value if kind is str else str(value))
        good = _GOOD_QUANTITIES.get(key)
        if good is not None:
            return good
        d = _as_decimal(field_name, value)
        good = canonical(in_range(field_name, d, value))
        if len(_GOOD_QUANTITIES) >= 4096:
            _GOOD_QUANTITIES.clear()
        _GOOD_QUANTITIES[key] = good
        return good
    d = _as_decimal(field_name, value)
    return canonical(in_range(field_name, d, value))


def factor(field_name: str, value: Any) -> Decimal:
    """A unit conversion factor: 0 < f < 10^12, at most 12 decimal places (a factor of 0
    would record every report in that unit as 0)."""
    d = _as_decimal(field_name, value)
    checked = in_range(field_name, d, value, places=FACTOR_PLACES)
    if checked == 0:
        raise InvalidValueError(field_name, value, "must be more than 0")
    return canonical(checked)


def canonical(d: Decimal) -> Decimal:
    """One spelling per value (5, 5.0 and 5.00 all become 5) so equal quantities compare alike."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def measured(field_name: str, value: Any) -> Decimal | None:
    """A finite measured value (may be negative), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidValueError(field_name, value, "is not a number")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidValueError(field_name, value, "is not a number") from None
    if not d.is_finite():
        raise InvalidValueError(field_name, value, "is not finite")
    return d


# Standard units grouped by dimension, each with its factor to the family's base unit.
_UNIT_FAMILIES: tuple[dict[str, Decimal], ...] = (
    {
        "pcs": Decimal(1),
        "pc": Decimal(1),
        "ea": Decimal(1),
        "each": Decimal(1),
        "u": Decimal(1),
        "unit": Decimal(1),
        "dozen": Decimal(12),
    },
    {
        "kg": Decimal(1),
        "g": Decimal("0.001"),
        "mg": Decimal("0.000001"),
        "t": Decimal(1000),
        "lb": Decimal("0.45359237"),
    },
    {"m": Decimal(1), "mm": Decimal("0.001"), "cm": Decimal("0.01"), "km": Decimal(1000)},
    {"l": Decimal(1), "ml": Decimal("0.001"), "m3": Decimal(1000)},
    {"h": Decimal(3600), "min": Decimal(60), "s": Decimal(1)},
)


def normalise_unit(unit: str) -> str:
    return unit.strip().lower()


def unit_factor(
    from_unit: str, to_unit: str, extra: Mapping[str, Decimal] | None = None
) -> Decimal | None:
    """How many ``to_unit`` one ``from_unit`` is, or None when they are not convertible.

    ``extra`` holds order-specific factors, 1 <unit> = factor <to_unit>; it is only
    meaningful when ``to_unit`` is the order's unit.
    """
    f, t = normalise_unit(from_unit), normalise_unit(to_unit)
    if f == t:
        return Decimal(1)
    if extra:
        lowered = {normalise_unit(k): v for k, v in extra.items()}
        if f in lowered:
            return lowered[f]
    for family in _UNIT_FAMILIES:
        if f in family and t in family:
            return family[f] / family[t]
    return None


@dataclass(frozen=True)
class ErpOperation:
    """One routing operation as the ERP defines it. Times are minutes."""

    op_id: str
    name: str = ""
    work_centre: str = ""
    setup_time: Decimal = Decimal(0)
    run_time_per_unit: Decimal = Decimal(0)

    def checked(self, prefix: str) -> ErpOperation:
        return ErpOperation(
            op_id=text(f"{prefix}.op_id", self.op_id, max_len=60),
            name=text(f"{prefix}.name", self.name, required=False),
            work_centre=text(f"{prefix}.work_centre", self.work_centre, required=False, max_len=60),
            setup_time=quantity(f"{prefix}.setup_time", self.setup_time),
            run_time_per_unit=quantity(f"{prefix}.run_time_per_unit", self.run_time_per_unit),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "name": self.name,
            "work_centre": self.work_centre,
            "setup_time": str(self.setup_time),
            "run_time_per_unit": str(self.run_time_per_unit),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ErpOperation:
        return cls(
            op_id=str(d["op_id"]),
            name=str(d.get("name", "")),
            work_centre=str(d.get("work_centre", "")),
            setup_time=Decimal(str(d.get("setup_time", "0"))),
            run_time_per_unit=Decimal(str(d.get("run_time_per_unit", "0"))),
        )


@dataclass(frozen=True)
class ErpOrder:
    """A released works order as the ERP states it, already mapped to floor terms."""

    order_no: str
    part_no: str
    quantity: Decimal
    unit: str
    description: str = ""
    due_date: date | None = None
    priority: int = 0
    work_centre: str = ""
    routing: tuple[ErpOperation, ...] = ()
    unit_factors: Mapping[str, Decimal] = field(default_factory=dict)
    _checked: bool = field(default=False, repr=False, compare=False)

    def checked(self) -> ErpOrder:
        """The same order with every field checked; raises InvalidValueError naming the field."""
        if self._checked:
            return self
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidValueError("priority", self.priority, "must be a whole number")
        if self.due_date is not None and (
            not isinstance(self.due_date, date) or isinstance(self.due_date, datetime)
        ):
            raise InvalidValueError("due_date", self.due_date, "must be a date")
        routing = tuple(op.checked(f"routing[{i}]") for i, op in enumerate(self.routing))
        seen: set[str] = set()
        for i, op in enumerate(routing):
            if op.op_id in seen:
                raise InvalidValueError(f"routing[{i}].op_id", op.op_id, "appears twice")
            seen.add(op.op_id)
        factors = {
            text("unit_factors", k, max_len=20): factor(f"unit_factors.{k}", v)
            for k, v in self.unit_factors.items()
        }
        return ErpOrder(
            order_no=text("order_no", self.order_no, max_len=80),
            part_no=text("part_no", self.part_no, max_len=80),
            quantity=quantity("quantity", self.quantity),
            unit=text("unit", self.unit, max_len=20),
            description=text("description", self.description, required=False, max_len=400),
            due_date=self.due_date,
            priority=self.priority,
            work_centre=text("work_centre", self.work_centre, required=False, max_len=60),
            routing=routing,
            unit_factors=factors,
            _checked=True,
        )

    def erp_fields(self) -> dict[str, Any]:
        """The ERP-owned fields in their stored (JSON-friendly) form."""
        return {
            "part_no": self.part_no,
            "description": self.description,
            "quantity": self.quantity,
            "unit": self.unit,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "priority": self.priority,
            "work_centre": self.work_centre,
            "routing": [op.to_dict() for op in self.routing],
        }
