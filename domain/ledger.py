"""The Ledger application: the service layer. A command object is handed to the one aggregate
method that decides it (``HANDLERS``); the executor loads, retries and saves atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain import commands as c
from domain.audit import AuditFinding, AuditReport, verify_aggregate, verify_store
from domain.commands import Command, WorkstationCommand, fingerprint
from domain.deadline import bound_store_calls
from domain.erp_seen import ErpSeen
from domain.errors import InvalidValueError, OrderNotFoundError
from domain.executor import CommandExecutor, CommandOutcome, Submission
from domain.floortime import MAX_BACKDATE_SETTING, FloorTimes
from domain.values import Actor, ErpOrder, order_id_for, text, workstation_id_for
from domain.workorder import WorkOrder
from domain.workstation import Workstation

T = TypeVar("T")

# (the order, the command, who asks, the window of floor times the ledger accepts)
OrderHandler = Callable[[WorkOrder, Any, Actor, FloorTimes], "str | None"]
WorkstationHandler = Callable[[Workstation, Any, Actor, str], None]

# Each order command and the one aggregate method that decides it.
HANDLERS: dict[type[Command], OrderHandler] = {
    c.ReceiveErpOrder: lambda o, cmd, a, t: o.receive_erp_state(cmd.order.checked(), a),
    c.CancelInErp: lambda o, cmd, a, t: o.cancel_in_erp(a, cmd.reason),
    c.RaiseWarning: lambda o, cmd, a, t: o.raise_warning(cmd.code, cmd.message, cmd.reference, a),
    c.StartOperation: lambda o, cmd, a, t: o.start_operation(cmd.op_id, a, cmd.at, times=t),
    c.PauseOperation: lambda o, cmd, a, t: o.pause_operation(
        cmd.op_id, cmd.reason_code, a, cmd.at, times=t
    ),
    c.ResumeOperation: lambda o, cmd, a, t: o.resume_operation(cmd.op_id, a, cmd.at, times=t),
    c.CompleteOperation: lambda o, cmd, a, t: o.complete_operation(cmd.op_id, a, cmd.at, times=t),
    c.ReportQuantity: lambda o, cmd, a, t: o.report_quantity(
        cmd.op_id, a, good=cmd.good, scrap=cmd.scrap, scrap_reason=cmd.scrap_reason,
        rework=cmd.rework, unit=cmd.unit, at=cmd.at, times=t,
    ),
    c.RecordResult: lambda o, cmd, a, t: o.record_result(
        cmd.op_id, a, passed=cmd.passed, characteristic=cmd.characteristic,
        measured_value=cmd.measured_value, unit=cmd.unit, serial=cmd.serial,
        batch=cmd.batch, at=cmd.at, times=t,
    ),
    c.CompleteOrder: lambda o, cmd, a, t: o.complete_order(a, cmd.at, times=t),
    c.SubmitReport: lambda o, cmd, a, t: o.submit_report(
        cmd.op_id, a, started_at=cmd.started_at, ended_at=cmd.ended_at, good=cmd.good,
        scrap=dict(cmd.scrap) if cmd.scrap is not None else None, rework=cmd.rework,
        note=cmd.note, report_id=cmd.report_id, times=t,
    ),
    c.MarkRowKeyed: lambda o, cmd, a, t: o.mark_row_keyed(cmd.row_id, a),
    c.DecideWriteback: lambda o, cmd, a, t: o.decide_writeback(
        cmd.destination, cmd.decision, cmd.message_key, cmd.reason, a, note=cmd.note
    ),
    c.TriggerReport: lambda o, cmd, a, t: o.trigger_report(cmd.report_id, a),
    c.ResolveConflict: lambda o, cmd, a, t: o.resolve_conflict(
        cmd.field_name, cmd.resolution, cmd.note, a
    ),
    c.AcknowledgeWarning: lambda o, cmd, a, t: o.acknowledge_warning(
        cmd.warning_version, cmd.note, a
    ),
}  # fmt: skip

# Each measuring-point command and the one aggregate method that decides it (the last
# argument is the integration an order named without one belongs to).
WORKSTATION_HANDLERS: dict[type[WorkstationCommand], WorkstationHandler] = {
    c.SetActiveOrder: lambda ws, cmd, a, default: ws.set_active_order(
        cmd.integration or default, cmd.order_no, cmd.part_no, a
    ),
    c.RaiseWorkstationWarning: lambda ws, cmd, a, _: ws.raise_warning(cmd.code, cmd.message, a),
    c.ErpAnswered: lambda ws, cmd, a, _: ws.erp_answered(a),
}

# Where else an order number may live: the integrations holding it (a view query).
Locator = Callable[["Ledger", str], Sequence[str]]


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an order's audit trail."""

    version: int
    recorded_at: datetime
    occurred_at: datetime | None
    actor_id: str
    actor_role: str
    source: str
    event: str
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """A command checked and ready to run on an order of some integration."""

    command: Command
    actor: Actor
    key: str | None
    named: str | None
    order_no: str
    decide: Callable[[WorkOrder], str | None]

    def submission(self, integration: str) -> Submission:
        return Submission(
            order_id_for(integration, self.order_no),
            self.order_no,
            integration,
            self.actor,
            self.key,
            fingerprint(self.command, integration) if self.key is not None else "",
        )


