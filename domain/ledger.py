"""The Ledger application: the service layer. Each command loads, decides and saves atomically."""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording

from domain.chain import GENESIS, canonical_json, recompute
from domain.errors import (
    ConcurrencyError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    OrderNotFoundError,
)
from domain.receipt import CommandReceipt
from domain.values import (
    Actor,
    ErpOrder,
    order_id_for,
    receipt_id_for,
    text,
    workstation_id_for,
)
from domain.workorder import WorkOrder
from domain.workstation import Workstation

T = TypeVar("T")

MAX_ATTEMPTS = 12
_REFUSED = "refused"
_RACED = "raced"
LOCK_STRIPES = 1024


class _Waiting:
    """One command's events waiting to be saved in a group."""

    __slots__ = ("done", "error", "items", "lead", "result")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.done: threading.Event | None = None  # only a command that waits needs one
        self.lead = False
        self.result: list[Recording[UUID]] = []
        self.error: BaseException | None = None


class GroupCommit:
    """Saves the events of concurrent commands on different aggregates in one transaction.

    The first waiting command leads: it saves everything queued so far in one ``save`` and
    hands the lead to the next waiting command. When a group fails (for example one command
    raced another writer), each command of the group is saved on its own, so one conflict
    never fails the others. A lone command is simply saved.
    """

    def __init__(self, save: Callable[..., list[Recording[UUID]]], max_group: int = 256):
        self._save = save
        self._max = max_group
        self._mutex = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    def save(self, items: list[Any]) -> list[Recording[UUID]]:
        me = _Waiting(items)
        with self._mutex:
            self._queue.append(me)
            lead = not self._leading
            self._leading = True
            if not lead:
                me.done = threading.Event()
        if me.done is not None:
            me.done.wait()
            if not me.lead:
                return self._outcome(me)
        group: list[_Waiting]
        with self._mutex:
            group = self._queue[: self._max]
            del self._queue[: len(group)]
        try:
            self._flush(group)
        finally:
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    if successor.done is not None:
                        successor.done.set()
                else:
                    self._leading = False
        return self._outcome(me)

    @staticmethod
    def _outcome(me: _Waiting) -> list[Recording[UUID]]:
        if me.error is not None:
            raise me.error
        return me.result

    def _flush(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                group[0].result = self._save(*group[0].items)
            else:
                try:
                    recordings = self._save(*[i for w in group for i in w.items])
                except Exception:
                    for w in group:
                        try:
                            w.result = self._save(*w.items)
                        except Exception as exc:
                            w.error = exc
                else:
                    start = 0
                    for w in group:
                        w.result = recordings[start : start + len(w.items)]
                        start += len(w.items)
        except BaseException as exc:
            for w in group:
                if not w.result and w.error is None:
                    w.error = exc
        finally:
            for w in group:
                if w.done is not None:
                    w.done.set()


@dataclass(frozen=True)
class CommandOutcome:
    """What a command did: the order's version after it, the events and warnings it recorded,
    and the ledger position a reader can wait for."""

    order_no: str
    integration: str
    version: int
    events: tuple[str, ...]
    warnings: tuple[str, ...]
    position: int | None
    replayed: bool = False
    result: str | None = None

    @property
    def recorded(self) -> bool:
        return bool(self.events)


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
class AuditFinding:
    """An event that was altered or is missing."""

    aggregate: str
    version: int
    problem: str


@dataclass
class AuditReport:
    events: int = 0
    aggregates: int = 0
    findings: list[AuditFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


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

    def __init__(self, env: dict[str, str] | None = None, default_integration: str = "erp"):
        super().__init__(env)
        self.default_integration = default_integration
        # Where else an order number may live when a command names no integration and the
        # default integration has no such order (set by the API and CLI to a view query).
        self.locate: Callable[[str], Sequence[str]] | None = None
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._group = GroupCommit(lambda *items: self.save(*items))

    def _lock(self, aggregate_id: UUID) -> threading.Lock:
        return self._locks[aggregate_id.int % LOCK_STRIPES]

    # ------------------------------------------------------------------ ids and loading

    def order_id(self, order_no: str, integration: str | None = None) -> UUID:
        return order_id_for(integration or self.default_integration, order_no)

    def _evict(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def get_order(self, order_no: str, integration: str | None = None) -> WorkOrder:
        """The order as the store holds it now."""
        return self._on_order(order_no, integration, lambda i: self._get_order(order_no, i))

    def _get_order(self, order_no: str, integration: str) -> WorkOrder:
        oid = order_id_for(integration, order_no)
        self._evict(oid)
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

    def get_workstation(self, name: str) -> Workstation | None:
        wid = workstation_id_for(name)
        self._evict(wid)
        try:
            ws: Workstation = self.repository.get(wid)
        except AggregateNotFoundError:
            return None
        return ws

    # ------------------------------------------------------------------ the command loop

    def _receipt(self, key: str) -> CommandReceipt | None:
        try:
            r: CommandReceipt = self.repository.get(receipt_id_for(key))
        except AggregateNotFoundError:
            return None
        return r

    def _replay(self, key: str, fingerprint: str, integration: str) -> CommandOutcome | None:
        receipt = self._receipt(key)
        if receipt is None:
            return None
        if receipt.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key)
        out = receipt.outcome
        return CommandOutcome(
            order_no=receipt.order_no,
            integration=integration,
            version=int(out["version"]),
            events=tuple(out["events"]),
            warnings=tuple(out["warnings"]),
            position=self.recorder.max_notification_id(),
            replayed=True,
            result=out.get("result"),
        )

    @staticmethod
    def _fingerprint(command: str, integration: str, order_no: str, args: dict[str, Any]) -> str:
        body = canonical_json([command, integration, order_no, args])
        return hashlib.sha256(body.encode()).hexdigest()

    def resolve_integration(self, order_no: str, integration: str | None) -> str | None:
        """The one other integration holding ``order_no`` when none was named and the default
        has no such order; None when there is none. Several: InvalidValueError naming them."""
        if integration is not None or self.locate is None:
            return None
        others = [i for i in self.locate(order_no.strip()) if i != self.default_integration]
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

    def _execute(
        self,
        command: str,
        order_no: str,
        integration: str | None,
        actor: Actor,
        key: str | None,
        args: dict[str, Any],
        decide: Callable[[WorkOrder], str | None],
        *,
        create: Callable[[], WorkOrder] | None = None,
    ) -> CommandOutcome:
        """Run a command on the order (see :meth:`_on_order`; a release never looks
        elsewhere: it creates the order where it was named)."""

        def run(integ: str) -> CommandOutcome:
            return self._execute_in(
                command, order_no, integ, actor, key, args, decide, create=create
            )

        if create is not None:
            return run(integration or self.default_integration)
        return self._on_order(order_no, integration, run)

    def _execute_in(
        self,
        command: str,
        order_no: str,
        integration: str | None,
        actor: Actor,
        key: str | None,
        args: dict[str, Any],
        decide: Callable[[WorkOrder], str | None],
        *,
        create: Callable[[], WorkOrder] | None = None,
    ) -> CommandOutcome:
        """Load the order, let ``decide`` trigger events, save them (with the receipt) atomically.

        Races on the order are retried; a domain refusal is checked once against a fresh
        copy of the order before it is raised, so a stale cache never refuses wrongly.
        """
        integration = integration or self.default_integration
        order_no = text("order_no", order_no, max_len=80)
        oid = order_id_for(integration, order_no)
        fingerprint = ""
        if key is not None:
            key = text("idempotency_key", key, max_len=200)
            fingerprint = self._fingerprint(command, integration, order_no, args)
            # No look-up of the receipt first: a repeated key fails the save on the receipt's
            # uniqueness (or is refused by the order), and only then is the receipt read.
        refused_once = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _backoff(attempt)
            with self._lock(oid):
                try:
                    done = self._attempt(
                        oid,
                        order_no,
                        integration,
                        actor,
                        key,
                        fingerprint,
                        decide,
                        create,
                        refused_once=refused_once,
                    )
                except BaseException:
                    self._evict(oid)  # the cached order may be half-decided
                    raise
            if isinstance(done, CommandOutcome):
                return done
            refused_once = refused_once or done == _REFUSED
        raise ConcurrencyError(order_no, MAX_ATTEMPTS)

    def _attempt(
        self,
        oid: UUID,
        order_no: str,
        integration: str,
        actor: Actor,
        key: str | None,
        fingerprint: str,
        decide: Callable[[WorkOrder], str | None],
        create: Callable[[], WorkOrder] | None,
        *,
        refused_once: bool,
    ) -> CommandOutcome | str:
        """One try of a command: its outcome, or _REFUSED / _RACED to try again."""
        order: WorkOrder | None
        try:
            order = self.repository.get(oid)
        except AggregateNotFoundError:
            order = None
        result: str | None = None
        if order is None:
            if create is None:
                raise OrderNotFoundError(order_no, integration)
            order = create()
        else:
            try:
                result = decide(order)
            except DomainError:
                if key is not None:
                    replay = self._replay(key, fingerprint, integration)
                    if replay is not None:
                        return replay  # the first attempt of this command got there first
                if refused_once:
                    raise
                self._evict(oid)  # check the refusal once more against the store
                return _REFUSED
        pending = order.collect_events()
        names = tuple(type(e).__name__ for e in pending)
        warnings = tuple(
            str(getattr(e, "code", "")) for e in pending if isinstance(e, WorkOrder.WarningRaised)
        )
        to_save: list[Any] = [*pending]
        if key is not None:
            outcome = {
                "version": order.version,
                "events": list(names),
                "warnings": list(warnings),
                "result": result,
            }
            receipt = CommandReceipt.record(key, fingerprint, order_no, outcome, actor)
            to_save.extend(receipt.collect_events())
        if not to_save:
            return CommandOutcome(order_no, integration, order.version, (), (), None, result=result)
        try:
            recordings = self._group.save(to_save)
        except IntegrityError:
            self._evict(oid)
            if key is not None:
                replay = self._replay(key, fingerprint, integration)
                if replay is not None:
                    return replay
            return _RACED
        if self.repository.cache is not None:
            self.repository.cache.put(oid, order)
        position = recordings[-1].notification.id if recordings else None
        return CommandOutcome(
            order_no, integration, order.version, names, warnings, position, result=result
        )

    # ------------------------------------------------------------------ ERP commands

    def receive_erp_order(
        self,
        order: ErpOrder,
        actor: Actor,
        *,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """The ERP states a released order: release it, apply a change, or raise conflicts."""
        checked = order.checked()
        integ = integration or self.default_integration
        return self._execute(
            "receive_erp_order",
            checked.order_no,
            integ,
            actor,
            key,
            # what makes two keyed deliveries the same (only needed with a key: imports are hot)
            {"order": checked.erp_fields(), "factors": dict(checked.unit_factors)}
            if key is not None
            else {},
            lambda o: o.receive_erp_state(checked, actor),
            create=lambda: WorkOrder.release(integ, checked, actor),
        )

    def cancel_in_erp(
        self,
        order_no: str,
        actor: Actor,
        *,
        reason: str = "",
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """The ERP cancelled the order: cancel it on the floor, or raise a conflict if started."""
        return self._execute(
            "cancel_in_erp",
            order_no,
            integration,
            actor,
            key,
            {"reason": reason},
            lambda o: o.cancel_in_erp(actor, reason),
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
            aggs = [WorkOrder.release(integ, o, actor) for o in checked]
            try:
                self.save(*aggs)
                written += len(aggs)
            except IntegrityError:
                for o in checked:
                    written += len(self.receive_erp_order(o, actor, integration=integ).events)
        return written

    def raise_warning(
        self,
        order_no: str,
        code: str,
        message: str,
        actor: Actor,
        *,
        reference: str = "",
        integration: str | None = None,
        key: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> CommandOutcome:
        """Record an integration warning on an order.

        ``request`` names what the caller asked for, when that (not the message text) is what
        makes two keyed requests the same; see :meth:`replay`.
        """
        return self._execute(
            "raise_warning",
            order_no,
            integration,
            actor,
            key,
            request or {"code": code, "message": message, "reference": reference},
            lambda o: o.raise_warning(code, message, reference, actor),
        )

    def replay(
        self,
        key: str,
        command: str,
        order_no: str,
        request: dict[str, Any],
        *,
        integration: str | None = None,
    ) -> CommandOutcome | None:
        """The first outcome of a keyed command already applied, or None when the key is new.

        Raises IdempotencyKeyReusedError when the key was used for a different request.
        """
        integ = integration or self.default_integration
        key = text("idempotency_key", key, max_len=200)
        fingerprint = self._fingerprint(command, integ, order_no, request)
        return self._replay(key, fingerprint, integ)

    # ------------------------------------------------------------------ floor commands

    def start_operation(
        self,
        order_no: str,
        op_id: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator starts an operation."""
        return self._execute(
            "start_operation",
            order_no,
            integration,
            actor,
            key,
            {"op": op_id, "at": at},
            lambda o: o.start_operation(op_id, actor, at),
        )

    def pause_operation(
        self,
        order_no: str,
        op_id: str,
        reason_code: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator pauses a running operation with a stop reason."""
        return self._execute(
            "pause_operation",
            order_no,
            integration,
            actor,
            key,
            {"op": op_id, "reason": reason_code, "at": at},
            lambda o: o.pause_operation(op_id, reason_code, actor, at),
        )

    def resume_operation(
        self,
        order_no: str,
        op_id: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator resumes a paused operation."""
        return self._execute(
            "resume_operation",
            order_no,
            integration,
            actor,
            key,
            {"op": op_id, "at": at},
            lambda o: o.resume_operation(op_id, actor, at),
        )

    def report_quantity(
        self,
        order_no: str,
        op_id: str,
        actor: Actor,
        *,
        good: Any = 0,
        scrap: Any = 0,
        scrap_reason: str | None = None,
        rework: Any = 0,
        unit: str | None = None,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator reports good, scrap and rework quantities."""
        args = {
            "op": op_id,
            "good": good,
            "scrap": scrap,
            "reason": scrap_reason,
            "rework": rework,
            "unit": unit,
            "at": at,
        }
        return self._execute(
            "report_quantity",
            order_no,
            integration,
            actor,
            key,
            args,
            lambda o: o.report_quantity(
                op_id,
                actor,
                good=good,
                scrap=scrap,
                scrap_reason=scrap_reason,
                rework=rework,
                unit=unit,
                at=at,
            ),
        )

    def record_result(
        self,
        order_no: str,
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
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator records a result, serial or batch."""
        args = {
            "op": op_id,
            "passed": passed,
            "characteristic": characteristic,
            "value": measured_value,
            "unit": unit,
            "serial": serial,
            "batch": batch,
            "at": at,
        }
        return self._execute(
            "record_result",
            order_no,
            integration,
            actor,
            key,
            args,
            lambda o: o.record_result(
                op_id,
                actor,
                passed=passed,
                characteristic=characteristic,
                measured_value=measured_value,
                unit=unit,
                serial=serial,
                batch=batch,
                at=at,
            ),
        )

    def complete_operation(
        self,
        order_no: str,
        op_id: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator completes an operation."""
        return self._execute(
            "complete_operation",
            order_no,
            integration,
            actor,
            key,
            {"op": op_id, "at": at},
            lambda o: o.complete_operation(op_id, actor, at),
        )

    def complete_order(
        self,
        order_no: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """The floor completes the order."""
        return self._execute(
            "complete_order",
            order_no,
            integration,
            actor,
            key,
            {"at": at},
            lambda o: o.complete_order(actor, at),
        )

    def submit_report(
        self,
        order_no: str,
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
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator submits a report of times and amounts for the ERP."""
        args = {
            "op": op_id,
            "start": started_at,
            "end": ended_at,
            "good": good,
            "scrap": scrap or {},
            "rework": rework,
            "note": note,
            "report_id": report_id,
        }
        return self._execute(
            "submit_report",
            order_no,
            integration,
            actor,
            key,
            args,
            lambda o: o.submit_report(
                op_id,
                actor,
                started_at=started_at,
                ended_at=ended_at,
                good=good,
                scrap=scrap,
                rework=rework,
                note=note,
                report_id=report_id,
            ),
        )

    def mark_row_keyed(
        self,
        order_no: str,
        row_id: str,
        actor: Actor,
        *,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """A planner marks a report-script row as keyed into the ERP."""

        def decide(o: WorkOrder) -> None:
            o.mark_row_keyed(row_id, actor)

        return self._execute(
            "mark_row_keyed", order_no, integration, actor, key, {"row": row_id}, decide
        )

    def decide_writeback(
        self,
        order_no: str,
        destination: str,
        decision: str,
        actor: Actor,
        *,
        message_key: str,
        reason: str = "",
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """A supervisor retries or skips a message the ERP refused (recorded on the order)."""
        return self._execute(
            "decide_writeback",
            order_no,
            integration,
            actor,
            key,
            {"destination": destination, "decision": decision},
            lambda o: o.decide_writeback(destination, decision, message_key, reason, actor),
        )

    def trigger_report(
        self,
        order_no: str,
        report_id: str,
        actor: Actor,
        *,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """Send a submitted report to the ERP now (mode E); the pump delivers it."""
        return self._execute(
            "trigger_report",
            order_no,
            integration,
            actor,
            key,
            {"report": report_id},
            lambda o: o.trigger_report(report_id, actor),
        )

    def resolve_conflict(
        self,
        order_no: str,
        field_name: str,
        resolution: str,
        actor: Actor,
        *,
        note: str = "",
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """A supervisor resolves the open conflict on a field of an order."""
        return self._execute(
            "resolve_conflict",
            order_no,
            integration,
            actor,
            key,
            {"field": field_name, "resolution": resolution, "note": note},
            lambda o: o.resolve_conflict(field_name, resolution, note, actor),
        )

    # ------------------------------------------------------------------ workstations (mode A)

    def set_active_order(
        self,
        workstation: str,
        order_no: str | None,
        actor: Actor,
        *,
        part_no: str | None = None,
        integration: str | None = None,
    ) -> int | None:
        """Record the order running on a measuring point; returns the ledger position or None."""
        integ = integration or self.default_integration
        return self._workstation_command(
            workstation, actor, lambda ws: ws.set_active_order(integ, order_no, part_no, actor)
        )

    def raise_workstation_warning(
        self, workstation: str, code: str, message: str, actor: Actor
    ) -> int | None:
        """A warning about a measuring point (for example: the ERP did not answer)."""
        return self._workstation_command(
            workstation, actor, lambda ws: ws.raise_warning(code, message, actor)
        )

    def erp_answered(self, workstation: str, actor: Actor) -> int | None:
        """The ERP answered for this measuring point: its open warnings no longer apply."""
        return self._workstation_command(workstation, actor, lambda ws: ws.erp_answered(actor))

    def _workstation_command(
        self, workstation: str, actor: Actor, decide: Callable[[Workstation], None]
    ) -> int | None:
        """Load (or register) the measuring point, decide, save; retried on a race."""
        wid = workstation_id_for(text("workstation", workstation, max_len=60))
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _backoff(attempt)
            with self._lock(wid):
                registered = False
                try:
                    ws: Workstation = self.repository.get(wid)
                except AggregateNotFoundError:
                    ws = Workstation.register(workstation, actor)
                    registered = True
                try:
                    decide(ws)
                    if len(ws.pending_events) == int(registered):
                        return None  # nothing to record (not even a new measuring point)
                    recordings = self.save(ws)
                except IntegrityError:
                    self._evict(wid)
                    continue
                except BaseException:
                    self._evict(wid)
                    raise
                return recordings[-1].notification.id if recordings else None
        raise ConcurrencyError(workstation, MAX_ATTEMPTS)

    # ------------------------------------------------------------------ audit

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
        """Walk the whole store and check every aggregate's hash chain and version sequence.

        ``seen`` maps aggregate ids to (label, the highest version a reader such as a view
        has seen): events beyond what is stored were removed, which the chain alone cannot
        show when they were an aggregate's last ones. ``progress(position, head)`` is called
        after each batch.
        """
        report = AuditReport()
        heads: dict[UUID | str, tuple[str, int, str]] = {}
        head = self.position()
        start = 1
        while True:
            notifications = self.recorder.select_notifications(start, batch)
            if not notifications:
                break
            for n in notifications:
                report.events += 1
                label, last_version, last_hash = heads.get(
                    n.originator_id, (str(n.originator_id), 0, GENESIS)
                )
                try:
                    event = self.mapper.to_domain_event(n)
                except Exception as exc:  # a row edited by hand may not even decode
                    report.findings.append(
                        AuditFinding(label, n.originator_version, f"altered: unreadable ({exc})")
                    )
                    heads[n.originator_id] = (label, n.originator_version, last_hash)
                    continue
                order_no = getattr(event, "order_no", None) or getattr(event, "name", None)
                if order_no and label == str(n.originator_id):
                    label = str(order_no)
                self._check_event(report, label, last_version, last_hash, event)
                chain_hash = str(getattr(event, "chain_hash", ""))
                heads[n.originator_id] = (label, event.originator_version, chain_hash)
            start = notifications[-1].id + 1
            if progress is not None:
                progress(notifications[-1].id, max(head, notifications[-1].id))
        report.aggregates = len(heads)
        for aggregate_id, (label, version) in (seen or {}).items():
            stored = heads.get(aggregate_id, (label, 0, ""))[1]
            if version > stored:
                missing = (
                    f"version {version}"
                    if version == stored + 1
                    else f"versions {stored + 1}–{version}"
                )
                report.findings.append(
                    AuditFinding(label, stored + 1, f"missing: {missing} (seen by {seen_by})")
                )
        return report

    def verify_order(self, order_no: str, integration: str | None = None) -> AuditReport:
        """Check one order's hash chain and version sequence."""
        return self._on_order(order_no, integration, lambda i: self._verify_order(order_no, i))

    def _verify_order(self, order_no: str, integration: str) -> AuditReport:
        oid = order_id_for(integration, order_no)
        report = AuditReport(aggregates=1)
        last_version, last_hash = 0, GENESIS
        stored = self.events.recorder.select_events(oid)
        if not stored:
            raise OrderNotFoundError(order_no, integration)
        for s in stored:
            report.events += 1
            try:
                event = self.mapper.to_domain_event(s)
            except Exception as exc:
                report.findings.append(
                    AuditFinding(order_no, s.originator_version, f"altered: unreadable ({exc})")
                )
                last_version = s.originator_version
                continue
            self._check_event(report, order_no, last_version, last_hash, event)
            last_version = event.originator_version
            last_hash = str(getattr(event, "chain_hash", ""))
        return report

    @staticmethod
    def _check_event(
        report: AuditReport, label: str, last_version: int, last_hash: str, event: Any
    ) -> None:
        version = event.originator_version
        if version != last_version + 1:
            if version <= last_version:
                report.findings.append(AuditFinding(label, version, "out of sequence"))
            else:
                missing = (
                    f"version {last_version + 1}"
                    if version == last_version + 2
                    else f"versions {last_version + 1}–{version - 1}"
                )
                report.findings.append(AuditFinding(label, last_version + 1, f"missing: {missing}"))
                return  # the chain cannot be checked across the gap
        stored_hash = getattr(event, "chain_hash", None)
        if stored_hash is None:
            report.findings.append(AuditFinding(label, version, "altered: no chain hash"))
        elif recompute(last_hash, event) != stored_hash:
            report.findings.append(
                AuditFinding(label, version, "altered: content does not match its chain hash")
            )


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


def _backoff(attempt: int) -> None:
    """Sleep a little, with jitter, so racing writers stop colliding."""
    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))


def _chunks(items: Iterable[T], size: int) -> Iterator[Sequence[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["Aggregate", "CommandOutcome", "Ledger"]
