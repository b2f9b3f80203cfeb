"""The mapping check's report: every aligned value, how it maps, and what would warn.

The classification of ERP values comes from :class:`adapters.mapping.MappingCheck`, which
records what :func:`adapters.mapping.map_order` (the code sync runs) decided; nothing here
decides again whether a value raises a warning. The floor side lists the stop reasons,
scrap reasons, result codes and units the floor sends and whether the ERP side maps them
back (writeback reads the maps in reverse and sends an unmapped floor value unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.config import Integration, ValueMaps
from adapters.mapping import MappingCheck, SeenValue

# The aligned fields of the ERP data, in report order, and their labels.
ERP_KINDS: dict[str, str] = {
    "work_centre": "work centres",
    "operation": "operations",
    "part": "parts",
    "unit": "units",
}
FLOOR_KINDS: dict[str, str] = {
    "stop_reason": "stop reasons",
    "scrap_reason": "scrap reasons",
    "result_code": "result codes",
    "floor_unit": "units the floor reports in",
}
NO_MAP = {"part", "result_code"}  # no value map exists for these: always passed through


@dataclass
class FloorValue:
    """A value the floor sends, and what the ERP receives for it."""

    kind: str
    value: str
    status: str  # mapped | passed_through | no_erp_mapping
    erp_value: str
    orders: list[str] = field(default_factory=list)


@dataclass
class IntegrationCheck:
    """The mapping check of one integration."""

    integration: str
    check: MappingCheck | None
    floor: list[FloorValue] = field(default_factory=list)
    error: str | None = None

    @property
    def would_warn(self) -> int:
        """How many warnings a sync of this data would raise."""
        return len(self.check.warnings) if self.check else 0

    def values(self, kind: str) -> list[SeenValue]:
        return [v for v in self.check.seen() if v.kind == kind] if self.check else []

    def to_json(self) -> dict[str, Any]:
        c = self.check
        return {
            "integration": self.integration,
            "error": self.error,
            "orders_seen": c.orders_seen if c else 0,
            "orders_released": c.orders_released if c else 0,
            "would_warn": self.would_warn,
            "fields": {
                kind: [
                    {
                        "value": v.value,
                        "status": v.status,
                        "floor_value": v.floor_value,
                        "count": v.count,
                        "orders": v.orders,
                        "examples": list(v.examples),
                        "warns": v.warns,
                    }
                    for v in self.values(kind)
                ]
                for kind in ERP_KINDS
            },
            "warnings": [
                {"order_no": o, "code": code, "value": value}
                for o, code, value in sorted(c.warnings if c else ())
            ],
            "floor": {
                kind: [
                    {
                        "value": f.value,
                        "status": f.status,
                        "erp_value": f.erp_value,
                        "orders": f.orders,
                    }
                    for f in self.floor
                    if f.kind == kind
                ]
                for kind in FLOOR_KINDS
            },
        }


def _invert(m: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for erp, floor in m.items():
        out.setdefault(floor, erp)
    return out


def floor_values(
    maps: ValueMaps, check: MappingCheck | None, codes: Mapping[str, Mapping[str, Sequence[str]]]
) -> list[FloorValue]:
    """What the ERP receives for each floor value: the floor units of the imported orders
    and the codes the floor sent (``codes``: kind → value → orders)."""
    reasons = _invert(maps.reason_codes)
    units = {m.unit.strip().lower(): erp for erp, m in maps.units.items()}
    found: dict[tuple[str, str], list[str]] = {}
    for kind, values in codes.items():
        for value, orders in values.items():
            found.setdefault((kind, value), []).extend(orders)
    if check is not None:
        for v in check.seen():
            if v.kind == "unit":
                found.setdefault(("floor_unit", v.floor_value), []).extend(v.examples)
    out = []
    for (kind, value), orders in sorted(found.items()):
        if kind in ("stop_reason", "scrap_reason"):
            hit = reasons.get(value)
            empty = not maps.reason_codes
        elif kind == "floor_unit":
            hit = units.get(value.strip().lower())
            empty = not maps.units
        else:
            hit, empty = None, True
        if hit is not None:
            status, erp = "mapped", hit
        elif empty:
            status, erp = "passed_through", value
        else:
            status, erp = "no_erp_mapping", value
        out.append(FloorValue(kind, value, status, erp, list(dict.fromkeys(orders))[:3]))
    return out


def check_one(
    integration: Integration,
    codes: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> IntegrationCheck:
    """Read what the integration's ERP delivers now (importing nothing) and check it."""
    from adapters.inbound.worker import check_integration

    check = check_integration(integration)
    return IntegrationCheck(
        integration.name, check, floor_values(integration.maps, check, codes or {})
    )


def text_lines(result: IntegrationCheck) -> list[str]:
    """The check of one integration as plain text lines (what ``mapping check`` prints)."""
    name = result.integration
    if result.error:
        return [f"{name}: cannot read the ERP data: {result.error}"]
    c = result.check
    assert c is not None
    lines = [
        f"{name}: {c.orders_seen} order(s) read, {c.orders_released} released; "
        + (
            f"{result.would_warn} mapping warning(s) a sync would raise"
            if result.would_warn
            else "no value raises a mapping warning"
        )
    ]
    for kind, label in ERP_KINDS.items():
        values = result.values(kind)
        if not values:
            continue
        lines.append(f"  {label}:")
        for v in values:
            if v.status == "mapped":
                how = f"mapped to {v.floor_value!r}"
            elif v.status == "passed_through":
                how = "passed through unchanged" + (" (no map)" if kind in NO_MAP else "")
            elif v.warns:
                how = "UNKNOWN: not in the map, warns"
            else:
                how = "not in the map (orders not released: no warning)"
            eg = ", ".join(v.examples)
            lines.append(f"    {v.value!r}: {how}; {v.count} time(s) on {v.orders} order(s) ({eg})")
    gaps = [f for f in result.floor if f.status == "no_erp_mapping"]
    for f in gaps:
        label = FLOOR_KINDS[f.kind].rstrip("s") if f.kind != "floor_unit" else "floor unit"
        lines.append(f"  floor {label} {f.value!r} has no ERP mapping: the ERP receives it as is")
    return lines


__all__ = [
    "ERP_KINDS",
    "FLOOR_KINDS",
    "FloorValue",
    "IntegrationCheck",
    "check_one",
    "floor_values",
    "text_lines",
]
