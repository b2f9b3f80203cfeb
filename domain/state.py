"""One order state machine: the state of a works order, and how each of its events changes it.

The :class:`OrderFold` holds everything the ledger knows about one order — the ERP's values and
the floor's, each operation's progress, open conflicts, still-relevant warnings, report-script
rows — and :meth:`OrderFold.fold` applies one ``WorkOrder`` event to it. The rule for each
event is found by the event's class in :data:`RULES` (one function per class, below). The
``WorkOrder`` aggregate, every view and the writeback message builder fold through this one
definition; none of them keeps its own copy.

To add an event: declare its class on ``WorkOrder`` (domain/workorder.py), write its rule here
and add it to :func:`_rules`. ``tests/unit/test_architecture.py`` fails if a view or the
writeback builds its own per-event table again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class OrderState(StrEnum):
    RELEASED = "released"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OperationState(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"


# Order states in which the floor still works on an order (the plan shows these).
OPEN_STATES = frozenset({OrderState.RELEASED, OrderState.IN_PROGRESS})

# Warning codes raised by floor actions (warn, don't block).
W_UNKNOWN_OPERATION = "unknown_operation"
W_OVER_QUANTITY = "over_quantity"
W_ORDER_CANCELLED = "order_cancelled"
W_ORDER_COMPLETED = "order_completed"
W_ERP_QUANTITY_PENDING = "erp_quantity_pending"
# A floor action recorded well after the time it names (domain/floortime.py); it stays open
# until a supervisor acknowledges it, or the order is completed or cancelled.
W_BACKDATED = "backdated"
# Warning codes raised by adapters that the relevance rules know about.
W_NOT_RELEASED = "not_released_in_erp"
W_RELEASED_AGAIN = "released_in_erp"
W_WRITEBACK_PARKED = "writeback_parked"


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def iso(value: datetime | None) -> str | None:
    """A time as the sortable ISO-8601 text the views and messages show (UTC, microseconds)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def dstr(value: Decimal) -> str:
    """A decimal as its canonical text (5, 5.0 and 5.00 all give "5")."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.normalize())


def dec(value: Any) -> Decimal:
    """A decimal from a decimal, a number or its text."""
    return _dec(value)


def _elapsed(since: datetime | None, until: datetime) -> float:
    if since is None:
        return 0.0
    return max(0.0, (until - since).total_seconds())


def _bounded_run(run: float, more: float, started_at: datetime | None, until: datetime) -> float:
    """Run time ``run`` plus ``more``, never above the wall time from the operation's first
    start to ``until`` (nor above ``run`` when ``until`` is earlier than an earlier bound):
    intervals that overlap, because times were given out of order, are not counted twice."""
    return min(run + more, max(run, _elapsed(started_at, until)))


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class OperationProgress:
    """The floor's state of one operation (derived from events, never stored as such)."""

    op_id: str
    in_routing: bool
    state: OperationState = OperationState.NOT_STARTED
    started_at: datetime | None = None
    completed_at: datetime | None = None
    running_since: datetime | None = None
    run_seconds: float = 0.0
    good: Decimal = Decimal(0)
    scrap: dict[str, Decimal] = field(default_factory=dict)
    rework: Decimal = Decimal(0)
    results: int = 0
    failed_results: int = 0
    last_activity: datetime | None = None

    @property
    def scrap_total(self) -> Decimal:
        return sum(self.scrap.values(), Decimal(0))

    @property
    def touched(self) -> bool:
        """Whether the floor recorded anything on this operation."""
        return self.last_activity is not None

    def run_seconds_at(self, at: datetime | None) -> float:
        """Run time without pauses, counting a running operation up to ``at``."""
        if self.running_since is None or at is None:
            return self.run_seconds
        return _bounded_run(self.run_seconds, _elapsed(self.running_since, at), self.started_at, at)

    def to_dict(self) -> dict[str, Any]:
        """Named keys; values still at their defaults are left out (smaller view rows)."""
        d: dict[str, Any] = {"op_id": self.op_id, "in_routing": self.in_routing}
        if self.state is not OperationState.NOT_STARTED:
            d["state"] = self.state.value
        for key in ("started_at", "completed_at", "running_since", "last_activity"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value.isoformat()
        if self.run_seconds:
            d["run_seconds"] = self.run_seconds
        if self.good:
            d["good"] = str(self.good)
        if self.scrap:
            d["scrap"] = {k: str(v) for k, v in self.scrap.items()}
        if self.rework:
            d["rework"] = str(self.rework)
        if self.results:
            d["results"] = self.results
        if self.failed_results:
            d["failed_results"] = self.failed_results
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OperationProgress:
        """The progress :meth:`to_dict` wrote."""
        get = d.get
        return cls(
            op_id=d["op_id"],
            in_routing=d["in_routing"],
            state=OperationState(get("state", "not_started")),
            started_at=_parse_time(get("started_at")),
            completed_at=_parse_time(get("completed_at")),
            running_since=_parse_time(get("running_since")),
            run_seconds=float(get("run_seconds", 0.0)),
            good=Decimal(get("good", 0)),
            scrap={k: Decimal(v) for k, v in get("scrap", {}).items()},
            rework=Decimal(get("rework", 0)),
            results=int(get("results", 0)),
            failed_results=int(get("failed_results", 0)),
            last_activity=_parse_time(get("last_activity")),
        )


@dataclass(slots=True)
class OpenConflict:
    """An ERP change the floor has not settled: the ERP's value beside the floor's."""

    field: str
    erp_value: Any
    floor_value: Any
    raised_at: datetime
    raised_version: int


@dataclass(frozen=True, slots=True)
class OpenWarning:
    """A warning on the order that is still relevant (raised at ``version``)."""

    version: int
    code: str
    reference: str


@dataclass(frozen=True, slots=True)
class ClearedWarning:
    """A warning that stopped being relevant, and why."""

    version: int
    reason: str


@dataclass(frozen=True, slots=True)
class ScriptEntry:
    """A report-script row an event created: what to key into the ERP by hand."""

    row_id: str
    kind: str  # "report" or "operation"
    op_id: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float
    good: Decimal
    scrap: dict[str, Decimal]
    rework: Decimal
    note: str


@dataclass(frozen=True, slots=True)
class ConflictChange:
    """What an event did to the conflict on one field: raised (or replaced), withdrawn or
    resolved (with the supervisor's resolution and note)."""

    field: str
    outcome: str  # "raised", "withdrawn" or "resolved"
    erp_value: Any
    floor_value: Any = None
    resolution: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What folding one event did besides updating the state, for views that keep history."""

    cleared: tuple[ClearedWarning, ...] = ()
    raised: OpenWarning | None = None
    script_row: ScriptEntry | None = None
    keyed_row: str | None = None
    conflict: ConflictChange | None = None


NO_CHANGE = Change()


# ERP fields whose values are decimals (everything else the ERP sends is JSON as it is).
_DECIMAL_FIELDS = frozenset({"quantity"})


def _erp_to_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k in _DECIMAL_FIELDS and v is not None else v) for k, v in values.items()}


def _erp_from_json(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (Decimal(v) if k in _DECIMAL_FIELDS and v is not None else v) for k, v in values.items()
    }


def _value_to_json(field_name: str, value: Any) -> Any:
    return str(value) if field_name in _DECIMAL_FIELDS and value is not None else value


def _value_from_json(field_name: str, value: Any) -> Any:
    return Decimal(value) if field_name in _DECIMAL_FIELDS and value is not None else value


@dataclass(slots=True)
class OrderFold:
    """The state of one works order, folded from its events."""

    integration: str = ""
    order_no: str = ""
    version: int = 0
    erp: dict[str, Any] = field(default_factory=dict)
    floor: dict[str, Any] = field(default_factory=dict)
    unit_factors: dict[str, Decimal] = field(default_factory=dict)
    state: OrderState = OrderState.RELEASED
    operations: dict[str, OperationProgress] = field(default_factory=dict)
    floor_activity: bool = False
    conflicts: dict[str, OpenConflict] = field(default_factory=dict)
    open_warnings: list[OpenWarning] = field(default_factory=list)
    warnings_total: int = 0
    script_rows: dict[str, bool] = field(default_factory=dict)
    reports: int = 0
    last_activity: datetime | None = None

    # ------------------------------------------------------------------ reading

    @property
    def quantity(self) -> Decimal:
        return _dec(self.floor.get("quantity", 0))

    @property
    def unit(self) -> str:
        return str(self.floor.get("unit") or "")

    @property
    def routing(self) -> list[dict[str, Any]]:
        r: list[dict[str, Any]] = self.floor.get("routing") or []
        return r

    def routing_ids(self) -> list[str]:
        return [str(d["op_id"]) for d in self.routing]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def progress(self, op_id: str) -> OperationProgress:
        """The progress of an operation, tracked even when it is not in the routing."""
        op = self.operations.get(op_id)
        if op is None:
            op = OperationProgress(op_id=op_id, in_routing=op_id in self.routing_ids())
            self.operations[op_id] = op
        return op

    def progress_state(self, op_id: str) -> OperationState:
        op = self.operations.get(op_id)
        return op.state if op else OperationState.NOT_STARTED

    def sync_routing(self) -> None:
        """Track every routing operation; mark the others as outside the routing."""
        ids = self.routing_ids()
        for op_id in ids:
            if op_id not in self.operations:
                self.operations[op_id] = OperationProgress(op_id=op_id, in_routing=True)
        known = set(ids)
        for op_id, op in self.operations.items():
            op.in_routing = op_id in known

    def good_total(self) -> Decimal:
        """Good quantity of the order: that of the last routing operation with any report."""
        for op_id in reversed(self.routing_ids()):
            op = self.operations.get(op_id)
            if op is not None and (op.good or op.state != OperationState.NOT_STARTED):
                return op.good
        return sum((op.good for op in self.operations.values()), Decimal(0))

    def scrap_by_reason(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for op in self.operations.values():
            for reason, q in op.scrap.items():
                out[reason] = out.get(reason, Decimal(0)) + q
        return out

    def rework_total(self) -> Decimal:
        return sum((op.rework for op in self.operations.values()), Decimal(0))

    def run_seconds(self) -> float:
        return float(sum(op.run_seconds for op in self.operations.values()))

    def standard_times(self, op_id: str) -> tuple[Decimal, Decimal]:
        """An operation's standard setup time and run time per unit, in minutes."""
        for d in self.routing:
            if str(d["op_id"]) == op_id:
                return _dec(d.get("setup_time", 0)), _dec(d.get("run_time_per_unit", 0))
        return Decimal(0), Decimal(0)

    def standard_minutes(self, op_id: str | None = None) -> Decimal:
        """Standard time in minutes (setup + run time per unit × order quantity)."""
        total = Decimal(0)
        q = self.quantity
        for d in self.routing:
            if op_id is not None and str(d["op_id"]) != op_id:
                continue
            total += _dec(d.get("setup_time", 0)) + _dec(d.get("run_time_per_unit", 0)) * q
        return total

    def work_centre_of(self, op_id: str) -> str:
        """The work centre (measuring point) of an operation; the order's when it names none."""
        for d in self.routing:
            if str(d["op_id"]) == op_id:
                return str(d.get("work_centre") or self.floor.get("work_centre") or "")
        return str(self.floor.get("work_centre") or "")

    # ------------------------------------------------------------------ folding

    def fold(self, event: Any) -> Change:
        """Apply one WorkOrder event; returns what else it did (warnings cleared, rows…)."""
        self.version = event.originator_version
        rules = RULES or _load_rules()
        rule = rules.get(type(event))
        before = self.state
        change = rule(self, event) if rule is not None else None
        if change is not None and change.raised is not None:
            return change  # a new warning is relevant when raised
        cleared = self._clear_warnings(before) if self.open_warnings else ()
        if not cleared:
            return change or NO_CHANGE
        if change is None:
            return Change(cleared=cleared)
        return Change(
            change.cleared + cleared, None, change.script_row, change.keyed_row, change.conflict
        )

    def _clear_warnings(self, before: OrderState) -> tuple[ClearedWarning, ...]:
        cleared: list[ClearedWarning] = []
        keep: list[OpenWarning] = []
        for w in self.open_warnings:
            why = self.no_longer_relevant(w.code, w.reference, before)
            if why:
                cleared.append(ClearedWarning(w.version, why))
            else:
                keep.append(w)
        if cleared:
            self.open_warnings = keep
        return tuple(cleared)

    def no_longer_relevant(self, code: str, reference: str, before: OrderState) -> str | None:
        """Why a still-relevant warning stops being relevant now (``before`` the order's state
        before the event), or None.

        - the order was completed on the floor: every warning on it;
        - the order was cancelled: every warning except order_cancelled ones;
        - order_cancelled: the ERP reinstated the order, or a supervisor kept the floor's
          status when the ERP's cancellation was pending;
        - erp_quantity_pending: the ERP's quantity change is no longer open;
        - unknown_operation: the routing now holds the operation;
        - over_quantity: the order quantity now covers the good quantity reported;
        - writeback_parked stays whatever the order's state does, until a supervisor's
          decision on that message (or its delivery) settles it;
        - not_released_in_erp: when the ERP releases the order again (released_in_erp).
        """
        if code == W_WRITEBACK_PARKED:
            return None
        if self.state != before:
            if self.state == OrderState.COMPLETED:
                return "order completed"
            if self.state == OrderState.CANCELLED and code != W_ORDER_CANCELLED:
                return "order cancelled"
            if before == OrderState.CANCELLED and code == W_ORDER_CANCELLED:
                return "order reinstated"
        cancellation_open = "status" in self.conflicts
        if (
            code == W_ORDER_CANCELLED
            and self.state != OrderState.CANCELLED
            and not cancellation_open
        ):
            return "cancellation not accepted"
        if code == W_ERP_QUANTITY_PENDING and "quantity" not in self.conflicts:
            return "ERP quantity change settled"
        if code == W_UNKNOWN_OPERATION and reference in self.routing_ids():
            return "operation now in the routing"
        if code == W_OVER_QUANTITY:
            op = self.operations.get(reference)
            if op is not None and op.good <= self.quantity:
                return "order quantity now covers the good quantity"
        return None

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """The state as a JSON object with named keys (decimals as strings, times ISO-8601)."""
        return {
            "integration": self.integration,
            "order_no": self.order_no,
            "version": self.version,
            # the ERP's values are written only when they differ from the floor's
            "erp": None if self.erp == self.floor else _erp_to_json(self.erp),
            "floor": _erp_to_json(self.floor),
            "unit_factors": {k: str(v) for k, v in self.unit_factors.items()},
            "state": self.state.value,
            "operations": {k: op.to_dict() for k, op in self.operations.items()},
            "floor_activity": self.floor_activity,
            "conflicts": {
                k: {
                    "field": c.field,
                    "erp_value": _value_to_json(c.field, c.erp_value),
                    "floor_value": _value_to_json(c.field, c.floor_value),
                    "raised_at": c.raised_at.isoformat(),
                    "raised_version": c.raised_version,
                }
                for k, c in self.conflicts.items()
            },
            "open_warnings": [
                {"version": w.version, "code": w.code, "reference": w.reference}
                for w in self.open_warnings
            ],
            "warnings_total": self.warnings_total,
            "script_rows": self.script_rows,
            "reports": self.reports,
            "last_activity": _time(self.last_activity),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderFold:
        """The state :meth:`to_dict` wrote."""
        floor = _erp_from_json(d["floor"])
        return cls(
            integration=d["integration"],
            order_no=d["order_no"],
            version=int(d["version"]),
            erp=dict(floor) if d["erp"] is None else _erp_from_json(d["erp"]),
            floor=floor,
            unit_factors={k: Decimal(v) for k, v in d["unit_factors"].items()},
            state=OrderState(d["state"]),
            operations={k: OperationProgress.from_dict(v) for k, v in d["operations"].items()},
            floor_activity=bool(d["floor_activity"]),
            conflicts={
                k: OpenConflict(
                    field=c["field"],
                    erp_value=_value_from_json(c["field"], c["erp_value"]),
                    floor_value=_value_from_json(c["field"], c["floor_value"]),
                    raised_at=datetime.fromisoformat(c["raised_at"]),
                    raised_version=int(c["raised_version"]),
                )
                for k, c in d["conflicts"].items()
            },
            open_warnings=[
                OpenWarning(int(w["version"]), w["code"], w["reference"])
                for w in d["open_warnings"]
            ],
            warnings_total=int(d["warnings_total"]),
            script_rows={k: bool(v) for k, v in d["script_rows"].items()},
            reports=int(d["reports"]),
            last_activity=_parse_time(d["last_activity"]),
        )


# ---------------------------------------------------------------------- the rules, one per event

Rule = Callable[[OrderFold, Any], Change | None]


def _released(s: OrderFold, e: Any) -> None:
    s.integration = e.integration
    s.order_no = e.order_no
    s.erp = {
        "part_no": e.part_no,
        "description": e.description,
        "quantity": e.quantity,
        "unit": e.unit,
        "due_date": e.due_date,
        "priority": e.priority,
        "work_centre": e.work_centre,
        "routing": list(e.routing),
        "status": "released",
    }
    s.floor = dict(s.erp)
    s.unit_factors = dict(e.unit_factors)
    s.state = OrderState.RELEASED
    s.operations = {}
    s.sync_routing()
    s.floor_activity = False
    s.conflicts = {}
    s.open_warnings = []
    s.warnings_total = 0
    s.script_rows = {}
    s.reports = 0
    s.last_activity = None


def _reinstated(s: OrderFold) -> None:
    """The ERP (or a supervisor agreeing with it) released a cancelled order again."""
    s.state = OrderState.IN_PROGRESS if s.floor_activity else OrderState.RELEASED


def _changed_in_erp(s: OrderFold, e: Any) -> None:
    for c in e.changes:
        s.erp[c["field"]] = c["new"]
        s.floor[c["field"]] = c["new"]
    if s.floor["status"] == "released" and s.state == OrderState.CANCELLED:
        _reinstated(s)
    s.sync_routing()


def _cancelled_in_erp(s: OrderFold, e: Any) -> None:
    s.erp["status"] = "cancelled"
    s.floor["status"] = "cancelled"
    s.state = OrderState.CANCELLED


def _floor(s: OrderFold, e: Any) -> None:
    s.floor_activity = True
    if s.state == OrderState.RELEASED:
        s.state = OrderState.IN_PROGRESS
    s.last_activity = e.occurred_at


def _floor_op(s: OrderFold, e: Any) -> OperationProgress:
    _floor(s, e)
    op = s.progress(e.op_id)
    op.last_activity = e.occurred_at
    return op


def _operation_started(s: OrderFold, e: Any) -> None:
    op = _floor_op(s, e)
    op.state = OperationState.RUNNING
    op.started_at = op.started_at or e.occurred_at
    op.running_since = e.occurred_at


def _operation_paused(s: OrderFold, e: Any) -> None:
    op = _floor_op(s, e)
    op.run_seconds = _bounded_run(
        op.run_seconds, _elapsed(op.running_since, e.occurred_at), op.started_at, e.occurred_at
    )
    op.running_since = None
    op.state = OperationState.PAUSED


def _operation_resumed(s: OrderFold, e: Any) -> None:
    op = _floor_op(s, e)
    op.state = OperationState.RUNNING
    op.running_since = e.occurred_at


def _quantity_reported(s: OrderFold, e: Any) -> None:
    op = _floor_op(s, e)
    op.good += e.good
    op.rework += e.rework
    if e.scrap:
        reason = e.scrap_reason or ""
        op.scrap[reason] = op.scrap.get(reason, Decimal(0)) + e.scrap


def _result_recorded(s: OrderFold, e: Any) -> None:
    op = _floor_op(s, e)
    op.results += 1
    if e.passed is False:
        op.failed_results += 1


def _operation_completed(s: OrderFold, e: Any) -> Change:
    op = _floor_op(s, e)
    op.run_seconds = _bounded_run(
        op.run_seconds, _elapsed(op.running_since, e.occurred_at), op.started_at, e.occurred_at
    )
    op.running_since = None
    op.state = OperationState.COMPLETED
    op.completed_at = e.occurred_at
    row_id = f"op:{e.op_id}:{e.originator_version}"
    s.script_rows[row_id] = False
    return Change(
        script_row=ScriptEntry(
            row_id=row_id,
            kind="operation",
            op_id=e.op_id,
            started_at=op.started_at or op.completed_at,
            ended_at=op.completed_at,
            duration_s=op.run_seconds,
            good=op.good,
            scrap=dict(op.scrap),
            rework=op.rework,
            note="",
        )
    )


def _order_completed(s: OrderFold, e: Any) -> None:
    _floor(s, e)
    if s.state != OrderState.CANCELLED:
        s.state = OrderState.COMPLETED


def _report_submitted(s: OrderFold, e: Any) -> Change:
    _floor(s, e)
    row_id = f"report:{e.report_id}"
    s.script_rows[row_id] = False
    s.reports += 1
    return Change(
        script_row=ScriptEntry(
            row_id=row_id,
            kind="report",
            op_id=e.op_id,
            started_at=e.started_at,
            ended_at=e.ended_at,
            duration_s=_elapsed(e.started_at, e.ended_at),
            good=e.good,
            scrap={str(k): _dec(v) for k, v in e.scrap.items()},
            rework=e.rework,
            note=e.note,
        )
    )


def _row_keyed(s: OrderFold, e: Any) -> Change:
    s.script_rows[e.row_id] = True
    return Change(keyed_row=e.row_id)


def _conflict_raised(s: OrderFold, e: Any) -> Change:
    s.erp[e.field] = e.erp_value
    s.conflicts[e.field] = OpenConflict(
        field=e.field,
        erp_value=e.erp_value,
        floor_value=e.floor_value,
        raised_at=e.timestamp,
        raised_version=e.originator_version,
    )
    return Change(conflict=ConflictChange(e.field, "raised", e.erp_value, e.floor_value))


def _conflict_withdrawn(s: OrderFold, e: Any) -> Change:
    s.erp[e.field] = e.erp_value
    s.conflicts.pop(e.field, None)
    return Change(conflict=ConflictChange(e.field, "withdrawn", e.erp_value))


def _conflict_resolved(s: OrderFold, e: Any) -> Change:
    s.conflicts.pop(e.field, None)
    if e.resolution == "accept_erp":
        s.floor[e.field] = e.erp_value
        if e.field == "status" and e.erp_value == "cancelled":
            s.state = OrderState.CANCELLED
        elif e.field == "status" and s.state == OrderState.CANCELLED:
            _reinstated(s)
        s.sync_routing()
    elif e.resolution == "cancel":
        s.floor["status"] = "cancelled"
        s.state = OrderState.CANCELLED
    return Change(
        conflict=ConflictChange(
            e.field, "resolved", e.erp_value, e.floor_value, e.resolution, e.note
        )
    )


def _warning_raised(s: OrderFold, e: Any) -> Change:
    s.warnings_total += 1
    w = OpenWarning(e.originator_version, e.code, e.reference)
    if e.code == W_RELEASED_AGAIN:
        # The ERP released the order again: its "not released" warnings, and this notice
        # itself, are settled.
        return Change(
            cleared=(
                *_drop_warnings(s, lambda o: o.code in (W_NOT_RELEASED, W_RELEASED_AGAIN),
                                "order released in the ERP again"),
                ClearedWarning(w.version, "order released in the ERP again"),
            ),
            raised=w,
        )  # fmt: skip
    s.open_warnings.append(w)
    return Change(raised=w)


def _writeback_decided(s: OrderFold, e: Any) -> Change:
    """A supervisor retried or skipped a parked message: its warning is dealt with (a retry
    refused again parks it anew, with a new warning)."""
    key = str(e.message_key)[:200]
    return Change(
        cleared=_drop_warnings(
            s,
            lambda o: o.code == W_WRITEBACK_PARKED and o.reference == key,
            f"writeback {e.decision} decided",
        )
    )


def _warning_acknowledged(s: OrderFold, e: Any) -> Change:
    """A supervisor acknowledged a warning: it is no longer open."""
    why = f"acknowledged by {e.actor_id}" + (f": {e.note}" if e.note else "")
    return Change(cleared=_drop_warnings(s, lambda o: o.version == e.warning_version, why))


def _drop_warnings(
    s: OrderFold, which: Callable[[OpenWarning], bool], why: str
) -> tuple[ClearedWarning, ...]:
    cleared = tuple(ClearedWarning(o.version, why) for o in s.open_warnings if which(o))
    if cleared:
        s.open_warnings = [o for o in s.open_warnings if not which(o)]
    return cleared


RULES: dict[type, Rule] = {}


def _load_rules() -> dict[type, Rule]:
    """The rule of each WorkOrder event class (filled on first use: the classes import us)."""
    from domain.workorder import WorkOrder

    RULES.update(
        {
            WorkOrder.Released: _released,
            WorkOrder.ChangedInErp: _changed_in_erp,
            WorkOrder.CancelledInErp: _cancelled_in_erp,
            WorkOrder.OperationStarted: _operation_started,
            WorkOrder.OperationPaused: _operation_paused,
            WorkOrder.OperationResumed: _operation_resumed,
            WorkOrder.QuantityReported: _quantity_reported,
            WorkOrder.ResultRecorded: _result_recorded,
            WorkOrder.OperationCompleted: _operation_completed,
            WorkOrder.OrderCompleted: _order_completed,
            WorkOrder.ReportSubmitted: _report_submitted,
            WorkOrder.RowKeyed: _row_keyed,
            WorkOrder.ConflictRaised: _conflict_raised,
            WorkOrder.ConflictWithdrawn: _conflict_withdrawn,
            WorkOrder.ConflictResolved: _conflict_resolved,
            WorkOrder.WarningRaised: _warning_raised,
            WorkOrder.WritebackDecided: _writeback_decided,
            WorkOrder.WarningAcknowledged: _warning_acknowledged,
            # ReportTriggered changes nothing but the version.
        }
    )
    return RULES


def conflict_change(event: Any) -> ConflictChange | None:
    """What an event does to a conflict, without the order's state (for the conflicts view)."""
    rule = (RULES or _load_rules()).get(type(event))
    if rule not in (_conflict_raised, _conflict_withdrawn, _conflict_resolved):
        return None
    change = rule(OrderFold(), event)
    return change.conflict if change is not None else None
