"""The one module through which the go-live tools call the Ledger.

``DryRunLedger`` answers the commands the shared import semantics use
(``adapters.inbound.sync.apply_batch``) by running the real domain decision on a copy of
the stored order (or a new one) and keeping the pending events in memory: nothing is saved.
``Floor`` runs a sandbox scenario's floor commands on a (throwaway) ledger.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.commands import (
    Command,
    CompleteOperation,
    PauseOperation,
    ReceiveErpOrder,
    RecordResult,
    ReportQuantity,
    ResumeOperation,
    StartOperation,
)
from domain.errors import OrderNotFoundError
from domain.floortime import FloorTimes
from domain.ledger import HANDLERS, CommandOutcome, Ledger
from domain.values import Actor, ErpOrder
from domain.workorder import WorkOrder


@dataclass(frozen=True)
class PendingEvent:
    """An event a dry run decided but did not record."""

    integration: str
    order_no: str
    event: str
    details: dict[str, Any] = field(default_factory=dict)


def _details(e: Any) -> dict[str, Any]:
    name = type(e).__name__
    if name == "ChangedInErp":
        return {"changes": [dict(c) for c in e.changes]}
    if name == "ConflictRaised":
        return {"field": e.field, "erp_value": e.erp_value, "floor_value": e.floor_value}
    if name == "WarningRaised":
        return {"code": e.code, "message": e.message, "reference": e.reference}
    if name == "CancelledInErp":
        return {"reason": e.reason}
    return {}


class DryRunLedger:
    """Looks like the Ledger to ``apply_batch``; decides for real and records nothing."""

    def __init__(self, ledger: Ledger) -> None:
        self.real = ledger
        self._orders: dict[tuple[str, str], WorkOrder] = {}
        self._keys: set[str] = set()
        self.pending: list[PendingEvent] = []

    # Read-only pieces of the real ledger that the import semantics read.
    @property
    def recorder(self) -> Any:
        return self.real.recorder

    @property
    def mapper(self) -> Any:
        return self.real.mapper

    def _integ(self, integration: str | None) -> str:
        return integration or self.real.default_integration

    def find_order(self, order_no: str, integration: str | None = None) -> WorkOrder | None:
        key = (self._integ(integration), order_no)
        if key in self._orders:
            return self._orders[key]
        stored = self.real.find_order(order_no, key[0])
        if stored is None:
            return None
        # A private copy: the decision must not touch the ledger's cached aggregate.
        mine: WorkOrder = copy.deepcopy(stored)
        self._orders[key] = mine
        return mine

    def _decided(self, order: WorkOrder, integration: str) -> CommandOutcome:
        events = order.collect_events()
        for e in events:
            self.pending.append(
                PendingEvent(integration, order.order_no, type(e).__name__, _details(e))
            )
        names = tuple(type(e).__name__ for e in events)
        warnings = tuple(str(e.code) for e in events if isinstance(e, WorkOrder.WarningRaised))
        return CommandOutcome(order.order_no, integration, order.version, names, warnings, None)

    def _decide(self, order_no: str, integration: str, decide: Any) -> CommandOutcome:
        order = self.find_order(order_no, integration)
        if order is None:
            raise OrderNotFoundError(order_no, integration)
        try:
            decide(order)
        except Exception:
            self._orders.pop((integration, order_no), None)  # may be half-decided
            raise
        return self._decided(order, integration)

    def execute(
        self,
        command: Command,
        actor: Actor,
        key: str | None = None,
        *,
        times: FloorTimes | None = None,
    ) -> CommandOutcome:
        """Decide ``command`` as the real ledger would (the same handler map), keep the
        events; a keyed command already applied (really or in this run) is a replay."""
        integ = self._integ(command.integration)  # type: ignore[attr-defined]
        order_no = str(command.order_no)  # type: ignore[attr-defined]
        if key is not None:
            done = self.real.replay(command, key)
            if done is not None:
                return done
            if key in self._keys:
                return CommandOutcome(order_no, integ, 0, (), (), None, replayed=True)
            self._keys.add(key)
        if isinstance(command, ReceiveErpOrder):
            checked = command.order.checked()
            if self.find_order(checked.order_no, integ) is None:
                created = WorkOrder.release(integ, checked, actor)
                self._orders[(integ, checked.order_no)] = created
                return self._decided(created, integ)
        handler = HANDLERS[type(command)]
        window = times or self.real.floor_times
        return self._decide(order_no, integ, lambda o: handler(o, command, actor, window))

    def erp_unchanged(self, integration: str, fingerprints: Mapping[str, str]) -> set[str]:
        """Orders a real pass would skip as unchanged: asked of the real ledger (read only)."""
        return self.real.erp_unchanged(integration, fingerprints)

    def erp_received(self, integration: str, fingerprints: Mapping[str, str]) -> None:
        """A dry run remembers nothing (the real ledger's memory stays as it was)."""

    def release_new(
        self, orders: Sequence[ErpOrder], actor: Actor, *, integration: str | None = None
    ) -> int:
        """The bulk release path: refused (like the store would) when an order exists."""
        integ = self._integ(integration)
        built = [WorkOrder.release(integ, o.checked(), actor) for o in orders]
        self.save(*built)
        return len(built)

    def save(self, *aggregates: Any) -> None:
        """Released orders kept: refused (like the store would) when an order exists."""
        orders = [a for a in aggregates if isinstance(a, WorkOrder)]
        for o in orders:
            if self.find_order(o.order_no, o.integration) is not None:
                raise IntegrityError(f"order {o.order_no} exists")
        for o in orders:
            self._orders[(o.integration, o.order_no)] = o
            self._decided(o, o.integration)


def ledger_position(ledger: Ledger) -> int:
    """The ledger's position: the id of its last stored event (0 when empty)."""
    return int(ledger.recorder.max_notification_id() or 0)


def stored_events(ledger: Ledger, topics: list[str], batch: int = 1000) -> Iterator[Any]:
    """Every stored domain event of these topics, in log order."""
    start = 1
    while True:
        notes = ledger.recorder.select_notifications(start, batch, topics=topics)
        if not notes:
            return
        for n in notes:
            yield ledger.mapper.to_domain_event(n)
        start = notes[-1].id + 1


def topic(event_class: type) -> str:
    return f"{event_class.__module__}:{event_class.__qualname__}"


def floor_codes(ledger: Ledger) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per integration: the stop reasons, scrap reasons, result codes and reported units the
    floor has sent, each with the orders it was sent on."""
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    wanted = [
        topic(WorkOrder.OperationPaused),
        topic(WorkOrder.QuantityReported),
        topic(WorkOrder.ResultRecorded),
    ]
    for e in stored_events(ledger, wanted):
        name = type(e).__name__
        order_no = str(e.order_no)
        pairs: list[tuple[str, str]] = []
        if name == "OperationPaused":
            pairs.append(("stop_reason", e.reason_code))
        elif name == "QuantityReported":
            if e.scrap_reason:
                pairs.append(("scrap_reason", e.scrap_reason))
            pairs.append(("floor_unit", e.reported_unit))
        else:
            pairs.append(("result_code", {True: "pass", False: "fail", None: ""}[e.passed]))
        codes = out.setdefault(str(e.integration), {})
        for kind, value in pairs:
            if value:
                orders = codes.setdefault(kind, {}).setdefault(value, [])
                if order_no not in orders:
                    orders.append(order_no)
    return out


class Floor:
    """A sandbox scenario's floor commands, run on a throwaway ledger."""

    def __init__(self, ledger: Ledger, actor: Actor) -> None:
        self.ledger = ledger
        self.actor = actor

    def _run(self, command: Command) -> CommandOutcome:
        return self.ledger.execute(command, self.actor)

    def order(self, order_no: str, integration: str) -> WorkOrder | None:
        return self.ledger.find_order(order_no, integration)

    def start(self, order_no: str, integration: str, op_id: str, at: datetime | None) -> Any:
        return self._run(StartOperation(order_no, op_id, at=at, integration=integration))

    def pause(
        self, order_no: str, integration: str, op_id: str, reason: str, at: datetime | None
    ) -> Any:
        return self._run(PauseOperation(order_no, op_id, reason, at=at, integration=integration))

    def resume(self, order_no: str, integration: str, op_id: str, at: datetime | None) -> Any:
        return self._run(ResumeOperation(order_no, op_id, at=at, integration=integration))

    def report(
        self,
        order_no: str,
        integration: str,
        op_id: str,
        *,
        good: Any,
        scrap: Any,
        scrap_reason: str | None,
        rework: Any,
        at: datetime | None,
    ) -> Any:
        return self._run(
            ReportQuantity(
                order_no,
                op_id,
                good=good,
                scrap=scrap,
                scrap_reason=scrap_reason,
                rework=rework,
                at=at,
                integration=integration,
            )
        )

    def result(
        self, order_no: str, integration: str, op_id: str, passed: bool, at: datetime | None
    ) -> Any:
        return self._run(
            RecordResult(order_no, op_id, passed=passed, at=at, integration=integration)
        )

    def complete(self, order_no: str, integration: str, op_id: str, at: datetime | None) -> Any:
        return self._run(CompleteOperation(order_no, op_id, at=at, integration=integration))


__all__ = [
    "DryRunLedger",
    "Floor",
    "PendingEvent",
    "floor_codes",
    "ledger_position",
    "stored_events",
]
