"""The order fold: a JSON-friendly mirror of a WorkOrder's state, built from its events.

Views that need an order's state (plan, status, report script, warnings) each keep one such
snapshot per order in their own table, so each can be rebuilt alone. The fold follows the
``apply`` methods of ``domain.workorder.WorkOrder`` exactly; the tests compare it with the
aggregate. Quantities are kept as decimal strings, times as ISO-8601 strings in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# Topic prefixes of the aggregates the views read.
WO = "domain.workorder:WorkOrder."
WS = "domain.workstation:Workstation."

# Operation states (the values of domain.workorder.OperationState).
NOT_STARTED, RUNNING, PAUSED, COMPLETED = "not_started", "running", "paused", "completed"
# Order states (the values of domain.workorder.OrderState).
RELEASED, IN_PROGRESS, O_COMPLETED, CANCELLED = "released", "in_progress", "completed", "cancelled"
OPEN_STATES = (RELEASED, IN_PROGRESS)

FLOOR_EVENTS = frozenset(
    {
        "OperationStarted",
        "OperationPaused",
        "OperationResumed",
        "QuantityReported",
        "ResultRecorded",
        "OperationCompleted",
        "OrderCompleted",
        "ReportSubmitted",
    }
)

# Warning codes the fold knows how to clear (see ``Snapshot.warning_still_relevant``).
W_UNKNOWN_OPERATION = "unknown_operation"
W_OVER_QUANTITY = "over_quantity"
W_ORDER_CANCELLED = "order_cancelled"
# Warning codes raised by adapters that the fold's relevance rules know about.
W_NOT_RELEASED = "not_released_in_erp"
W_RELEASED_AGAIN = "released_in_erp"
W_WRITEBACK_PARKED = "writeback_parked"


def iso(value: datetime | None) -> str | None:
    """A time as a sortable ISO-8601 string in UTC (microsecond precision)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def dstr(value: Decimal) -> str:
    """A decimal as its canonical string (5, 5.0 and 5.00 all give "5")."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.normalize())


def _seconds(since: str | None, until: str) -> float:
    if since is None:
        return 0.0
    return max(0.0, (datetime.fromisoformat(until) - datetime.fromisoformat(since)).total_seconds())


def event_name(topic: str) -> str:
    """The event class name of a topic ("domain.workorder:WorkOrder.Released" → "Released")."""
    return topic.rsplit(".", 1)[-1]


def plain(value: Any) -> Any:
    """An ERP field value in JSON form (Decimals as strings)."""
    if isinstance(value, Decimal):
        return dstr(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value


class Snapshot:
    """The state of one order as the views see it."""

    __slots__ = (
        "conflicts",
        "floor",
        "floor_activity",
        "integration",
        "last_activity",
        "ops",
        "order_no",
        "reports",
        "state",
        "version",
        "warnings",
        "warnings_total",
    )

    def __init__(self) -> None:
        self.integration = ""
        self.order_no = ""
        self.version = 0
        # floor values of the ERP fields (the ones the floor works to), JSON form
        self.floor: dict[str, Any] = {}
        self.state = RELEASED
        # op_id -> [state, started_at, completed_at, running_since, run_seconds, good,
        #           scrap{reason: qty}, rework, results, failed_results, last_at]
        self.ops: dict[str, list[Any]] = {}
        self.floor_activity = False
        self.conflicts: dict[str, int] = {}  # field -> version it was (last) raised at
        self.warnings: list[list[Any]] = []  # still relevant: [version, code, reference]
        self.warnings_total = 0
        self.reports = 0
        self.last_activity: str | None = None

    # ------------------------------------------------------------------ persistence

    def dumps(self) -> str:
        return json.dumps(
            [
                self.integration,
                self.order_no,
                self.version,
                self.floor,
                self.state,
                self.ops,
                self.floor_activity,
                self.conflicts,
                self.warnings,
                self.warnings_total,
                self.reports,
                self.last_activity,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> Snapshot:
        s = cls()
        (
            s.integration,
            s.order_no,
            s.version,
            s.floor,
            s.state,
            s.ops,
            s.floor_activity,
            s.conflicts,
            s.warnings,
            s.warnings_total,
            s.reports,
            s.last_activity,
        ) = json.loads(text)
        return s

    # ------------------------------------------------------------------ reading

    @property
    def routing(self) -> list[dict[str, Any]]:
        r: list[dict[str, Any]] = self.floor.get("routing") or []
        return r

    def routing_ids(self) -> list[str]:
        return [str(d["op_id"]) for d in self.routing]

    @property
    def quantity(self) -> Decimal:
        return dec(self.floor.get("quantity", "0"))

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def op(self, op_id: str) -> list[Any]:
        o = self.ops.get(op_id)
        if o is None:
            o = [NOT_STARTED, None, None, None, 0.0, "0", {}, "0", 0, 0, None]
            self.ops[op_id] = o
        return o

    def good_total(self) -> Decimal:
        """Good quantity of the order: that of the last routing operation with any report."""
        for op_id in reversed(self.routing_ids()):
            o = self.ops.get(op_id)
            if o is not None and (dec(o[5]) or o[0] != NOT_STARTED):
                return dec(o[5])
        return sum((dec(o[5]) for o in self.ops.values()), Decimal(0))

    def scrap_by_reason(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for o in self.ops.values():
            for reason, q in o[6].items():
                out[reason] = out.get(reason, Decimal(0)) + dec(q)
        return out

    def rework_total(self) -> Decimal:
        return sum((dec(o[7]) for o in self.ops.values()), Decimal(0))

    def run_seconds(self) -> float:
        return float(sum(o[4] for o in self.ops.values()))

    def standard_minutes(self, op_id: str | None = None) -> Decimal:
        """Standard time in minutes (setup + run time per unit × order quantity)."""
        total = Decimal(0)
        q = self.quantity
        for d in self.routing:
            if op_id is not None and str(d["op_id"]) != op_id:
                continue
            total += dec(d.get("setup_time", "0")) + dec(d.get("run_time_per_unit", "0")) * q
        return total

    def work_centre_of(self, op_id: str) -> str:
        """The work centre (measuring point) of an operation; the order's when it names none."""
        for d in self.routing:
            if str(d["op_id"]) == op_id:
                return str(d.get("work_centre") or self.floor.get("work_centre") or "")
        return str(self.floor.get("work_centre") or "")

    # ------------------------------------------------------------------ folding

    def apply(self, name: str, e: Any) -> list[tuple[int, str]]:
        """Fold one WorkOrder event; returns the warnings it made irrelevant (version, why)."""
        self.version = e.originator_version
        handler = _HANDLERS.get(name)
        before = self.state
        if handler is not None:
            handler(self, e)
        if name == "WarningRaised":
            if e.code == W_RELEASED_AGAIN:
                # The ERP released the order again: its "not released" warnings (and this
                # notice itself) are no longer relevant.
                return self._drop_warnings(
                    lambda w: w[1] in (W_NOT_RELEASED, W_RELEASED_AGAIN),
                    "order released in the ERP again",
                )
            return []
        if name == "WritebackDecided":
            # A supervisor retried or skipped the parked message: its warning has been dealt
            # with (a retry refused again parks it anew, with a new warning).
            return self._drop_warnings(
                lambda w: w[1] == W_WRITEBACK_PARKED and w[2] == str(e.message_key)[:200],
                f"writeback {e.decision} decided",
            )
        return self._clear_warnings(name, before)

    def _drop_warnings(self, which: Any, why: str) -> list[tuple[int, str]]:
        cleared = [(int(w[0]), why) for w in self.warnings if which(w)]
        self.warnings = [w for w in self.warnings if not which(w)]
        return cleared

    def _clear_warnings(self, name: str, before: str) -> list[tuple[int, str]]:
        if not self.warnings:
            return []
        cleared: list[tuple[int, str]] = []
        keep: list[list[Any]] = []
        for w in self.warnings:
            why = self._no_longer_relevant(w[1], w[2], before)
            if why:
                cleared.append((int(w[0]), why))
            else:
                keep.append(w)
        self.warnings = keep
        return cleared

    def _no_longer_relevant(self, code: str, reference: str, before: str) -> str | None:
        """Why a still-relevant warning stops being relevant now, or None.

        - the order was completed on the floor: every warning on it;
        - the order was cancelled: every warning except order_cancelled ones;
        - order_cancelled: the ERP reinstated the order;
        - unknown_operation: the routing now holds the operation;
        - over_quantity: the order quantity now covers the good quantity reported.
        """
        if self.state != before:
            # A parked writeback message stays a warning until it is delivered or skipped,
            # whatever the floor does with the order meanwhile.
            if code == W_WRITEBACK_PARKED:
                return None
            if self.state == O_COMPLETED:
                return "order completed"
            if self.state == CANCELLED and code != W_ORDER_CANCELLED:
                return "order cancelled"
            if before == CANCELLED and code == W_ORDER_CANCELLED:
                return "order reinstated"
        if code == W_UNKNOWN_OPERATION and reference in self.routing_ids():
            return "operation now in the routing"
        if code == W_OVER_QUANTITY:
            o = self.ops.get(reference)
            if o is not None and dec(o[5]) <= self.quantity:
                return "order quantity now covers the good quantity"
        return None


