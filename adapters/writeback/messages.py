"""Ledger events → writeback messages, in the ERP's terms (value maps applied in reverse).

One message per ledger event, keyed ``<destination>:<originator_id>:<version>`` so a receiver
that honours the key applies each message exactly once. The order's state with the event
folded in (the domain's :class:`domain.state.OrderFold`, the same fold the aggregate and the
views use) gives the order status, the operation status, the order's unit and the operation's
live timing (actual time beside the standard time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.config import ValueMaps
from domain.state import OperationState, OrderFold, OrderState, dec, dstr, iso
from domain.workorder import WorkOrder

# Which ledger events become which message kind. Events not listed (ERP events, conflicts,
# warnings) are not sent.
EVENT_KINDS: dict[type[WorkOrder.Event], str] = {
    WorkOrder.OperationStarted: "operation_status",
    WorkOrder.OperationPaused: "operation_status",
    WorkOrder.OperationResumed: "operation_status",
    WorkOrder.OperationCompleted: "operation_status",
    WorkOrder.OrderCompleted: "order_status",
    WorkOrder.QuantityReported: "production_result",
    WorkOrder.ResultRecorded: "quality_result",
    WorkOrder.ReportSubmitted: "report",
}

# The warning code a supervisor's or operator's trigger of a report is recorded with (mode E).
W_TRIGGERED = "writeback_triggered"
W_PARKED = "writeback_parked"
W_RETRIED = "writeback_retried"
W_SKIPPED = "writeback_skipped"

# The ERP's words for the order and operation states.
_ORDER_STATUS = {
    OrderState.RELEASED: "not_started",
    OrderState.IN_PROGRESS: "in_progress",
    OrderState.COMPLETED: "completed",
    OrderState.CANCELLED: "cancelled",
}
_OP_STATUS = {
    OperationState.NOT_STARTED: "not_started",
    OperationState.RUNNING: "in_progress",
    OperationState.PAUSED: "in_progress",
    OperationState.COMPLETED: "completed",
}

# The flat row every tabular transport (SQL, CSV, XLSX) writes; ``payload`` holds the rest.
ROW_COLUMNS: tuple[str, ...] = (
    "idempotency_key",
    "destination",
    "position",
    "integration",
    "order_no",
    "sequence",
    "kind",
    "event",
    "operation",
    "order_status",
    "operation_status",
    "good",
    "scrap",
    "scrap_reason",
    "rework",
    "unit",
    "passed",
    "serial",
    "batch",
    "actual_seconds",
    "actual_seconds_per_unit",
    "standard_seconds",
    "standard_seconds_per_unit",
    "report_id",
    "occurred_at",
    "actor_id",
    "actor_role",
    "payload",
)


_DUMPS: dict[int, tuple[Any, str]] = {}


@dataclass(frozen=True, slots=True)
class Message:
    """One writeback message: an ERP-facing statement of one ledger event."""

    key: str
    destination: str
    position: int
    order_key: str
    integration: str
    order_no: str
    version: int
    kind: str
    event: str
    occurred_at: str | None
    recorded_at: str | None
    actor_id: str
    actor_role: str
    source: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        """The ledger event this message states: ``originator_id:version``."""
        return f"{self.order_key}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        """The message as a JSON object (the REST body, the AMQP body, the payload column)."""
        return {
            "idempotency_key": self.key,
            "destination": self.destination,
            "position": self.position,
            "event_id": self.event_id,
            "integration": self.integration,
            "order_no": self.order_no,
            "sequence": self.version,
            "kind": self.kind,
            "event": self.event,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "actor": {"id": self.actor_id, "role": self.actor_role, "source": self.source},
            "data": self.data,
        }

    def dumps(self) -> str:
        """The message as compact JSON text (computed once per message)."""
        cached = _DUMPS.get(id(self))
        if cached is not None and cached[0] is self:
            return cached[1]
        text = json.dumps(self.to_json(), separators=(",", ":"))
        if len(_DUMPS) > 20_000:
            _DUMPS.clear()
        _DUMPS[id(self)] = (self, text)
        return text

    @classmethod
    def loads(cls, text: str) -> Message:
        d = json.loads(text)
        actor = d["actor"]
        return cls(
            key=d["idempotency_key"],
            destination=d["destination"],
            position=int(d["position"]),
            order_key=str(d["event_id"]).rsplit(":", 1)[0],
            integration=d["integration"],
            order_no=d["order_no"],
            version=int(d["sequence"]),
            kind=d["kind"],
            event=d["event"],
            occurred_at=d["occurred_at"],
            recorded_at=d["recorded_at"],
            actor_id=actor["id"],
            actor_role=actor["role"],
            source=actor["source"],
            data=d["data"],
        )

    def row(self) -> dict[str, Any]:
        """The message as one flat row of :data:`ROW_COLUMNS` (decimals as strings)."""
        d = self.data
        timing = d.get("timing") or {}
        scrap = d.get("scrap")
        scrap_reason = d.get("scrap_reason")
        if isinstance(scrap, dict):  # a report: scrap by reason code
            scrap_reason = ";".join(f"{k}={v}" for k, v in scrap.items()) or None
            scrap = dstr(sum((dec(v) for v in scrap.values()), Decimal(0)))
        return {
            "idempotency_key": self.key,
            "destination": self.destination,
            "position": self.position,
            "integration": self.integration,
            "order_no": self.order_no,
            "sequence": self.version,
            "kind": self.kind,
            "event": self.event,
            "operation": d.get("operation"),
            "order_status": d.get("order_status"),
            "operation_status": d.get("operation_status"),
            "good": d.get("good"),
            "scrap": scrap,
            "scrap_reason": scrap_reason,
            "rework": d.get("rework"),
            "unit": d.get("unit"),
            "passed": d.get("passed"),
            "serial": d.get("serial") or None,
            "batch": d.get("batch") or None,
            "actual_seconds": timing.get("actual_seconds"),
            "actual_seconds_per_unit": timing.get("actual_seconds_per_unit"),
            "standard_seconds": timing.get("standard_seconds"),
            "standard_seconds_per_unit": timing.get("standard_seconds_per_unit"),
            "report_id": d.get("report_id"),
            "occurred_at": self.occurred_at,
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "payload": self.dumps(),
        }


class ReverseMaps:
    """The integration's value maps read backwards: floor value → ERP value."""

    def __init__(self, maps: ValueMaps) -> None:
        self.operations = _invert(maps.operations)
        self.reason_codes = _invert(maps.reason_codes)
        # floor unit → (ERP unit, factor): 1 ERP unit = factor floor units
        self.units: dict[str, tuple[str, Decimal]] = {}
        for erp_unit, m in maps.units.items():
            self.units.setdefault(m.unit.strip().lower(), (erp_unit, m.factor))

    def operation(self, op_id: str) -> str:
        return self.operations.get(op_id, op_id)

    def reason(self, code: str | None) -> str | None:
        if code is None:
            return None
        return self.reason_codes.get(code, code)

    def quantity(self, value: Decimal, floor_unit: str) -> tuple[str, str]:
        """A quantity in the order's (floor) unit as (ERP quantity, ERP unit)."""
        hit = self.units.get(floor_unit.strip().lower())
        if hit is None:
            return dstr(value), floor_unit
        erp_unit, factor = hit
        return dstr(value / factor), erp_unit

    def factor(self, floor_unit: str) -> Decimal:
        hit = self.units.get(floor_unit.strip().lower())
        return hit[1] if hit else Decimal(1)


