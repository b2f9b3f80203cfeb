"""Supervisors' writeback operations, shared by the CLI and the HTTP API.

Status per destination (backlog, oldest unsent event's age, parked and held orders, last
error), replay from a position, retry or skip a parked or held order, trigger a report
(mode E). Every decision is recorded in the ledger as a warning on the order (who, when, what).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from eventsourcing.utils import get_topic

from adapters.config import Integration, IntegrationsConfig
from adapters.redact import redact_text
from adapters.writeback.base import one_line
from adapters.writeback.config import AnyDestination, kinds_for, sends
from adapters.writeback.config import destinations as configured_destinations
from adapters.writeback.messages import (
    EVENT_KINDS,
    Message,
)
from adapters.writeback.pump import RETRY, SKIP
from adapters.writeback.state import PumpState
from domain.commands import DecideWriteback, TriggerReport
from domain.ledger import CommandOutcome
from domain.state import iso
from domain.values import Actor
from domain.workorder import WorkOrder
from projections.db import Database

OLDEST_SCAN_LIMIT = 20_000


class WritebackError(Exception):
    """A writeback operation that cannot be done as asked (unknown destination, not parked)."""


class PositionError(WritebackError):
    """A replay position outside the ledger (before 1 or beyond the head)."""


@dataclass(frozen=True)
class ParkedOrder:
    """An order whose writeback waits for a supervisor."""

    order_no: str
    integration: str
    position: int
    idempotency_key: str
    event: str
    reason: str
    parked_at: str
    held: int
    decision: str | None


@dataclass(frozen=True)
class HeldOrder:
    """An order set aside at a destination after transient failures; retried with backoff."""

    order_no: str
    integration: str
    position: int
    idempotency_key: str
    event: str
    last_error: str
    held_since: str
    last_error_at: str
    attempts: int
    next_attempt_at: str
    waiting: int
    decision: str | None


@dataclass(frozen=True)
class DestinationStatus:
    """How far one ERP destination is behind the floor, and why."""

    destination: str
    integration: str
    mode: str
    transport: str
    sends: bool
    position: int
    head: int
    backlog: int
    oldest_unsent_at: str | None
    oldest_unsent_age_seconds: float | None
    delivered: int
    last_error: str | None
    last_error_at: str | None
    last_success_at: str | None
    parked: list[ParkedOrder] = field(default_factory=list)
    held: list[HeldOrder] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WritebackService:
    """Status and supervisor decisions over the pump's state tables."""

    def __init__(self, ledger: Any, config: IntegrationsConfig, store: Database | None = None):
        self.ledger = ledger
        self.config = config
        self._owns_store = store is None
        self.store = store or Database.for_ledger(ledger)
        self.state = PumpState(self.store)
        self.destinations: dict[str, tuple[Integration, AnyDestination]] = {
            d.name: (i, d) for i, d in configured_destinations(config)
        }

    def close(self) -> None:
        self.state.close()
        if self._owns_store:
            self.store.dispose()

    def _dest(self, name: str) -> tuple[Integration, AnyDestination]:
        try:
            return self.destinations[name]
        except KeyError:
            known = ", ".join(sorted(self.destinations)) or "none"
            raise WritebackError(
                f"no writeback destination named {name!r} (configured: {known})"
            ) from None

    # ------------------------------------------------------------------ status

    def _backlog(self, position: int, topics: list[str]) -> int:
        if not topics:
            return 0
        db = self.state.db
        marks = ",".join("?" * len(topics))
        if self.store.is_postgres:
            sql = (
                f'SELECT COUNT(*) FROM "{self.store.events_table}" '
                f"WHERE notification_id > ? AND topic IN ({marks})"
            )
        else:
            sql = (
                f"SELECT COUNT(*) FROM {self.store.events_table} "
                f"WHERE rowid > ? AND topic IN ({marks})"
            )
        rows = db.query(sql, [position, *topics])
        db.end_read()
        return int(rows[0][0])

    def _oldest(self, integ: Integration, position: int, topics: set[str]) -> str | None:
        start, seen = position + 1, 0
        mapper = self.ledger.mapper
        while seen < OLDEST_SCAN_LIMIT:
            batch = self.ledger.recorder.select_notifications(start, 500)
            if not batch:
                return None
            for n in batch:
                if n.topic in topics:
                    e = mapper.to_domain_event(n)
                    if e.integration == integ.name:
                        return iso(getattr(e, "occurred_at", None) or e.timestamp)
            seen += len(batch)
            start = int(batch[-1].id) + 1
        return None

    def status(self, name: str | None = None) -> list[DestinationStatus]:
        """Per destination: backlog, oldest unsent event's age, parked and held orders, last
        error."""
        from adapters.writeback.pump import age_seconds

        names = [name] if name else sorted(self.destinations)
        head = int(self.ledger.recorder.max_notification_id() or 0)
        out: list[DestinationStatus] = []
        for n in names:
            integ, dest = self._dest(n)
            st = self.state.get(n)
            position = st.position if st else 0
            kinds = set(kinds_for(integ, dest))
            events = {get_topic(e) for e, k in EVENT_KINDS.items() if k in kinds}
            if integ.mode == "E":
                events = {get_topic(WorkOrder.ReportTriggered)} if "report" in kinds else set()
            active = sends(integ)
            backlog = self._backlog(position, sorted(events)) if active else 0
            oldest = self._oldest(integ, position, events) if backlog else None
            parked = [
                ParkedOrder(
                    order_no=p.order_no,
                    integration=p.integration,
                    position=p.position,
                    idempotency_key=p.msg_key,
                    event=Message.loads(p.message).event,
                    reason=redact_text(p.reason),  # also rows stored before redaction
                    parked_at=p.parked_at,
                    held=p.held,
                    decision=p.decision,
                )
                for p in self.state.parked(n)
            ]
            holds = self.state.holds(n)
            held = [
                HeldOrder(
                    order_no=h.order_no,
                    integration=h.integration,
                    position=h.position,
                    idempotency_key=h.msg_key,
                    event=Message.loads(h.message).event,
                    last_error=redact_text(h.last_error),
                    held_since=h.held_since,
                    last_error_at=h.last_error_at,
                    attempts=h.attempts,
                    next_attempt_at=datetime.fromtimestamp(h.next_attempt_at, UTC).isoformat(
                        timespec="seconds"
                    ),
                    waiting=h.waiting,
                    decision=h.decision,
                )
                for h in holds
            ]
            oldest_parked = min(
                [Message.loads(p.message).recorded_at or p.parked_at for p in self.state.parked(n)]
                + [Message.loads(h.message).recorded_at or h.held_since for h in holds],
                default=None,
            )
            if oldest is None and oldest_parked is not None:
                oldest = oldest_parked
            out.append(
                DestinationStatus(
                    destination=n,
                    integration=integ.name,
                    mode=integ.mode,
                    transport=dest.transport,
                    sends=active,
                    position=position,
                    head=head,
                    backlog=backlog
                    + sum(p.held + 1 for p in parked)
                    + sum(h.waiting + 1 for h in held),
                    oldest_unsent_at=oldest,
                    oldest_unsent_age_seconds=age_seconds(oldest),
                    delivered=st.delivered if st else 0,
                    last_error=redact_text(st.last_error) if st and st.last_error else None,
                    last_error_at=st.last_error_at if st else None,
                    last_success_at=st.last_success_at if st else None,
                    parked=parked,
                    held=held,
                )
            )
        return out

    # ------------------------------------------------------------------ decisions

    def replay(self, name: str, from_position: int) -> int:
        """Re-send everything from ``from_position`` on (receivers dedupe by key)."""
        integ, _ = self._dest(name)
        if from_position < 1:
            raise PositionError(f"--from {from_position}: positions start at 1")
        head = int(self.ledger.recorder.max_notification_id() or 0)
        if from_position > head:
            # Moving the position past the head would silently skip the events recorded
            # between the head and that position: refused.
            raise PositionError(
                f"--from {from_position} is beyond the ledger's head (position {head}): "
                f"replay accepts 1 to {head}"
            )
        self.state.ensure(name, integ.name)
        self.state.set_position(name, from_position - 1)
        return from_position - 1

    def _decide(
        self,
        name: str,
        order_no: str,
        decision: str,
        actor: Actor,
        key: str | None = None,
        note: str = "",
    ) -> CommandOutcome:
        integ, _ = self._dest(name)
        how = "retry" if decision == RETRY else "skip"
        asked = DecideWriteback(order_no, name, how, note=note, integration=integ.name)
        if key is not None:
            # A repeated request gets the first answer, even though the order is no longer
            # parked; the same key for another request is refused.
            done: CommandOutcome | None = self.ledger.replay(asked, key)
            if done is not None:
                return done
        parked = self.state.find_parked(name, order_no)
        if parked is not None:
            found = (parked.integration, parked.msg_key, parked.reason)
        else:
            held = self.state.find_held(name, order_no)
            if held is None:
                raise WritebackError(
                    f"order {order_no!r} is not parked or held at destination {name!r}"
                )
            found = (held.integration, held.msg_key, held.last_error)
        command = replace(
            asked,
            integration=found[0] or integ.name,
            message_key=found[1][:200],
            reason=one_line(found[2], 600),
        )
        # The WritebackDecided event is the decision: the pump carries it out when its scan
        # of the log reaches it (no second write here that a crash could lose).
        outcome: CommandOutcome = self.ledger.execute(command, actor, key)
        return outcome

    def retry(
        self, name: str, order_no: str, actor: Actor, key: str | None = None, note: str = ""
    ) -> CommandOutcome:
        """Send the parked message again, then the order's held ones (recorded on the order,
        with the note if one is given)."""
        return self._decide(name, order_no, RETRY, actor, key, note)

    def skip(
        self, name: str, order_no: str, actor: Actor, key: str | None = None, note: str = ""
    ) -> CommandOutcome:
        """Drop the parked message and go on with the order's held ones (recorded, with the
        note saying why if one is given)."""
        return self._decide(name, order_no, SKIP, actor, key, note)

    def trigger(
        self,
        order_no: str,
        report_id: str,
        actor: Actor,
        integration: str | None = None,
        key: str | None = None,
    ) -> CommandOutcome:
        """An operator or supervisor sends a submitted report to the ERP (mode E)."""
        integ_name = integration or self.ledger.default_integration
        try:
            integ = self.config.get(integ_name)
        except Exception as exc:
            raise WritebackError(str(exc)) from None
        if integ.mode != "E":
            raise WritebackError(
                f"integration {integ.name!r} is in mode {integ.mode}: reports are sent by "
                "trigger only in mode E"
            )
        command = TriggerReport(order_no, report_id, integration=integ.name)
        outcome: CommandOutcome = self.ledger.execute(command, actor, key)
        return outcome


__all__ = [
    "DestinationStatus",
    "HeldOrder",
    "ParkedOrder",
    "PositionError",
    "WritebackError",
    "WritebackService",
]
