"""The writeback pump: per ERP destination, replay what the ERP has not acknowledged yet.

Each destination has one position in the ledger's notification log. A step reads the events
after it, turns the destination's integration's events into messages (value maps applied in
reverse), delivers them in order in batches, and moves the position — in one transaction with
the orders it parks and the messages it holds for them. A crash anywhere re-sends what was not
yet recorded as acknowledged, with the same idempotency keys: at-least-once delivery, exactly
once in effect at a receiver that honours the keys.

Transient failures are retried with exponential backoff and jitter. When one order's message
still fails after its retry budget while the destination answers for other orders, that order
is held (ADR 0018): its later messages wait behind it, every other order goes on, and the held
order is tried again in the background with backoff until it goes through (or a supervisor
retries or skips it). When nothing gets through, the destination waits (the floor does not).
A permanent refusal parks that order: its message and the order's later ones wait until a
supervisor retries or skips; every other order goes on.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tenacity import wait_exponential_jitter

from adapters.config import Integration, IntegrationsConfig
from adapters.redact import redact_text
from adapters.writeback.base import Refused, TransientError, Transport, one_line, retrying
from adapters.writeback.config import AnyDestination, Outbound, kinds_for, outbound_of, sends
from adapters.writeback.config import destinations as configured_destinations
from adapters.writeback.messages import (
    EVENT_KINDS,
    W_PARKED,
    Message,
    MessageBuilder,
)
from adapters.writeback.state import Held, LostRaceError, Parked, PumpState
from domain.commands import RaiseWarning
from domain.state import OrderFold
from domain.values import Actor
from domain.workorder import ORDER_EVENT_TOPICS, WorkOrder
from projections.db import Database, connection_errors

log = logging.getLogger("floorledger.writeback")

SNAPSHOT_CACHE = 50_000
RETRY, SKIP = "retry", "skip"


def pump_actor(destination: str) -> Actor:
    """Who records the pump's own warnings (a parked order)."""
    return Actor(f"writeback:{destination}", "system", "system")


def make_transport(destination: AnyDestination) -> Transport:
    """The transport a destination's configuration names."""
    t = destination.transport
    if t == "rest":
        from adapters.writeback.rest import RestTransport

        return RestTransport(destination)  # type: ignore[arg-type]
    if t == "sql":
        from adapters.writeback.sql import SqlTransport

        return SqlTransport(destination)  # type: ignore[arg-type]
    if t == "files":
        from adapters.writeback.files import FilesTransport

        return FilesTransport(destination)  # type: ignore[arg-type]
    if t == "amqp":
        from adapters.writeback.amqp import AmqpTransport

        return AmqpTransport(destination)  # type: ignore[arg-type]
    if t == "tryton":
        from adapters.writeback.tryton import TrytonTransport

        transport: Transport = TrytonTransport(destination)  # type: ignore[arg-type]
        return transport
    raise ValueError(f"unknown transport {t!r}")


@dataclass(frozen=True)
class Decided:
    """A supervisor's retry or skip for this destination, as read from the ledger's log."""

    position: int
    order_key: str
    decision: str
    message_key: str
    actor_id: str


# What a transport raises when it cannot encode a message (a character XML 1.0 or a
# spreadsheet cannot carry, stored before text fields refused it): that message is refused.
try:  # pragma: no cover - openpyxl is a dependency, the guard keeps the pump importable
    from openpyxl.utils.exceptions import IllegalCharacterError

    _UNENCODABLE: tuple[type[BaseException], ...] = (ValueError, TypeError, IllegalCharacterError)
except ImportError:  # pragma: no cover
    _UNENCODABLE = (ValueError, TypeError)


@dataclass
class Delivery:
    """What one delivery pass did: acknowledged, parked (order → message, reason), waiting
    behind a parked or held order (``held``), and orders newly held (order → message, error)."""

    acked: list[Message] = field(default_factory=list)
    parked: dict[str, tuple[Message, str]] = field(default_factory=dict)
    held: list[Message] = field(default_factory=list)
    holds: dict[str, tuple[Message, str]] = field(default_factory=dict)