def _invert(m: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for erp, floor in m.items():
        out.setdefault(floor, erp)
    return out


def _seconds(value: float) -> str:
    return dstr(Decimal(str(round(value, 3))))


def timing(order: OrderFold, op_id: str, at: datetime | None, maps: ReverseMaps) -> dict[str, Any]:
    """Live timing of an operation: actual run time (total, per good unit) beside the standard;
    a running operation counts up to ``at``."""
    op = order.operations.get(op_id)
    actual = op.run_seconds_at(at) if op is not None else 0.0
    good = op.good if op is not None else Decimal(0)
    setup, run = order.standard_times(op_id)
    unit = order.unit
    factor = maps.factor(unit)  # seconds per floor unit → per ERP unit
    out: dict[str, Any] = {
        "actual_seconds": _seconds(actual),
        "actual_seconds_per_unit": (
            _seconds(float(Decimal(str(actual)) / good * factor)) if good > 0 else None
        ),
        "standard_seconds": dstr((setup + run * order.quantity) * 60),
        "standard_seconds_per_unit": dstr(run * 60 * factor),
        "good_so_far": maps.quantity(good, unit)[0],
    }
    return out


class MessageBuilder:
    """Builds a destination's messages from ledger events and the orders' snapshots."""

    def __init__(self, destination: str, maps: ValueMaps, kinds: tuple[str, ...]) -> None:
        self.destination = destination
        self.maps = ReverseMaps(maps)
        self.kinds = frozenset(kinds)

    def wanted(self, event: Any) -> bool:
        """Whether this event becomes a message for this destination."""
        kind = EVENT_KINDS.get(type(event))
        return kind is not None and kind in self.kinds

    def build(
        self,
        position: int,
        event: Any,
        after: OrderFold,
        *,
        version: int | None = None,
        order_key: str | None = None,
    ) -> Message:
        """The message for ``event`` given the order's state with the event folded in."""
        kind = EVENT_KINDS[type(event)]
        name = type(event).__name__
        order_key = order_key or str(event.originator_id)
        version = version or int(event.originator_version)
        occurred_at = getattr(event, "occurred_at", None)
        occurred = iso(occurred_at)
        unit = after.unit
        data: dict[str, Any] = {"order_status": _ORDER_STATUS.get(after.state, after.state.value)}
        maps = self.maps
        op_id = getattr(event, "op_id", None)
        if op_id is not None:
            data["operation"] = maps.operation(op_id)
            data["floor_operation"] = op_id
            state = after.progress_state(op_id)
            data["operation_status"] = _OP_STATUS[state]
            data["floor_state"] = state.value
        if isinstance(event, WorkOrder.OperationPaused):
            data["stop_reason"] = maps.reason(event.reason_code)
        if isinstance(
            event,
            WorkOrder.OperationPaused | WorkOrder.OperationCompleted | WorkOrder.QuantityReported,
        ):
            data["timing"] = timing(after, str(op_id or ""), occurred_at, maps)
        if isinstance(event, WorkOrder.OrderCompleted):
            good, erp_unit = maps.quantity(after.good_total(), unit)
            data.update(good=good, unit=erp_unit)
        elif isinstance(event, WorkOrder.QuantityReported):
            good, erp_unit = maps.quantity(event.good, unit)
            data.update(
                good=good,
                scrap=maps.quantity(event.scrap, unit)[0],
                scrap_reason=maps.reason(event.scrap_reason),
                rework=maps.quantity(event.rework, unit)[0],
                unit=erp_unit,
            )
        elif isinstance(event, WorkOrder.ResultRecorded):
            data.update(
                passed=event.passed,
                characteristic=event.characteristic,
                measured_value=(
                    str(event.measured_value) if event.measured_value is not None else None
                ),
                measured_unit=event.unit,
                serial=event.serial,
                batch=event.batch,
            )
        elif isinstance(event, WorkOrder.ReportSubmitted):
            good, erp_unit = maps.quantity(event.good, unit)
            data.update(
                report_id=event.report_id,
                started_at=iso(event.started_at),
                ended_at=iso(event.ended_at),
                good=good,
                scrap={
                    maps.reason(k) or k: maps.quantity(v, unit)[0] for k, v in event.scrap.items()
                },
                rework=maps.quantity(event.rework, unit)[0],
                unit=erp_unit,
                note=event.note,
                timing={
                    "actual_seconds": _seconds((event.ended_at - event.started_at).total_seconds()),
                    **{
                        k: v
                        for k, v in timing(after, str(op_id or ""), None, maps).items()
                        if k.startswith("standard")
                    },
                },
            )
        return Message(
            key=f"{self.destination}:{order_key}:{version}",
            destination=self.destination,
            position=position,
            order_key=order_key,
            integration=str(event.integration),
            order_no=str(event.order_no),
            version=version,
            kind=kind,
            event=name,
            occurred_at=occurred,
            recorded_at=iso(getattr(event, "timestamp", None)),
            actor_id=str(event.actor_id),
            actor_role=str(event.actor_role),
            source=str(event.source),
            data=data,
        )


__all__ = [
    "EVENT_KINDS",
    "ROW_COLUMNS",
    "W_PARKED",
    "W_RETRIED",
    "W_SKIPPED",
    "W_TRIGGERED",
    "Message",
    "MessageBuilder",
    "ReverseMaps",
    "timing",
]