class Ledger(Application[UUID]):
    """floorledger's service layer over the event store (SQLite or PostgreSQL)."""

    name = "Ledger"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "5000",
        # The store's unique (id, version) constraint decides races: a stale cached order
        # makes the save fail, the order is evicted and the command runs again.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        # Commands on one aggregate are serialised by a lock in this process and a failed
        # command evicts what it touched, so the cached object need not be copied per command.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        default_integration: str = "erp",
        *,
        locate: Locator | None = None,
        times: FloorTimes | None = None,
    ):
        """``locate(ledger, order_no)``: the integrations holding an order number, asked when
        a command names no integration and the default integration has no such order.
        ``times``: the window of floor times accepted; by default the one
        ``FLOORLEDGER_MAX_BACKDATE_HOURS`` (in ``env`` or the process environment) names."""
        super().__init__(env)
        self.floor_times = times or FloorTimes.from_setting(self.env.get(MAX_BACKDATE_SETTING))
        if self.env.get("AGGREGATE_CACHE_MAXSIZE") == "0":
            # The library reads 0 as "unbounded"; floorledger's 0 means no cache at all.
            self.repository.cache = None
        self.default_integration = default_integration
        self._locate = locate
        bound_store_calls(self.recorder)  # a command under a deadline stops waiting (#11)
        self.executor = CommandExecutor(self)

    def close(self) -> None:
        """Save the commands queued for the group writer, then close the store."""
        self.executor.close()
        super().close()

    # ------------------------------------------------------------------ ids and loading

    def order_id(self, order_no: str, integration: str | None = None) -> UUID:
        return order_id_for(integration or self.default_integration, order_no)

    def get_order(self, order_no: str, integration: str | None = None) -> WorkOrder:
        """The order as the store holds it now."""
        return self._on_order(order_no, integration, lambda i: self._get_order(order_no, i))

    def _get_order(self, order_no: str, integration: str) -> WorkOrder:
        oid = order_id_for(integration, order_no)
        self.executor.evict(oid)
        try:
            order: WorkOrder = self.repository.get(oid)
        except AggregateNotFoundError:
            raise OrderNotFoundError(order_no, integration) from None
        return order

    def find_order(self, order_no: str, integration: str | None = None) -> WorkOrder | None:
        try:
            return self.get_order(order_no, integration)
        except OrderNotFoundError:
            return None

    def cached_order(self, order_no: str, integration: str | None = None) -> WorkOrder | None:
        """This process's cached copy of the order, possibly stale, or None; never reads the
        store (a quick yes for authorisation; any no is checked with :meth:`get_order`)."""
        order_no = order_no.strip()
        if not order_no:
            return None
        cached = self.executor.cached(self.order_id(order_no, integration))
        return cached if isinstance(cached, WorkOrder) else None

    def get_workstation(self, name: str) -> Workstation | None:
        wid = workstation_id_for(name)
        self.executor.evict(wid)
        try:
            ws: Workstation = self.repository.get(wid)
        except AggregateNotFoundError:
            return None
        return ws

    def resolve_integration(self, order_no: str, integration: str | None) -> str | None:
        """The one other integration holding ``order_no`` when none was named and the default
        has no such order; None when there is none. Several: InvalidValueError naming them."""
        if integration is not None or self._locate is None:
            return None
        found = self._locate(self, order_no.strip())
        others = [i for i in found if i != self.default_integration]
        if len(others) > 1:
            raise InvalidValueError(
                "integration",
                None,
                f"is needed: order {order_no!r} exists in integrations {', '.join(others)}",
            )
        return others[0] if others else None

    def _on_order(self, order_no: str, integration: str | None, run: Callable[[str], T]) -> T:
        """``run(integration)`` on the named integration, else the default one; with none
        named, an order found only in another integration is taken there."""
        try:
            return run(integration or self.default_integration)
        except OrderNotFoundError:
            other = self.resolve_integration(order_no, integration)
            if other is None:
                raise
            return run(other)

    # ------------------------------------------------------------------ commands

    def execute(
        self,
        command: Command,
        actor: Actor,
        key: str | None = None,
        *,
        times: FloorTimes | None = None,
    ) -> CommandOutcome:
        """Carry out a command on its order (see :meth:`_on_order`; a received ERP order is
        never looked for elsewhere: it is released where it was named).

        With an idempotency ``key`` a repeat gets the first outcome (``replayed``), and the
        same key for a different command is refused (IdempotencyKeyReusedError). ``times``:
        the window of floor times for this command (default: the ledger's; a recorded
        history, such as the demo shift, passes one without a lower bound).
        """
        plan = self._plan(command, actor, key, times)

        def run(integration: str) -> CommandOutcome:
            return self.executor.on_order(
                plan.submission(integration), plan.decide, create(integration)
            )

        def create(integration: str) -> Callable[[], WorkOrder] | None:
            if isinstance(command, c.ReceiveErpOrder):
                return lambda: WorkOrder.release(integration, command.order.checked(), actor)
            return None

        if isinstance(command, c.ReceiveErpOrder):
            return run(plan.named or self.default_integration)
        return self._on_order(plan.order_no, plan.named, run)

    def try_execute(
        self,
        command: Command,
        actor: Actor,
        key: str | None,
        answer: Callable[[CommandOutcome | BaseException | None], None],
    ) -> CommandOutcome | bool:
        """:meth:`execute` without blocking where it can be (see
        :meth:`CommandExecutor.try_on_order`): on an order of the named (else the default)
        integration that this process has cached and nobody is working on. False: nothing
        was done, call :meth:`execute`; True: ``answer`` gets the outcome, the error, or None
        (then call :meth:`execute`) from the group writer's thread."""
        if isinstance(command, c.ReceiveErpOrder):
            return False
        plan = self._plan(command, actor, key, None)
        integration = plan.named or self.default_integration
        return self.executor.try_on_order(plan.submission(integration), plan.decide, answer)

    def _plan(
        self, command: Command, actor: Actor, key: str | None, times: FloorTimes | None
    ) -> _Plan:
        """The checked parts of a command: its order, key and how the order decides it."""
        window = times or self.floor_times
        try:
            handler = HANDLERS[type(command)]
        except KeyError:
            raise TypeError(f"no handler for {type(command).__name__}") from None
        if key is not None:
            key = text("idempotency_key", key, max_len=200)
        named: str | None = command.integration  # type: ignore[attr-defined]
        order_no = text("order_no", command.order_no, max_len=80)  # type: ignore[attr-defined]

        def decide(order: WorkOrder) -> str | None:
            return handler(order, command, actor, window)

        return _Plan(command, actor, key, named, order_no, decide)

    def replay(self, command: Command, key: str) -> CommandOutcome | None:
        """The first outcome of ``command`` already applied under ``key``, or None when the key
        is new. Raises IdempotencyKeyReusedError when the key was used for another command."""
        key = text("idempotency_key", key, max_len=200)
        integration = command.integration or self.default_integration  # type: ignore[attr-defined]
        return self.executor.replay(key, fingerprint(command, integration), integration)

    def execute_at_workstation(self, command: WorkstationCommand, actor: Actor) -> int | None:
        """Carry out a command on a measuring point (registered on first use); the ledger
        position, or None when there was nothing to record."""
        handler = WORKSTATION_HANDLERS[type(command)]
        name = text("workstation", command.workstation, max_len=60)
        default = self.default_integration
        return self.executor.on_workstation(
            workstation_id_for(name),
            command.workstation,
            actor,
            lambda ws: handler(ws, command, actor, default),
        )

    def release_orders(
        self,
        orders: Iterable[ErpOrder],
        actor: Actor,
        *,
        integration: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Bulk release of new orders, saved in batches; orders already known fall back to
        :meth:`receive_erp_order`. Returns the number of events recorded."""
        integ = integration or self.default_integration
        written = 0
        for chunk in _chunks(orders, batch_size):
            checked = [o.checked() for o in chunk]
            try:
                written += self.release_new(checked, actor, integration=integ)
            except IntegrityError:
                for o in checked:
                    written += len(
                        self.execute(c.ReceiveErpOrder(o, integration=integ), actor).events
                    )
        return written

    def release_new(
        self, orders: Sequence[ErpOrder], actor: Actor, *, integration: str | None = None
    ) -> int:
        """Release orders believed new, all in one transaction: the events
        :meth:`WorkOrder.release` records, saved without building the aggregates (they are
        read from the store when next used). Raises IntegrityError, recording nothing, when
        the ledger knows any of them, and InvalidValueError when one is invalid. Returns the
        number of events recorded."""
        integ = integration or self.default_integration
        events = [WorkOrder.released_event(integ, o, actor) for o in orders]
        if events:
            # Application.save without collecting events from aggregates (no aggregates: no
            # cache entries and no snapshots).
            processing = ProcessingEvent[UUID]()
            processing.events.extend(events)
            recordings = self._record(processing)
            self._notify(recordings)
            self.notify(processing.events)
        return len(events)

    @property
    def erp_seen(self) -> ErpSeen:
        """The memory of the ERP's last statement per order (see :mod:`domain.erp_seen`)."""
        seen: ErpSeen | None = self.__dict__.get("_erp_seen")
        if seen is None:
            seen = self.__dict__.setdefault("_erp_seen", ErpSeen(self.recorder))
        return seen

    def erp_unchanged(self, integration: str, fingerprints: Mapping[str, str]) -> set[str]:
        """The order numbers (of ``fingerprints``: order number → fingerprint of the ERP's
        statement) that the ledger last received exactly so and that have recorded nothing
        since: receiving them again would record nothing."""
        by_id = {order_id_for(integration, no): no for no in fingerprints}
        same = self.erp_seen.unchanged({oid: fingerprints[no] for oid, no in by_id.items()})
        return {by_id[oid] for oid in same}

    def erp_received(self, integration: str, fingerprints: Mapping[str, str]) -> None:
        """Remember the ERP statements just received (applied, or found unchanged)."""
        self.erp_seen.remember(
            {order_id_for(integration, no): fp for no, fp in fingerprints.items()}
        )

    # ------------------------------------------------------------------ queries and audit

    def work_centres_of(self, order: WorkOrder, op_id: str) -> str | None:
        """The routing work centre of an operation; "" when worked but not in the routing,
        None when the order has no such operation."""
        for op in order.floor["routing"]:
            if str(op.get("op_id")) == op_id:
                return str(op.get("work_centre", ""))
        if op_id in order.operations:
            return ""
        return None

    def history(
        self,
        order_no: str,
        *,
        integration: str | None = None,
        after_version: int = 0,
        limit: int | None = None,
    ) -> list[HistoryEntry]:
        """The auditor's trace of an order: every event, who, when, from where, what changed."""
        return self._on_order(
            order_no, integration, lambda i: self._history(order_no, i, after_version, limit)
        )

    def _history(
        self, order_no: str, integration: str, after_version: int, limit: int | None
    ) -> list[HistoryEntry]:
        oid = order_id_for(integration, order_no)
        if after_version < 0:
            raise InvalidValueError("after_version", after_version, "is negative")
        if limit is not None and limit <= 0:
            raise InvalidValueError("limit", limit, "must be positive")
        events = list(self.events.get(oid, gt=after_version or None, limit=limit))
        if not events and after_version == 0:
            raise OrderNotFoundError(order_no, integration)
        return [_history_entry(e) for e in events]

    def position(self) -> int:
        """The ledger's current position (highest notification id, 0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def verify(
        self,
        *,
        batch: int = 1000,
        seen: Mapping[UUID, tuple[str, int]] | None = None,
        seen_by: str = "a reader",
        progress: Callable[[int, int], None] | None = None,
    ) -> AuditReport:
        """Walk the whole store and check every aggregate's hash chain and version sequence
        (see :func:`domain.audit.verify_store`)."""
        return verify_store(self, batch=batch, seen=seen, seen_by=seen_by, progress=progress)

    def verify_order(self, order_no: str, integration: str | None = None) -> AuditReport:
        """Check one order's hash chain and version sequence."""
        return self._on_order(order_no, integration, lambda i: self._verify_order(order_no, i))

    def _verify_order(self, order_no: str, integration: str) -> AuditReport:
        report = verify_aggregate(self, order_id_for(integration, order_no), order_no)
        if report is None:
            raise OrderNotFoundError(order_no, integration)
        return report


def _history_entry(e: Any) -> HistoryEntry:
    return HistoryEntry(
        version=e.originator_version,
        recorded_at=e.timestamp,
        occurred_at=getattr(e, "occurred_at", None),
        actor_id=e.actor_id,
        actor_role=e.actor_role,
        source=e.source,
        event=type(e).__name__,
        summary=e.summary(),
        details=e.details(),
    )


def _chunks(items: Iterable[T], size: int) -> Iterator[Sequence[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = [
    "HANDLERS",
    "Aggregate",
    "AuditFinding",
    "AuditReport",
    "CommandOutcome",
    "HistoryEntry",
    "Ledger",
    "Locator",
]
