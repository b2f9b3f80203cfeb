"""The WorkOrder aggregate: one per ERP works order, with all the ERP and the floor did to it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.utils import get_topic

from domain.chain import ChainedAggregate
from domain.errors import (
    ConflictNotFoundError,
    InvalidValueError,
    OperationStateError,
    OrderStateError,
    RowNotFoundError,
)
from domain.floortime import MAX_CLOCK_SKEW, FloorTimes, span
from domain.state import (
    W_BACKDATED,
    W_ERP_QUANTITY_PENDING,
    W_ORDER_CANCELLED,
    W_ORDER_COMPLETED,
    W_OVER_QUANTITY,
    W_UNKNOWN_OPERATION,
    OpenConflict,
    OperationProgress,
    OperationState,
    OrderFold,
    OrderState,
)
from domain.values import (
    Actor,
    ErpOperation,
    ErpOrder,
    canonical,
    measured,
    order_id_for,
    quantity,
    text,
    unit_factor,
)


class Resolution(StrEnum):
    """How a supervisor settles a conflict."""

    ACCEPT_ERP = "accept_erp"
    KEEP_FLOOR = "keep_floor"
    CANCEL = "cancel"


# ERP-owned fields, in the order they are compared. "status" is released or cancelled.
ERP_FIELDS = (
    "part_no",
    "description",
    "quantity",
    "unit",
    "due_date",
    "priority",
    "work_centre",
    "routing",
    "status",
)

DEFAULT_TIMES = FloorTimes()


def _floor_time(
    field_name: str, value: datetime | None, now: datetime, times: FloorTimes
) -> tuple[datetime, timedelta]:
    """The time a floor action happened (``now`` when not given) and how far back from now it
    lies; refused when not a zoned time or outside the window of ``times``."""
    # the commands' and the API's name for when it happened on the floor is ``at``
    field_name = "at" if field_name == "occurred_at" else field_name
    if value is None:
        return now, timedelta(0)
    if not isinstance(value, datetime):
        raise InvalidValueError(field_name, value, "must be a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError(field_name, value.isoformat(), "must carry a time zone")
    return value, times.checked(field_name, value, now)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


class WorkOrder(ChainedAggregate):
    """A works order released by the ERP and worked on the floor."""

    class Event(ChainedAggregate.Event):
        integration: str
        order_no: str

        def summary(self) -> str:
            return type(self).__name__

        def details(self) -> dict[str, Any]:
            skip = {
                "originator_id",
                "originator_version",
                "timestamp",
                "originator_topic",
                "actor_id",
                "actor_role",
                "source",
                "chain_hash",
                "integration",
                "order_no",
            }
            return {k: v for k, v in vars(self).items() if k not in skip}

        def apply(self, aggregate: Any) -> None:
            """How the event changes the order: the one fold in domain/state.py."""
            aggregate.folded.fold(self)

    # ---------------------------------------------------------------- ERP events

    class Released(Event, ChainedAggregate.Created):
        """The ERP released the order to the floor."""

        part_no: str
        description: str
        quantity: Decimal
        unit: str
        due_date: str | None
        priority: int
        work_centre: str
        routing: list[dict[str, Any]]
        unit_factors: dict[str, Decimal]

        def summary(self) -> str:
            return (
                f"released by the ERP: {self.quantity} {self.unit} of {self.part_no}, "
                f"{len(self.routing)} operation(s)"
            )

    class ChangedInErp(Event):
        """The ERP changed the order and the change applies directly (no floor activity yet,
        or the ERP now agrees with what the floor already has)."""

        changes: list[dict[str, Any]]

        def summary(self) -> str:
            parts = [f"{c['field']} {c['old']!s} → {c['new']!s}" for c in self.changes]
            return "changed in the ERP: " + "; ".join(parts)

    class CancelledInErp(Event):
        """The ERP cancelled an order with no floor activity."""

        reason: str

        def summary(self) -> str:
            return "cancelled in the ERP" + (f": {self.reason}" if self.reason else "")

    # ---------------------------------------------------------------- floor events

    class FloorEvent(Event):
        occurred_at: datetime

    class OperationStarted(FloorEvent):
        """An operator started an operation."""

        op_id: str

        def summary(self) -> str:
            return f"operation {self.op_id} started"

    class OperationPaused(FloorEvent):
        """An operator paused a running operation, giving a stop reason."""

        op_id: str
        reason_code: str

        def summary(self) -> str:
            return f"operation {self.op_id} paused ({self.reason_code})"

    class OperationResumed(FloorEvent):
        """An operator resumed a paused operation."""

        op_id: str

        def summary(self) -> str:
            return f"operation {self.op_id} resumed"

    class QuantityReported(FloorEvent):
        """Good, scrap and rework quantities reported on an operation (in the order's unit)."""

        op_id: str
        good: Decimal
        scrap: Decimal
        scrap_reason: str | None
        rework: Decimal
        reported_unit: str
        factor: Decimal

        def summary(self) -> str:
            parts = [f"good {self.good}"]
            if self.scrap:
                parts.append(f"scrap {self.scrap} ({self.scrap_reason})")
            if self.rework:
                parts.append(f"rework {self.rework}")
            return f"operation {self.op_id} reported " + ", ".join(parts)

    class ResultRecorded(FloorEvent):
        """A quality result: pass/fail, characteristic and measured value, serial or batch."""

        op_id: str
        passed: bool | None
        characteristic: str
        measured_value: Decimal | None
        unit: str
        serial: str
        batch: str

        def summary(self) -> str:
            verdict = {True: "pass", False: "fail", None: "recorded"}[self.passed]
            what = self.characteristic or "result"
            extra = "".join(
                [
                    f" = {self.measured_value}{(' ' + self.unit) if self.unit else ''}"
                    if self.measured_value is not None
                    else "",
                    f", serial {self.serial}" if self.serial else "",
                    f", batch {self.batch}" if self.batch else "",
                ]
            )
            return f"operation {self.op_id} {what}: {verdict}{extra}"

    class OperationCompleted(FloorEvent):
        """An operator completed an operation."""

        op_id: str

        def summary(self) -> str:
            return f"operation {self.op_id} completed"

    class OrderCompleted(FloorEvent):
        """The floor completed the order."""

        def summary(self) -> str:
            return "order completed on the floor"

    class ReportSubmitted(FloorEvent):
        """An operator's report of times and amounts for the ERP."""

        report_id: str
        op_id: str
        started_at: datetime
        ended_at: datetime
        good: Decimal
        scrap: dict[str, Decimal]
        rework: Decimal
        note: str

        def summary(self) -> str:
            minutes = (self.ended_at - self.started_at).total_seconds() / 60
            return (
                f"report {self.report_id} for operation {self.op_id}: {minutes:.1f} min, "
                f"good {self.good}, scrap {sum(self.scrap.values(), Decimal(0))}, "
                f"rework {self.rework}"
            )

    class RowKeyed(Event):
        """A report-script row was keyed into the ERP by hand."""

        row_id: str

        def summary(self) -> str:
            return f"report-script row {self.row_id} marked as keyed into the ERP"

    class WritebackDecided(Event):
        """A supervisor decided about a message the ERP refused: send it again, or skip it,
        with a note (``note`` was added later with a default: events stored before it decode
        with an empty note and keep their hash, see ``domain.chain.hashed_fields``)."""

        destination: str
        decision: str
        message_key: str
        reason: str
        note: str = ""

        def summary(self) -> str:
            verb = "send again" if self.decision == "retry" else "skip"
            return (
                f"writeback to {self.destination}: chose to {verb} the refused message "
                f"{self.message_key} (refused: {self.reason})"
                + (f" — {self.note}" if self.note else "")
            )

    class ReportTriggered(Event):
        """An operator or supervisor asked for a submitted report to be sent to the ERP now."""

        report_id: str

        def summary(self) -> str:
            return f"report {self.report_id} sent to the ERP on request"

    # ---------------------------------------------------------------- conflicts and warnings

    class ConflictRaised(Event):
        """The ERP changed a field of an order already started; the floor keeps its value."""

        field: str
        erp_value: Any
        floor_value: Any
        replaced_erp_value: Any

        def summary(self) -> str:
            return (
                f"conflict on {self.field}: ERP says {_short(self.erp_value)}, "
                f"floor has {_short(self.floor_value)}"
            )

    class ConflictWithdrawn(Event):
        """The ERP changed the field back to the floor's value; the conflict closes by itself."""

        field: str
        erp_value: Any

        def summary(self) -> str:
            back = _short(self.erp_value)
            return f"conflict on {self.field} withdrawn: the ERP is back to {back}"

    class ConflictResolved(Event):
        """A supervisor settled a conflict: accept the ERP change, keep the floor values, cancel."""

        field: str
        resolution: str
        note: str
        erp_value: Any
        floor_value: Any

        def summary(self) -> str:
            how = {
                Resolution.ACCEPT_ERP: f"accepted the ERP value {_short(self.erp_value)}",
                Resolution.KEEP_FLOOR: f"kept the floor value {_short(self.floor_value)}",
                Resolution.CANCEL: "cancelled the order",
            }[Resolution(self.resolution)]
            return f"conflict on {self.field} resolved: {how}" + (
                f" — {self.note}" if self.note else ""
            )

    class WarningRaised(Event):
        """An integration warning about this order (warn, don't block)."""

        code: str
        message: str
        reference: str

        def summary(self) -> str:
            return f"warning {self.code}: {self.message}"

    class WarningAcknowledged(Event):
        """A supervisor acknowledged a warning raised at ``warning_version``, with a note."""

        warning_version: int
        code: str
        note: str

        def summary(self) -> str:
            return f"warning {self.code} (version {self.warning_version}) acknowledged" + (
                f" — {self.note}" if self.note else ""
            )

    # ---------------------------------------------------------------- state

    folded: OrderFold  # everything the events say about the order (domain/state.py)

    def __init__(self) -> None:
        self.folded = OrderFold()

    # ---------------------------------------------------------------- reading

    @property
    def integration(self) -> str:
        return self.folded.integration

    @property
    def order_no(self) -> str:
        return self.folded.order_no

    @property
    def erp(self) -> dict[str, Any]:
        return self.folded.erp

    @property
    def floor(self) -> dict[str, Any]:
        return self.folded.floor

    @property
    def unit_factors(self) -> dict[str, Decimal]:
        return self.folded.unit_factors

    @property
    def state(self) -> OrderState:
        return self.folded.state

    @property
    def operations(self) -> dict[str, OperationProgress]:
        return self.folded.operations

    @property
    def floor_activity(self) -> bool:
        return self.folded.floor_activity

    @property
    def conflicts(self) -> dict[str, OpenConflict]:
        return self.folded.conflicts

    @property
    def warnings(self) -> int:
        """How many warnings were ever raised on the order."""
        return self.folded.warnings_total

    @property
    def script_rows(self) -> dict[str, bool]:
        return self.folded.script_rows

    @property
    def reports(self) -> int:
        return self.folded.reports

    @property
    def last_activity(self) -> datetime | None:
        return self.folded.last_activity

    @property
    def quantity(self) -> Decimal:
        q: Decimal = self.floor["quantity"]
        return q

    @property
    def unit(self) -> str:
        u: str = self.floor["unit"]
        return u

    @property
    def routing(self) -> list[ErpOperation]:
        return [ErpOperation.from_dict(d) for d in self.floor["routing"]]

    def routing_ids(self) -> list[str]:
        return self.folded.routing_ids()

    def progress(self, op_id: str) -> OperationProgress:
        """The progress of an operation, tracked even when it is not in the routing."""
        return self.folded.progress(op_id)

    @property
    def good_total(self) -> Decimal:
        """Good quantity of the order: that of the last routing operation with any report."""
        return self.folded.good_total()

    # ---------------------------------------------------------------- ERP commands

    @classmethod
    def release(cls, integration: str, order: ErpOrder, actor: Actor) -> WorkOrder:
        """Create the order as the ERP released it."""
        event = cls.released_event(integration, order, actor)
        agg: WorkOrder = event.mutate(None)  # as Aggregate._create does
        agg.pending_events.append(event)
        return agg

    @classmethod
    def released_event(cls, integration: str, order: ErpOrder, actor: Actor) -> WorkOrder.Released:
        """The event that creates the order as the ERP released it (what :meth:`release`
        records), built without the aggregate, for a bulk release."""
        o = order.checked()
        fields = o.erp_fields()
        event: WorkOrder.Released = cls._created_event(
            cls.Released,
            id=order_id_for(integration, o.order_no),
            integration=integration,
            order_no=o.order_no,
            unit_factors=dict(o.unit_factors),
            actor_id=actor.id,
            actor_role=actor.role,
            source=actor.source,
            **fields,
        )
        return event

    def _trigger(self, event_class: type[Any], actor: Actor, **kwargs: Any) -> None:
        self.trigger_event(
            event_class,
            integration=self.integration,
            order_no=self.order_no,
            actor_id=actor.id,
            actor_role=actor.role,
            source=actor.source,
            **kwargs,
        )

    def receive_erp_state(self, order: ErpOrder, actor: Actor) -> None:
        """The ERP states the order as released with these values (poll, push or file import).

        Unchanged values record nothing. Changes apply directly while the floor has not
        touched the order; once it has, each changed field raises (or replaces) a conflict.
        """
        o = order.checked()
        incoming = dict(o.erp_fields(), status="released")
        self._receive_erp_fields(incoming, actor)

    def cancel_in_erp(self, actor: Actor, reason: str = "") -> None:
        """The ERP cancelled the order (or it vanished from a full-plan source)."""
        reason = text("reason", reason, required=False, max_len=400)
        incoming = dict(self.erp, status="cancelled")
        self._receive_erp_fields(incoming, actor, reason=reason)

    def _receive_erp_fields(self, incoming: dict[str, Any], actor: Actor, reason: str = "") -> None:
        changed = [f for f in ERP_FIELDS if not _same(incoming[f], self.erp[f])]
        if not changed:
            return
        if not self.floor_activity and not self.conflicts:
            if changed == ["status"] and incoming["status"] == "cancelled":
                self._trigger(self.CancelledInErp, actor, reason=reason)
                return
            self._trigger(
                self.ChangedInErp,
                actor,
                changes=[{"field": f, "old": self.erp[f], "new": incoming[f]} for f in changed],
            )
            return
        agreed = [
            f for f in changed if _same(incoming[f], self.floor[f]) and f not in self.conflicts
        ]
        if agreed:
            # The ERP now says what the floor already has: record it, nothing to decide.
            self._trigger(
                self.ChangedInErp,
                actor,
                changes=[{"field": f, "old": self.erp[f], "new": incoming[f]} for f in agreed],
            )
        for f in changed:
            new = incoming[f]
            if f in agreed:
                continue
            if _same(new, self.floor[f]):
                self._trigger(self.ConflictWithdrawn, actor, field=f, erp_value=new)
                continue
            pending = self.conflicts.get(f)
            self._trigger(
                self.ConflictRaised,
                actor,
                field=f,
                erp_value=new,
                floor_value=self.floor[f],
                replaced_erp_value=pending.erp_value if pending else None,
            )

    def resolve_conflict(self, field_name: str, resolution: str, note: str, actor: Actor) -> None:
        """A supervisor settles the open conflict on one field."""
        try:
            how = Resolution(resolution)
        except ValueError:
            raise InvalidValueError(
                "resolution", resolution, f"must be one of {', '.join(r.value for r in Resolution)}"
            ) from None
        note = text("note", note, required=False, max_len=1000)
        conflict = self.conflicts.get(field_name)
        if conflict is None:
            raise ConflictNotFoundError(self.order_no, field_name)
        self._trigger(
            self.ConflictResolved,
            actor,
            field=field_name,
            resolution=how.value,
            note=note,
            erp_value=conflict.erp_value,
            floor_value=conflict.floor_value,
        )
        pending_cancel = self.conflicts.get("status")
        if how == Resolution.CANCEL and pending_cancel and pending_cancel.erp_value == "cancelled":
            # The ERP's own cancellation is now what the floor did too.
            self._trigger(self.ConflictWithdrawn, actor, field="status", erp_value="cancelled")

    def raise_warning(self, code: str, message: str, reference: str, actor: Actor) -> None:
        """Record an integration warning on this order."""
        self._trigger(
            self.WarningRaised,
            actor,
            code=text("code", code, max_len=60),
            message=text("message", message, max_len=1000),
            reference=text("reference", reference, required=False, max_len=200),
        )

    def acknowledge_warning(self, warning_version: int, note: str, actor: Actor) -> None:
        """A supervisor acknowledges a warning that is still relevant (it stops being open)."""
        if isinstance(warning_version, bool) or not isinstance(warning_version, int):
            raise InvalidValueError("warning_version", warning_version, "must be a whole number")
        note = text("note", note, required=False, max_len=1000)
        found = next((w for w in self.folded.open_warnings if w.version == warning_version), None)
        if found is None:
            raise InvalidValueError(
                "warning_version",
                warning_version,
                f"is not a warning still open on order {self.order_no}",
            )
        self._trigger(
            self.WarningAcknowledged, actor, warning_version=warning_version, code=found.code,
            note=note,
        )  # fmt: skip

    # ---------------------------------------------------------------- floor commands

    def _floor_warnings(self, op_id: str | None, actor: Actor, *, completing: bool = False) -> None:
        pending = self.conflicts.get("status")
        if self.state == OrderState.CANCELLED:
            self.raise_warning(
                W_ORDER_CANCELLED,
                f"order {self.order_no} is cancelled; the floor action was recorded anyway",
                self.order_no,
                actor,
            )
        elif pending is not None and pending.erp_value == "cancelled":
            self.raise_warning(
                W_ORDER_CANCELLED,
                f"order {self.order_no} was cancelled in the ERP (a supervisor is reviewing "
                "it); the floor action was recorded anyway",
                self.order_no,
                actor,
            )
        elif self.state == OrderState.COMPLETED and not completing:
            self.raise_warning(
                W_ORDER_COMPLETED,
                f"order {self.order_no} is completed; the floor action was recorded anyway",
                self.order_no,
                actor,
            )
        quantity_change = self.conflicts.get("quantity")
        if quantity_change is not None and self._reported_quantities():
            self.raise_warning(
                W_ERP_QUANTITY_PENDING,
                f"the ERP changed the quantity to {quantity_change.erp_value} — a supervisor "
                "is reviewing it",
                "quantity",
                actor,
            )
        if op_id is not None and op_id not in self.routing_ids():
            self.raise_warning(
                W_UNKNOWN_OPERATION,
                f"operation {op_id} is not in the routing of order {self.order_no}",
                op_id,
                actor,
            )

    def _backdated(
        self,
        action: str,
        op_id: str,
        occurred: datetime,
        back: timedelta,
        times: FloorTimes,
        actor: Actor,
    ) -> None:
        """Warn when a floor action was recorded well after the time it names (one open
        backdated warning per operation: a replayed offline queue does not flood the list)."""
        if not times.warns(back):
            return
        if any(w.code == W_BACKDATED and w.reference == op_id for w in self.folded.open_warnings):
            return
        self.raise_warning(
            W_BACKDATED,
            f"the {action} of operation {op_id} was recorded {span(back)} after the time it "
            f"names ({occurred.isoformat()}); check the operation's times",
            op_id,
            actor,
        )

    def _reported_quantities(self) -> bool:
        """Whether the floor action just recorded reports quantities (a quantity report or
        a report for the ERP), so the operator is told of a pending ERP quantity change."""
        last = self.pending_events[-1] if self.pending_events else None
        return isinstance(last, self.QuantityReported | self.ReportSubmitted)

    def _op_id(self, op_id: str) -> str:
        return text("operation", op_id, max_len=60)

    def start_operation(
        self,
        op_id: str,
        actor: Actor,
        at: datetime | None = None,
        *,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Start an operation that is not running."""
        op_id = self._op_id(op_id)
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        state = self.progress_state(op_id)
        if state != OperationState.NOT_STARTED:
            raise OperationStateError(self.order_no, op_id, state.value, "start it")
        self._trigger(self.OperationStarted, actor, op_id=op_id, occurred_at=occurred)
        self._floor_warnings(op_id, actor)
        self._backdated("start", op_id, occurred, back, times, actor)

    def pause_operation(
        self,
        op_id: str,
        reason_code: str,
        actor: Actor,
        at: datetime | None = None,
        *,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Pause a running operation, giving a stop reason."""
        op_id = self._op_id(op_id)
        reason_code = text("reason_code", reason_code, max_len=60)
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        state = self.progress_state(op_id)
        if state != OperationState.RUNNING:
            raise OperationStateError(self.order_no, op_id, state.value, "pause it")
        self._trigger(
            self.OperationPaused, actor, op_id=op_id, reason_code=reason_code, occurred_at=occurred
        )
        self._floor_warnings(op_id, actor)
        self._backdated("pause", op_id, occurred, back, times, actor)

    def resume_operation(
        self,
        op_id: str,
        actor: Actor,
        at: datetime | None = None,
        *,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Resume a paused operation."""
        op_id = self._op_id(op_id)
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        state = self.progress_state(op_id)
        if state != OperationState.PAUSED:
            raise OperationStateError(self.order_no, op_id, state.value, "resume it")
        self._trigger(self.OperationResumed, actor, op_id=op_id, occurred_at=occurred)
        self._floor_warnings(op_id, actor)
        self._backdated("resume", op_id, occurred, back, times, actor)

    def report_quantity(
        self,
        op_id: str,
        actor: Actor,
        *,
        good: Any = 0,
        scrap: Any = 0,
        scrap_reason: str | None = None,
        rework: Any = 0,
        unit: str | None = None,
        at: datetime | None = None,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Report good, scrap (with a reason code) and rework quantities on an operation."""
        op_id = self._op_id(op_id)
        g, s, r = quantity("good", good), quantity("scrap", scrap), quantity("rework", rework)
        if g == 0 and s == 0 and r == 0:
            raise InvalidValueError("good", good, "and scrap and rework are all zero")
        reason = text("scrap_reason", scrap_reason, required=False, max_len=60) or None
        if s > 0 and reason is None:
            raise InvalidValueError(
                "scrap_reason", scrap_reason, "is required when scrap is more than 0"
            )
        reported_unit = text("unit", unit, max_len=20) if unit is not None else self.unit
        factor = unit_factor(reported_unit, self.unit, self.unit_factors)
        if factor is None:
            raise InvalidValueError(
                "unit", reported_unit, f"is neither {self.unit!r} nor convertible to it"
            )
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        g, s, r = canonical(g * factor), canonical(s * factor), canonical(r * factor)
        self._trigger(
            self.QuantityReported,
            actor,
            op_id=op_id,
            good=g,
            scrap=s,
            scrap_reason=reason if s > 0 else None,
            rework=r,
            reported_unit=reported_unit,
            factor=canonical(factor),
            occurred_at=occurred,
        )
        self._floor_warnings(op_id, actor)
        self._backdated("quantity report", op_id, occurred, back, times, actor)
        done = self.progress(op_id).good
        if g > 0 and done > self.quantity:
            self.raise_warning(
                W_OVER_QUANTITY,
                f"operation {op_id} has {done} {self.unit} good, more than the order "
                f"quantity {self.quantity}",
                op_id,
                actor,
            )

    def record_result(
        self,
        op_id: str,
        actor: Actor,
        *,
        passed: bool | None = None,
        characteristic: str = "",
        measured_value: Any = None,
        unit: str = "",
        serial: str = "",
        batch: str = "",
        at: datetime | None = None,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Record a quality result, a serial or a batch number on an operation."""
        op_id = self._op_id(op_id)
        if passed is not None and not isinstance(passed, bool):
            raise InvalidValueError("passed", passed, "must be true, false or empty")
        characteristic = text("characteristic", characteristic, required=False, max_len=120)
        value = measured("measured_value", measured_value)
        unit = text("unit", unit, required=False, max_len=20)
        serial = text("serial", serial, required=False, max_len=120)
        batch = text("batch", batch, required=False, max_len=120)
        if passed is None and value is None and not serial and not batch:
            raise InvalidValueError(
                "passed", passed, "— give a verdict, a measured value, a serial or a batch"
            )
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        self._trigger(
            self.ResultRecorded,
            actor,
            op_id=op_id,
            passed=passed,
            characteristic=characteristic,
            measured_value=value,
            unit=unit,
            serial=serial,
            batch=batch,
            occurred_at=occurred,
        )
        self._floor_warnings(op_id, actor)
        self._backdated("result", op_id, occurred, back, times, actor)

    def complete_operation(
        self,
        op_id: str,
        actor: Actor,
        at: datetime | None = None,
        *,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> None:
        """Complete an operation that is not already completed."""
        op_id = self._op_id(op_id)
        occurred, back = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        state = self.progress_state(op_id)
        if state == OperationState.COMPLETED:
            raise OperationStateError(self.order_no, op_id, state.value, "complete it again")
        self._trigger(self.OperationCompleted, actor, op_id=op_id, occurred_at=occurred)
        self._floor_warnings(op_id, actor)
        self._backdated("completion", op_id, occurred, back, times, actor)

    def complete_order(
        self, actor: Actor, at: datetime | None = None, *, times: FloorTimes = DEFAULT_TIMES
    ) -> None:
        """Complete the order on the floor."""
        occurred, _ = _floor_time("occurred_at", at, self.Event.create_timestamp(), times)
        if self.state == OrderState.COMPLETED:
            raise OrderStateError(self.order_no, self.state.value, "complete it again")
        self._trigger(self.OrderCompleted, actor, occurred_at=occurred)
        self._floor_warnings(None, actor, completing=True)
        # no backdated warning: completing the order settles every warning on it

    def submit_report(
        self,
        op_id: str,
        actor: Actor,
        *,
        started_at: datetime,
        ended_at: datetime,
        good: Any = 0,
        scrap: dict[str, Any] | None = None,
        rework: Any = 0,
        note: str = "",
        report_id: str | None = None,
        times: FloorTimes = DEFAULT_TIMES,
    ) -> str:
        """An operator's report of times and amounts for the ERP; returns the report id."""
        op_id = self._op_id(op_id)
        now = self.Event.create_timestamp()
        # a report is written after the fact: its times are held to the window, not warned
        start, _ = _floor_time("started_at", started_at, now, times)
        end, _ = _floor_time("ended_at", ended_at, now, times)
        if end < start:
            raise InvalidValueError("ended_at", end.isoformat(), "is before started_at")
        g, r = quantity("good", good), quantity("rework", rework)
        scrap_by_reason: dict[str, Decimal] = {}
        for reason, qty in (scrap or {}).items():
            code = text("scrap.reason", reason, max_len=60)
            q = quantity(f"scrap.{code}", qty)
            if q > 0:
                scrap_by_reason[code] = canonical(scrap_by_reason.get(code, Decimal(0)) + q)
        rid = text("report_id", report_id, max_len=80) if report_id else uuid.uuid4().hex[:12]
        if f"report:{rid}" in self.script_rows:
            raise InvalidValueError("report_id", rid, "was already submitted")
        note = text("note", note, required=False, max_len=1000)
        self._trigger(
            self.ReportSubmitted,
            actor,
            report_id=rid,
            op_id=op_id,
            started_at=start,
            ended_at=end,
            good=g,
            scrap=scrap_by_reason,
            rework=r,
            note=note,
            occurred_at=now,
        )
        self._floor_warnings(op_id, actor)
        return rid

    def decide_writeback(
        self,
        destination: str,
        decision: str,
        message_key: str,
        reason: str,
        actor: Actor,
        note: str = "",
    ) -> None:
        """Record a supervisor's decision about a refused writeback message, with an optional
        note (the office desk asks for one on a skip; API and CLI clients may leave it out)."""
        if decision not in ("retry", "skip"):
            raise InvalidValueError("decision", decision, "must be retry or skip")
        note = text("note", note, required=False, max_len=1000)
        self._trigger(
            self.WritebackDecided,
            actor,
            destination=text("destination", destination, max_len=60),
            decision=decision,
            message_key=text("message_key", message_key, max_len=200),
            reason=text("reason", reason, required=False, max_len=1000),
            note=note,
        )

    def trigger_report(self, report_id: str, actor: Actor) -> None:
        """Ask for a submitted report to be sent to the ERP (mode E)."""
        report_id = text("report_id", report_id, max_len=80)
        if f"report:{report_id}" not in self.script_rows:
            raise RowNotFoundError(self.order_no, f"report:{report_id}")
        self._trigger(self.ReportTriggered, actor, report_id=report_id)

    def mark_row_keyed(self, row_id: str, actor: Actor) -> None:
        """Mark a report-script row as keyed into the ERP; keying twice records nothing."""
        row_id = text("row_id", row_id, max_len=120)
        if row_id not in self.script_rows:
            raise RowNotFoundError(self.order_no, row_id)
        if self.script_rows[row_id]:
            return
        self._trigger(self.RowKeyed, actor, row_id=row_id)

    def progress_state(self, op_id: str) -> OperationState:
        return self.folded.progress_state(op_id)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"a routing of {len(value)} operation(s)"
    return str(value)


# The stored topic of every WorkOrder event class (derived from the classes: topics are a
# contract, so a reader can tell order events apart without decoding them).
ORDER_EVENT_TOPICS: frozenset[str] = frozenset(
    get_topic(c)
    for c in vars(WorkOrder).values()
    if isinstance(c, type) and issubclass(c, WorkOrder.Event) and c is not WorkOrder.Event
)


__all__ = [
    "ERP_FIELDS",
    "MAX_CLOCK_SKEW",
    "ORDER_EVENT_TOPICS",
    "W_ERP_QUANTITY_PENDING",
    "W_ORDER_CANCELLED",
    "W_ORDER_COMPLETED",
    "W_OVER_QUANTITY",
    "W_UNKNOWN_OPERATION",
    "OpenConflict",
    "OperationProgress",
    "OperationState",
    "OrderFold",
    "OrderState",
    "Resolution",
    "WorkOrder",
]