def _released(s: Snapshot, e: Any) -> None:
    s.integration = e.integration
    s.order_no = e.order_no
    s.floor = {
        "part_no": e.part_no,
        "description": e.description,
        "quantity": plain(e.quantity),
        "unit": e.unit,
        "due_date": e.due_date,
        "priority": e.priority,
        "work_centre": e.work_centre,
        "routing": plain(list(e.routing)),
        "status": "released",
    }
    s.state = RELEASED


def _changed(s: Snapshot, e: Any) -> None:
    for c in e.changes:
        s.floor[c["field"]] = plain(c["new"])
    if s.floor.get("status") == "released" and s.state == CANCELLED:
        s.state = IN_PROGRESS if s.floor_activity else RELEASED


def _cancelled(s: Snapshot, e: Any) -> None:
    s.floor["status"] = "cancelled"
    s.state = CANCELLED


def _floor(s: Snapshot, e: Any) -> str:
    s.floor_activity = True
    if s.state == RELEASED:
        s.state = IN_PROGRESS
    at = iso(e.occurred_at)
    assert at is not None
    s.last_activity = at
    return at


def _started(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[0] = RUNNING
    o[1] = o[1] or at
    o[3] = at
    o[10] = at


def _paused(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[4] += _seconds(o[3], at)
    o[3] = None
    o[0] = PAUSED
    o[10] = at


def _resumed(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[0] = RUNNING
    o[3] = at
    o[10] = at


def _quantity(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[5] = dstr(dec(o[5]) + e.good)
    o[7] = dstr(dec(o[7]) + e.rework)
    if e.scrap:
        reason = e.scrap_reason or ""
        o[6][reason] = dstr(dec(o[6].get(reason, "0")) + e.scrap)
    o[10] = at


def _result(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[8] += 1
    if e.passed is False:
        o[9] += 1
    o[10] = at


def _op_completed(s: Snapshot, e: Any) -> None:
    at = _floor(s, e)
    o = s.op(e.op_id)
    o[4] += _seconds(o[3], at)
    o[3] = None
    o[0] = COMPLETED
    o[2] = at
    o[10] = at


def _order_completed(s: Snapshot, e: Any) -> None:
    _floor(s, e)
    if s.state != CANCELLED:
        s.state = O_COMPLETED


def _report(s: Snapshot, e: Any) -> None:
    _floor(s, e)
    s.reports += 1


def _conflict_raised(s: Snapshot, e: Any) -> None:
    s.conflicts[e.field] = e.originator_version


def _conflict_withdrawn(s: Snapshot, e: Any) -> None:
    s.conflicts.pop(e.field, None)


def _conflict_resolved(s: Snapshot, e: Any) -> None:
    s.conflicts.pop(e.field, None)
    if e.resolution == "accept_erp":
        s.floor[e.field] = plain(e.erp_value)
        if e.field == "status" and e.erp_value == "cancelled":
            s.state = CANCELLED
        elif e.field == "status" and s.state == CANCELLED:
            s.state = IN_PROGRESS if s.floor_activity else RELEASED
    elif e.resolution == "cancel":
        s.floor["status"] = "cancelled"
        s.state = CANCELLED


def _warning(s: Snapshot, e: Any) -> None:
    s.warnings_total += 1
    s.warnings.append([e.originator_version, e.code, e.reference])


_HANDLERS: dict[str, Any] = {
    "Released": _released,
    "ChangedInErp": _changed,
    "CancelledInErp": _cancelled,
    "OperationStarted": _started,
    "OperationPaused": _paused,
    "OperationResumed": _resumed,
    "QuantityReported": _quantity,
    "ResultRecorded": _result,
    "OperationCompleted": _op_completed,
    "OrderCompleted": _order_completed,
    "ReportSubmitted": _report,
    "ConflictRaised": _conflict_raised,
    "ConflictWithdrawn": _conflict_withdrawn,
    "ConflictResolved": _conflict_resolved,
    "WarningRaised": _warning,
}