class DestinationLock:
    """Only one pump works a destination at a time (PG advisory lock, or a file lock)."""

    def __init__(self, store: Database, destination: str) -> None:
        self.store = store
        self.destination = destination
        self._db: Any = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._db is not None or self._fd is not None:
            return True
        if self.store.is_postgres:
            # Advisory locks are database-wide: the schema keeps two ledgers sharing one
            # PostgreSQL database (one schema each) from locking each other's pumps out.
            name = f"floorledger-writeback:{self.store.schema}:{self.destination}"
            key = zlib.crc32(name.encode()) - 2**31
            db = self.store.connect(autocommit=True)
            row = db.query("SELECT pg_try_advisory_lock(?)", (key,))
            if row and row[0][0]:
                self._db = db
                return True
            db.close()
            return False
        path = f"{self.store.sqlite_path}.writeback-{self.destination}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class DestinationPump:
    """Delivers one destination's backlog: one integration's events, as that ERP needs them."""

    def __init__(
        self,
        ledger: Any,
        integration: Integration,
        destination: AnyDestination,
        outbound: Outbound,
        state: PumpState,
        transport: Transport | None = None,
    ) -> None:
        self.ledger = ledger
        self.integration = integration
        self.config = destination
        self.name = destination.name
        self.outbound = outbound
        self.state = state
        self._transport = transport
        self.builder = MessageBuilder(
            destination.name, integration.maps, kinds_for(integration, destination)
        )
        self.triggers = "report" in self.builder.kinds
        self.auto_reports = integration.mode == "D"
        self.actor = pump_actor(destination.name)
        self._snaps: OrderedDict[str, OrderFold] = OrderedDict()
        self._registered = False
        self.backoff = wait_exponential_jitter(
            multiplier=destination.retry.initial_seconds,
            max=min(destination.retry.max_seconds, outbound.flush_seconds),
        )
        self.hold_backoff = wait_exponential_jitter(
            multiplier=destination.retry.initial_seconds, max=destination.retry.max_seconds
        )
        self.failures = 0
        self.next_attempt = 0.0
        # The message whose transient failure set its order aside in this scan while nothing
        # has been answered since: if the next order fails too, the destination is down.
        self._tentative: Message | None = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = make_transport(self.config)
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------------ order snapshots

    def _snapshot(self, key: str, oid: UUID, version: int) -> OrderFold:
        """The order's state just before ``version`` (folded from the store when not cached)."""
        snap = self._snaps.get(key)
        if snap is not None and snap.version == version - 1:
            self._snaps.move_to_end(key)
            return snap
        snap = OrderFold()
        if version > 1:
            for e in self.ledger.events.get(oid, lte=version - 1):
                snap.fold(e)
        self._snaps[key] = snap
        if len(self._snaps) > SNAPSHOT_CACHE:
            self._snaps.popitem(last=False)
        return snap

    def _report_message(self, position: int, trigger: Any) -> Message | None:
        """The message of a triggered report (mode E), keyed by the report's own event."""
        snap = OrderFold()
        for e in self.ledger.events.get(trigger.originator_id, lte=trigger.originator_version):
            snap.fold(e)
            if isinstance(e, WorkOrder.ReportSubmitted) and e.report_id == trigger.report_id:
                return self.builder.build(position, e, snap)
        log.warning(
            "%s: report %s of order %s not found", self.name, trigger.report_id, trigger.order_no
        )
        return None

    def messages(self, notifications: Sequence[Any]) -> list[Message | Decided]:
        """The destination's messages for a slice of the notification log, in log order, and
        the supervisors' decisions about this destination's parked orders where they were
        recorded (the pump carries a decision out when its scan reaches it)."""
        out: list[Message | Decided] = []
        mapper = self.ledger.mapper
        integ = self.integration.name
        for n in notifications:
            if n.topic not in ORDER_EVENT_TOPICS:
                continue
            e = mapper.to_domain_event(n)
            if e.integration != integ:
                continue
            key = str(n.originator_id)
            if isinstance(e, WorkOrder.WritebackDecided) and e.destination == self.name:
                out.append(Decided(int(n.id), key, e.decision, e.message_key, str(e.actor_id)))
            snap = self._snapshot(key, n.originator_id, n.originator_version)
            snap.fold(e)
            if isinstance(e, WorkOrder.ReportTriggered):
                if self.triggers:
                    m = self._report_message(int(n.id), e)
                    if m is not None:
                        out.append(m)
                continue
            if isinstance(e, WorkOrder.ReportSubmitted) and not self.auto_reports:
                continue
            if self.builder.wanted(e):
                out.append(self.builder.build(int(n.id), e, snap))
        return out

    # ------------------------------------------------------------------ delivery

    def deliver(self, messages: Iterable[Message], blocked: set[str]) -> Delivery:
        """Send in order, batched; an order refused (or already parked) holds its later ones.

        Each message is checked against the blocked orders only once every earlier chunk has
        been answered, so nothing of a refused order overtakes its refusal.
        """
        result = Delivery()
        blocked = set(blocked)
        size = max(1, self.transport.batch_size)
        chunk: list[Message] = []
        for m in messages:
            if m.order_key in blocked:
                result.held.append(m)
                continue
            chunk.append(m)
            if len(chunk) >= size:
                self._send_chunk(chunk, blocked, result)
                chunk = []
        if chunk:
            self._send_chunk(chunk, blocked, result)
        return result

    def built(self, notifications: Sequence[Any]) -> Generator[Message | Decided, None, None]:
        """The scan's messages, built by a helper thread while earlier chunks are on the wire
        (sending waits on the network or the database; building needs the interpreter)."""
        step = max(1, self.transport.batch_size)
        ready: queue.Queue[list[Message | Decided] | BaseException | None] = queue.Queue(maxsize=8)
        cancelled = threading.Event()

        def put(item: list[Message | Decided] | BaseException | None) -> bool:
            while not cancelled.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for i in range(0, len(notifications), step):
                    if not put(self.messages(notifications[i : i + step])):
                        return
                put(None)
            except BaseException as exc:
                put(exc)

        worker = threading.Thread(target=produce, name=f"writeback-build-{self.name}", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            cancelled.set()
            worker.join()

    def _send(self, chunk: Sequence[Message], once: bool = False) -> list[str | None]:
        try:
            if once:
                return self.transport.send(chunk)
            return retrying(self.config.retry, lambda: self.transport.send(chunk))
        except (TransientError, Refused):
            raise
        except _UNENCODABLE as exc:
            # Not the destination's answer: the message(s) cannot be put in its format. A
            # refusal parks the order (found one by one) and everything else goes on.
            raise Refused(
                f"cannot be encoded for {self.name} ({self.config.transport}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _send_chunk(self, chunk: list[Message], blocked: set[str], result: Delivery) -> None:
        try:
            outcomes = self._send(chunk)
        except TransientError as exc:
            if len(chunk) == 1 or self._tentative is not None:
                self._transient(chunk[0], exc, blocked, result)
            else:  # find the failing order(s): one by one, in order
                for m in chunk:
                    self._single(m, blocked, result)
            return
        except Refused as exc:
            self._tentative = None  # the destination answered
            if len(chunk) == 1:
                outcomes = [exc.reason]
            else:  # find the refused message(s): one by one, in order
                for m in chunk:
                    self._single(m, blocked, result)
                return
        self._tentative = None
        for m, outcome in zip(chunk, outcomes, strict=True):
            if m.order_key in blocked:
                result.held.append(m)
            elif outcome is None:
                result.acked.append(m)
            else:
                result.parked[m.order_key] = (m, one_line(outcome))
                blocked.add(m.order_key)

    def _single(self, m: Message, blocked: set[str], result: Delivery) -> None:
        """Send one message of a chunk that failed as a whole."""
        if m.order_key in blocked:
            result.held.append(m)
            return
        try:
            outcome = self._send([m])[0]
        except Refused as single:
            outcome = single.reason
        except TransientError as exc:
            self._transient(m, exc, blocked, result)
            return
        self._tentative = None
        if outcome is None:
            result.acked.append(m)
        else:
            result.parked[m.order_key] = (m, one_line(outcome))
            blocked.add(m.order_key)

    def _transient(
        self, m: Message, exc: TransientError, blocked: set[str], result: Delivery
    ) -> None:
        """A message failed transiently after its retry budget: set its order aside, unless
        the order set aside before it has not been followed by any answer either — then the
        destination itself is away and waits (raises)."""
        if self._tentative is not None:
            raise exc
        log.warning("%s: order %s held: %s", self.name, m.order_no, one_line(str(exc), 300))
        result.holds[m.order_key] = (m, one_line(f"{type(exc).__name__}: {exc}", 2000))
        blocked.add(m.order_key)
        self._tentative = m

    def _register(self) -> None:
        if not self._registered:
            self.state.ensure(self.name, self.integration.name)
            self._registered = True

    def step(self) -> int:
        """Deliver one scan of the log after the position; returns notifications read.

        Progress is recorded after every delivered chunk (the transport's batch size): the
        position moves to the chunk's last message, in one transaction with the orders the
        chunk parked and the messages it held. A failure or a crash mid-scan re-sends at most
        the chunk that was in flight. A supervisor's decision is carried out where the scan
        meets it in the log, its position recorded with it: nothing can lose a decision.
        """
        self._register()
        self.apply_decisions()
        self.retry_holds()
        at = self.state.position(self.name)
        notifications = self.ledger.recorder.select_notifications(at + 1, self.outbound.scan_size)
        if not notifications:
            return 0
        last = int(notifications[-1].id)
        blocked = self.state.parked_keys(self.name) | self.state.hold_keys(self.name)
        self._tentative = None
        size = max(1, self.transport.batch_size)
        items = self.built(notifications)
        pending = Delivery()
        chunk: list[Message] = []
        parked_any = False
        try:
            for item in items:
                if isinstance(item, Decided):
                    if chunk:
                        self._send_chunk(chunk, blocked, pending)
                        chunk = []
                    self._tentative = None  # a decision's place is recorded: a hold is kept
                    at = self._commit(at, item.position, pending, item)
                    parked_any = parked_any or bool(pending.parked)
                    pending = Delivery()
                    if item.order_key in blocked:
                        self.apply_decisions()
                        blocked = self.state.parked_keys(self.name) | self.state.hold_keys(
                            self.name
                        )
                    continue
                if item.order_key in blocked:
                    pending.held.append(item)
                    continue
                chunk.append(item)
                if len(chunk) >= size:
                    self._send_chunk(chunk, blocked, pending)
                    chunk = []
                    if self._tentative is None:  # a hold is recorded once another order went
                        at = self._commit(at, item.position, pending)
                        parked_any = parked_any or bool(pending.parked)
                        pending = Delivery()
            if chunk:
                self._send_chunk(chunk, blocked, pending)
            if self._tentative is not None and len(notifications) < self.outbound.scan_size:
                # The last order to fail had no other order after it to show the destination
                # answers: keep what was answered before it; the destination waits.
                self._commit_before(at, self._tentative, pending)
                raise TransientError(pending.holds[self._tentative.order_key][1])
            # (after a full scan a hold is kept: the next scan goes on past it)
            at = self._commit(at, last, pending)
            parked_any = parked_any or bool(pending.parked)
        finally:
            items.close()  # stops the builder if delivery failed half-way
            if parked_any:
                self.warn_parked()
        self.failures = 0
        return len(notifications)

    def _commit_before(self, at: int, m: Message, done: Delivery) -> None:
        """Record what was answered before ``m`` (whose order is not held after all)."""
        to = m.position - 1
        keep = Delivery(
            acked=[x for x in done.acked if x.position < m.position],
            parked={k: v for k, v in done.parked.items() if v[0].position < m.position},
            held=[x for x in done.held if x.position < m.position],
            holds={k: v for k, v in done.holds.items() if v[0].position < m.position},
        )
        if to > at:
            self._commit(at, to, keep)

    def _commit(self, at: int, to: int, done: Delivery, decided: Decided | None = None) -> int:
        """Record one chunk's outcome and move the position from ``at`` to ``to``."""
        with self.state.transaction() as db:
            if done.held:
                self.state.hold(
                    db,
                    self.name,
                    [(m.order_key, m.position, m.version, m.dumps()) for m in done.held],
                )
            for m, reason in done.parked.values():
                self.state.park(db, self.name, m, m.dumps(), reason)
            for m, error in done.holds.values():
                self.state.hold_order(db, self.name, m, m.dumps(), error, self._next_try(1))
            if decided is not None:
                self.state.decide_in(
                    db,
                    self.name,
                    decided.order_key,
                    decided.decision,
                    decided.actor_id,
                    decided.message_key,
                )
            self.state.advance(db, self.name, at, to, len(done.acked))
        return to

    # ------------------------------------------------------------------ parked orders

    def warn_parked(self) -> None:
        """Record a ledger warning for each parked order not yet warned about (idempotent)."""
        for p in self.state.parked(self.name):
            if p.warned:
                continue
            log.warning("%s: order %s parked: %s", self.name, p.order_no, one_line(p.reason, 300))
            self.ledger.execute(
                RaiseWarning(
                    p.order_no,
                    W_PARKED,
                    one_line(f"writeback to {self.name} refused: {p.reason}", 1000),
                    reference=p.msg_key[:200],
                    integration=p.integration,
                ),
                self.actor,
                key=f"wb-parked:{p.msg_key}:{p.parked_at}"[:200],
            )
            self.state.mark_warned(self.name, p.order_key, p.msg_key)

    def apply_decisions(self) -> None:
        """Carry out supervisors' retries and skips of parked and held orders."""
        for p in self.state.parked(self.name):
            if not p.warned:
                self.warn_parked()
            if p.decision in (RETRY, SKIP):
                self._resume(p)
        for h in self.state.holds(self.name):
            if h.decision in (RETRY, SKIP):
                self._retry_hold(h)

    # ------------------------------------------------------------------ held orders

    def _next_try(self, attempts: int) -> float:
        """When a held order is tried again after ``attempts`` failed tries (epoch seconds)."""
        return time.time() + float(self.hold_backoff(_RetryState(attempts)))  # type: ignore[arg-type]

    def retry_holds(self) -> None:
        """Try the held orders that are due again (one attempt each)."""
        due = time.time()
        for h in self.state.holds(self.name):
            if h.next_attempt_at <= due or h.decision in (RETRY, SKIP):
                self._retry_hold(h)

    def _retry_hold(self, h: Held) -> None:
        """Send a held order's message, then its waiting ones in order; the first that fails
        again keeps the order held (a refusal parks it instead). A supervisor's skip drops
        the held message first."""
        first = Message.loads(h.message)
        waiting = [Message.loads(text) for _, _, text in self.state.held(self.name, h.order_key)]
        todo = ([] if h.decision == SKIP else [first]) + waiting
        if h.decision is not None:
            log.info("%s: order %s: supervisor's %s carried out", self.name, h.order_no, h.decision)
        acked: list[Message] = []
        failed: tuple[Message, str] | None = None
        refused: tuple[Message, str] | None = None
        for m in todo:
            try:
                outcome = self._send([m], once=True)[0]
            except TransientError as exc:
                failed = (m, one_line(f"{type(exc).__name__}: {exc}", 2000))
                break
            except Refused as exc:
                outcome = exc.reason
            if outcome is not None:
                refused = (m, one_line(outcome))
                break
            acked.append(m)
        with self.state.transaction() as db:
            if failed is not None:
                m, error = failed
                moved = m is not first
                self.state.hold_failed(
                    db,
                    self.name,
                    h.order_key,
                    error,
                    self._next_try(h.attempts + 1),
                    m if moved else None,
                    m.dumps() if moved else None,
                )
                if moved:
                    self.state.drop_waiting(db, self.name, h.order_key, m.version)
            elif refused is not None:
                m, reason = refused
                self.state.release(db, self.name, h.order_key, m.version)
                self.state.park(db, self.name, m, m.dumps(), reason)
            else:
                through = max((m.version for m in todo), default=None)
                self.state.release(db, self.name, h.order_key, through)
            if acked:
                self.state.add_delivered(db, self.name, len(acked))
        if failed is None and refused is None:
            log.info("%s: held order %s delivered; hold cleared", self.name, h.order_no)
        if refused is not None:
            self.warn_parked()

    def _resume(self, p: Parked) -> None:
        log.info("%s: order %s: supervisor's %s carried out", self.name, p.order_no, p.decision)
        held = [Message.loads(text) for _, _, text in self.state.held(self.name, p.order_key)]
        todo = ([Message.loads(p.message)] if p.decision == RETRY else []) + held
        self._tentative = None
        done = self.deliver(todo, set()) if todo else Delivery()
        self._tentative = None
        skipped: list[Message] = []
        if p.decision == SKIP:
            done, skipped = self._skip_refused(todo, done)
        processed = [m.version for m in done.acked] + [m.version for m, _ in done.parked.values()]
        processed += [m.version for m in skipped] + [m.version for m, _ in done.holds.values()]
        through = max(processed) if processed else None
        with self.state.transaction() as db:
            self.state.unpark(db, self.name, p.order_key, through)
            if done.acked:
                self.state.add_delivered(db, self.name, len(done.acked))
            for m, reason in done.parked.values():
                self.state.park(db, self.name, m, m.dumps(), reason)
            for m, error in done.holds.values():
                self.state.hold_order(db, self.name, m, m.dumps(), error, self._next_try(1))
        if done.parked:
            self.warn_parked()

    def _skip_refused(self, todo: list[Message], done: Delivery) -> tuple[Delivery, list[Message]]:
        """A skip decides for the order at this destination: of the messages it was holding,
        those the destination refuses as well are skipped too (logged), not parked again
        one by one; the others are delivered."""
        acked = list(done.acked)
        holds = dict(done.holds)
        skipped: list[Message] = []
        while done.parked:
            ((m, reason),) = done.parked.values()
            log.info("%s: %s skipped with the order's parked message: %s", self.name, m.key, reason)
            skipped.append(m)
            rest = [x for x in todo if x.version > m.version]
            done = self.deliver(rest, set()) if rest else Delivery()
            acked.extend(done.acked)
            holds.update(done.holds)
        return Delivery(acked=acked, holds=holds), skipped

    # ------------------------------------------------------------------ draining

    def drain(self, max_seconds: float | None = None) -> int:
        """Deliver until the backlog is empty; returns notifications read."""
        total = 0
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while True:
            try:
                n = self.step()
            except LostRaceError:
                log.info("%s: position moved by someone else; reloading", self.name)
                continue
            total += n
            if n < self.outbound.scan_size:
                return total
            if deadline is not None and time.monotonic() > deadline:
                return total

    def failed(self, exc: BaseException) -> float:
        """Record a failed attempt; returns the seconds to wait before the next one."""
        self.failures += 1
        message = f"{type(exc).__name__}: {exc}"
        try:
            self.state.record_error(self.name, message)
        except connection_errors():
            self.state.reset()
        delay = float(self.backoff(_RetryState(self.failures)))  # type: ignore[arg-type]
        self.next_attempt = time.monotonic() + delay
        return delay


@dataclass
class _RetryState:
    """The little of tenacity's RetryCallState its wait strategies read."""

    attempt_number: int


# After a NOTIFY wake-up the pump waits this long before its pass (commits coalesce).
WAKE_COALESCE_SECONDS = 0.05


class Pump:
    """Runs every configured destination (or the named ones) of the plant."""

    def __init__(
        self,
        ledger: Any,
        config: IntegrationsConfig,
        names: Sequence[str] | None = None,
        *,
        transports: dict[str, Transport] | None = None,
        store: Database | None = None,
    ) -> None:
        self.ledger = ledger
        self._owns_store = store is None
        self.store = store or Database.for_ledger(ledger)
        self.state = PumpState(self.store)
        self.pumps: dict[str, DestinationPump] = {}
        self.skipped: dict[str, str] = {}
        transports = transports or {}
        wanted = set(names) if names else None
        for integ, dest in configured_destinations(config):
            if wanted is not None and dest.name not in wanted:
                continue
            if not sends(integ):
                self.skipped[dest.name] = f"mode {integ.mode} sends nothing"
                continue
            outbound = outbound_of(integ)
            assert outbound is not None
            self.pumps[dest.name] = DestinationPump(
                ledger, integ, dest, outbound, self.state, transports.get(dest.name)
            )
        if wanted is not None:
            unknown = wanted - set(self.pumps) - set(self.skipped)
            if unknown:
                raise KeyError(f"no writeback destination named {', '.join(sorted(unknown))}")
        self.locks = {n: DestinationLock(self.store, n) for n in self.pumps}
        self._wake = threading.Event()

    def get(self, name: str) -> DestinationPump:
        try:
            return self.pumps[name]
        except KeyError:
            raise KeyError(f"no writeback destination named {name!r}") from None

    def run_once(self, *, raise_errors: bool = False) -> dict[str, int | str]:
        """Drain every due destination once; a failing one is recorded and the others go on."""
        out: dict[str, int | str] = {}
        now = time.monotonic()
        for name, pump in self.pumps.items():
            if pump.next_attempt > now:
                continue
            if not self.locks[name].acquire():
                out[name] = "locked by another pump"
                continue
            try:
                out[name] = pump.drain()
            except Exception as exc:
                # Whatever stops one destination (the ERP away, the database, a bug) is
                # recorded as its last error and retried with backoff; the others go on.
                delay = pump.failed(exc)
                self.state.reset()
                expected = isinstance(exc, (TransientError, *connection_errors()))
                (log.warning if expected else log.exception)(
                    "%s: %s; next try in %.1fs", name, redact_text(str(exc)), delay
                )
                out[name] = f"error: {redact_text(str(exc))}"
                if raise_errors:
                    raise
        return out

    def wake(self) -> None:
        self._wake.set()

    def run_forever(self, stop: threading.Event, poll: float | None = None) -> None:
        """Follow the ledger until ``stop`` is set: deliver as events arrive, retry on a timer.

        On PostgreSQL a LISTEN connection wakes the pump as soon as the ledger commits
        events (see :meth:`_listen`); the poll stays as the watchdog and is all SQLite has."""
        interval = poll or min((p.outbound.poll_seconds for p in self.pumps.values()), default=1.0)
        listening = threading.Thread(
            target=self._listen, args=(stop,), name="writeback-listen", daemon=True
        )
        if self.store.is_postgres:
            listening.start()
        try:
            while not stop.is_set():
                self._wake.clear()  # before the pass: a commit during it wakes the next one
                try:
                    self.run_once()
                except Exception:
                    log.exception("writeback pass failed")
                    self.state.reset()
                if self._wake.wait(interval) and not stop.is_set():
                    # Woken by a commit: let the commits of the next moment join this pass,
                    # so a busy floor gives batches, not one request per event.
                    stop.wait(WAKE_COALESCE_SECONDS)
        finally:
            self._wake.set()
            if listening.is_alive():
                listening.join(timeout=2)

    def _listen(self, stop: threading.Event) -> None:
        """Wake the pump on every NOTIFY of the ledger's channel; reopen a lost connection."""
        backoff = 0.5
        while not stop.is_set():
            try:
                listener = self.store.listener()
            except Exception as exc:
                log.warning("writeback cannot LISTEN (%s); polling until it works", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if listener is None:
                return
            backoff = 0.5
            try:
                while not stop.is_set():
                    if listener.wait(0.5):
                        self._wake.set()
            except Exception as exc:
                log.warning("writeback listening connection lost (%s); the poll goes on", exc)
            finally:
                listener.close()

    def close(self) -> None:
        for pump in self.pumps.values():
            pump.close()
        for lock in self.locks.values():
            lock.release()
        self.state.close()
        if self._owns_store:
            self.store.dispose()


def age_seconds(iso_time: str | None) -> float | None:
    if not iso_time:
        return None
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(iso_time)).total_seconds())


__all__ = [
    "EVENT_KINDS",
    "RETRY",
    "SKIP",
    "Delivery",
    "DestinationPump",
    "Pump",
    "make_transport",
    "pump_actor",
]
