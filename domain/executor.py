"""The command executor: per-aggregate locks, retries on races, receipts of keyed commands,
and group commit of concurrent commands' events. It knows nothing of what a command means:
the ledger gives it a ``decide`` function that triggers events on the loaded aggregate."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, Recording

from domain import deadline
from domain.deadline import CommandDeadlineError, stored_position
from domain.errors import (
    ConcurrencyError,
    DomainError,
    IdempotencyKeyReusedError,
    OrderNotFoundError,
)
from domain.receipt import CommandReceipt
from domain.values import Actor, receipt_id_for
from domain.workorder import WorkOrder
from domain.workstation import Workstation

_log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12
# Per-order locks by stripe: two orders sharing one are not worked on at the same time (the
# second waits, or leaves the event loop's fast path for a worker thread); 8,192 makes that
# rare among the few hundred orders in flight at once (the locks take under 1 MB).
LOCK_STRIPES = 8192
_REFUSED = "refused"
_RACED = "raced"


class _Waiting:
    """One command's events waiting to be saved in a group."""

    __slots__ = ("deadline", "done", "error", "items", "lead", "result", "taken", "then")

    def __init__(
        self,
        items: list[Any],
        then: Callable[[_Waiting], None] | None = None,
    ) -> None:
        self.items = items
        self.then = then  # called with this member once saved or failed (GroupWriter)
        self.deadline = deadline.current()
        self.taken = False  # in a group being saved (no longer only queued)
        self.done: threading.Event | None = None  # only a command that waits needs one
        self.lead = False
        self.result: list[Recording[UUID]] = []
        self.error: BaseException | None = None


class GroupCommit:
    """Saves the events of concurrent commands on different aggregates in one transaction.

    The first waiting command leads: it saves everything queued so far in one ``save`` and
    hands the lead to the next waiting command. When a group fails on a conflict (one command
    raced another writer), each command of the group is saved on its own, so one conflict
    never fails the others; when it fails because the store is unreachable, every command of
    the group gets that error at once. A lone command is simply saved.

    Commands under a deadline (:mod:`domain.deadline`) are saved under the group's earliest
    one; one whose deadline passed while it was queued is not saved.
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
            left = deadline.remaining()
            if not me.done.wait(left) and self._leave(me):
                at = me.deadline
                raise CommandDeadlineError(at[1] if at else 0.0, "waiting to be saved")
            me.done.wait()  # taken into a group: its save is bounded by the group's deadline
            if not me.lead:
                return self._outcome(me)
        group: list[_Waiting]
        with self._mutex:
            group = self._queue[: self._max]
            del self._queue[: len(group)]
            for w in group:
                w.taken = True
        try:
            _save_group(self._save, group)
        finally:
            # The next leader is woken before the group's members: they all want the GIL at
            # once, and the commands queued meanwhile wait on the next leader, not on them.
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    if successor.done is not None:
                        successor.done.set()
                else:
                    self._leading = False
            for w in group:
                if w.done is not None:
                    w.done.set()
        return self._outcome(me)

    def _leave(self, me: _Waiting) -> bool:
        """Take a waiter whose deadline passed out of the queue; False when it was taken into a
        group (or handed the lead) meanwhile."""
        with self._mutex:
            if me.taken or me.lead or me not in self._queue:
                return False
            self._queue.remove(me)
            return True

    @staticmethod
    def _outcome(me: _Waiting) -> list[Recording[UUID]]:
        if me.error is not None:
            raise me.error
        return me.result


def _save_group(save: Callable[..., list[Recording[UUID]]], group: list[_Waiting]) -> None:
    """Save a group taken from a queue (:class:`GroupCommit`, :class:`GroupWriter`): the
    members past their deadline fail unsaved, the others are saved under the earliest of
    theirs; whatever happens, every member ends with its result or an error."""
    try:
        live = _drop_expired(group)
        if live:
            with deadline.deadline_at(_earliest(live)):
                _flush(save, live)
    finally:
        for w in group:
            if not w.result and w.error is None:  # never answered as saved unless it was
                w.error = RuntimeError("the group save ended without saving this command")


def _drop_expired(group: list[_Waiting]) -> list[_Waiting]:
    """The members still within their deadline; the others fail unsaved (so one late
    member does not cut the group's time short)."""
    now = time.monotonic()
    live: list[_Waiting] = []
    for w in group:
        if w.deadline is not None and now >= w.deadline[0]:
            w.error = CommandDeadlineError(w.deadline[1], "waiting to be saved")
            if w.done is not None:
                w.done.set()
        else:
            live.append(w)
    return live


def _flush(save: Callable[..., list[Recording[UUID]]], group: list[_Waiting]) -> None:
    """Save a group's events in one call; after a conflict member by member; when the store
    is unreachable every member fails at once. Each member gets its result or its error."""
    try:
        if len(group) == 1:
            group[0].result = save(*group[0].items)
        else:
            try:
                recordings = save(*[i for w in group for i in w.items])
            except (OperationalError, InterfaceError) as exc:
                for w in group:  # the store is unreachable: no member fares better alone
                    w.error = exc
            except Exception:
                for w in group:
                    try:
                        with deadline.deadline_at(w.deadline):
                            deadline.check("saving the group member by member")
                            w.result = save(*w.items)
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


class GroupWriter:
    """One thread saving, in groups, the events of commands decided without blocking.

    A command decided in the caller's thread (:meth:`CommandExecutor.try_on_order`: its
    order cached and its lock free) is queued here; the writer takes everything queued so far
    and saves it as :class:`GroupCommit` does (one transaction; member by member after a
    conflict; all failing at once when the store is unreachable; a member past its deadline
    not saved), then calls each member's ``then``. Callers wait for a callback instead of
    a thread each, so a busy API process has two threads wanting the interpreter, not one
    per request.
    """

    def __init__(self, save: Callable[..., list[Recording[UUID]]], max_group: int = 256):
        self._save = save
        self._max = max_group
        self._ready = threading.Condition(threading.Lock())
        self._queue: deque[_Waiting] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, member: _Waiting) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            self._queue.append(member)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="floorledger-group-writer", daemon=True
                )
                self._thread.start()
            self._ready.notify()

    def close(self) -> None:
        """Save what is queued, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                group = [self._queue.popleft() for _ in range(min(self._max, len(self._queue)))]
            try:
                _save_group(self._save, group)
            finally:
                for w in group:
                    if w.then is not None:
                        try:
                            w.then(w)
                        except Exception:  # a callback's failure must not stop the writer
                            _log.exception("answering a saved command failed")


def _earliest(group: list[_Waiting]) -> tuple[float, float] | None:
    """The earliest deadline of a group's commands (None when none has one)."""
    deadlines = [w.deadline for w in group if w.deadline is not None]
    return min(deadlines) if deadlines else None


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
class Submission:
    """One command handed to the executor: on which order, by whom, under which key.

    ``fingerprint`` is what makes two keyed submissions the same request (see
    ``domain.commands.fingerprint``); it is "" without a key. ``command_id`` is the server's
    own id of this submission (#11, ADR 0015): a keyed command's receipt records it, so a
    receipt found by the same submission (its write landed but the store's answer was lost)
    is this command's own outcome, not a replay.
    """

    order_id: UUID
    order_no: str
    integration: str
    actor: Actor
    key: str | None = None
    fingerprint: str = ""
    command_id: str = field(default_factory=lambda: uuid4().hex)


class _Blocking(Exception):
    """Deciding needs the store (a refusal is checked against it): not without blocking."""


@dataclass(frozen=True)
class _Prepared:
    """A command decided on its order: the events (and receipt) to save, and its outcome."""

    sub: Submission
    order: WorkOrder
    to_save: list[Any]
    names: tuple[str, ...]
    warnings: tuple[str, ...]
    result: str | None


class CommandExecutor:
    """Runs commands against an application's aggregates: locked per aggregate in this
    process, retried when another writer raced, saved (events and receipt) in one write."""

    def __init__(self, app: Application[UUID], max_group: int = 256) -> None:
        self.app = app
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._group = GroupCommit(lambda *items: app.save(*items), max_group)
        self._writer = GroupWriter(lambda *items: app.save(*items), max_group)

    def close(self) -> None:
        """Save the commands queued for the group writer, then stop it."""
        self._writer.close()

    def _lock(self, aggregate_id: UUID) -> threading.Lock:
        return self._locks[aggregate_id.int % LOCK_STRIPES]

    @contextlib.contextmanager
    def _locked(self, aggregate_id: UUID, name: str) -> Iterator[None]:
        """Hold the aggregate's lock; under a deadline, wait for it only until then."""
        deadline.check(f"before working on {name!r}")
        left = deadline.remaining()
        lock = self._lock(aggregate_id)
        if not lock.acquire(timeout=-1 if left is None else left):
            deadline.check(f"waiting for {name!r}")
            at = deadline.current()
            raise CommandDeadlineError(at[1] if at else 0.0, f"waiting for {name!r}")
        try:
            yield
        finally:
            lock.release()

    def evict(self, aggregate_id: UUID) -> None:
        """Drop a cached aggregate, so the next load reads the store."""
        cache = self.app.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def cached(self, aggregate_id: UUID) -> Any:
        """The cached copy of an aggregate (possibly stale), or None; never reads the store."""
        cache = self.app.repository.cache
        if cache is None:
            return None
        with contextlib.suppress(KeyError):
            return cache.get(aggregate_id)
        return None

    # ------------------------------------------------------------------ receipts

    def replay(
        self, key: str, fingerprint: str, integration: str, command_id: str | None = None
    ) -> CommandOutcome | None:
        """The first outcome of a keyed command already applied, or None when the key is new;
        its position is the first write's (where the receipt was stored). ``replayed`` is
        False when the receipt is the submission ``command_id``'s own.

        Raises IdempotencyKeyReusedError when the key was used for a different request.
        """
        rid = receipt_id_for(key)
        try:
            receipt: CommandReceipt = self.app.repository.get(rid)
        except AggregateNotFoundError:
            return None
        if receipt.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key)
        out = receipt.outcome
        position = stored_position(self.app.recorder, rid, receipt.version)
        if position is None:  # a store this cannot ask: the head is at or after the write
            position = self.app.recorder.max_notification_id()
        return CommandOutcome(
            order_no=receipt.order_no,
            integration=integration,
            version=int(out["version"]),
            events=tuple(out["events"]),
            warnings=tuple(out["warnings"]),
            position=position,
            replayed=command_id is None or receipt.command_id != command_id,
            result=out.get("result"),
        )

    # ------------------------------------------------------------------ orders

    def on_order(
        self,
        sub: Submission,
        decide: Callable[[WorkOrder], str | None],
        create: Callable[[], WorkOrder] | None = None,
    ) -> CommandOutcome:
        """Load the order, let ``decide`` trigger events, save them (with the receipt) atomically.

        Races on the order are retried; a domain refusal is checked once against a fresh
        copy of the order before it is raised, so a stale cache never refuses wrongly. A
        repeated key is not looked up first: it fails the save on the receipt's uniqueness
        (or is refused by the order), and only then is the receipt read.
        """
        refused_once = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _backoff(attempt)
            with self._locked(sub.order_id, sub.order_no):
                try:
                    done = self._attempt(sub, decide, create, refused_once=refused_once)
                except BaseException:
                    self.evict(sub.order_id)  # the cached order may be half-decided
                    raise
            if isinstance(done, CommandOutcome):
                return done
            refused_once = refused_once or done == _REFUSED
        raise ConcurrencyError(sub.order_no, MAX_ATTEMPTS)

    def try_on_order(
        self,
        sub: Submission,
        decide: Callable[[WorkOrder], str | None],
        answer: Callable[[CommandOutcome | BaseException | None], None],
    ) -> CommandOutcome | bool:
        """``on_order`` without blocking, for a caller that must not wait (an event loop).

        When the order's lock is free and the order is cached, the command is decided here
        and its events queued for the group writer: True, and ``answer`` is called later,
        from the writer's thread, with the outcome, the error, or None when the command must
        be run again with :meth:`on_order` (another writer raced it). The order stays locked
        until then. An outcome with nothing to save is returned at once. False when the
        command cannot be decided without blocking (the lock is taken, the order not cached,
        or the order refuses it: a refusal is always checked against the store): nothing was
        done, run :meth:`on_order`.
        """
        deadline.check(f"before working on {sub.order_no!r}")
        oid = sub.order_id
        lock = self._lock(oid)
        if not lock.acquire(blocking=False):
            return False
        submitted = False
        try:
            order = self.cached(oid)
            if not isinstance(order, WorkOrder):
                return False

            def decide_or_stop(o: WorkOrder) -> str | None:
                try:
                    return decide(o)
                except DomainError:
                    raise _Blocking from None

            try:
                prepared = self._prepare(sub, order, decide_or_stop, None, refused_once=False)
            except _Blocking:
                self.evict(oid)
                return False
            except BaseException:
                self.evict(oid)  # the cached order may be half-decided
                raise
            if not isinstance(prepared, _Prepared):
                assert isinstance(prepared, CommandOutcome)  # nothing to save
                return prepared

            def saved(member: _Waiting) -> None:
                try:
                    outcome = self._finish(prepared, member)
                except BaseException as exc:
                    self.evict(oid)
                    lock.release()
                    answer(exc)
                    return
                lock.release()
                answer(outcome)

            try:
                self._writer.submit(_Waiting(prepared.to_save, saved))
            except BaseException:
                self.evict(oid)  # decided but never queued (the ledger is closing)
                raise
            submitted = True
            return True
        finally:
            if not submitted:
                lock.release()

    def _finish(self, prepared: _Prepared, member: _Waiting) -> CommandOutcome | None:
        """The outcome of a command saved by the group writer; None to run it again."""
        if member.error is None:
            return self._saved(prepared, member.result)
        if not isinstance(member.error, IntegrityError):
            raise member.error
        with deadline.deadline_at(member.deadline):
            done = self._after_conflict(prepared)
        return done if isinstance(done, CommandOutcome) else None

    def _attempt(
        self,
        sub: Submission,
        decide: Callable[[WorkOrder], str | None],
        create: Callable[[], WorkOrder] | None,
        *,
        refused_once: bool,
    ) -> CommandOutcome | str:
        """One try of a command: its outcome, or _REFUSED / _RACED to try again."""
        order: WorkOrder | None
        try:
            order = self.app.repository.get(sub.order_id)
        except AggregateNotFoundError:
            order = None
        prepared = self._prepare(sub, order, decide, create, refused_once=refused_once)
        if not isinstance(prepared, _Prepared):
            return prepared
        try:
            recordings = self._group.save(prepared.to_save)
        except IntegrityError:
            return self._after_conflict(prepared)
        return self._saved(prepared, recordings)

    def _prepare(
        self,
        sub: Submission,
        order: WorkOrder | None,
        decide: Callable[[WorkOrder], str | None],
        create: Callable[[], WorkOrder] | None,
        *,
        refused_once: bool,
    ) -> CommandOutcome | str | _Prepared:
        """Decide the command on ``order`` (None: not stored): what to save, or an outcome
        with nothing to save, or _REFUSED to try once more against the store."""
        oid, key = sub.order_id, sub.key
        result: str | None = None
        if order is None:
            if create is None:
                raise OrderNotFoundError(sub.order_no, sub.integration)
            order = create()
        else:
            try:
                result = decide(order)
            except DomainError:
                if key is not None:
                    replay = self.replay(key, sub.fingerprint, sub.integration, sub.command_id)
                    if replay is not None:
                        return replay  # the first attempt of this command got there first
                if refused_once:
                    raise
                self.evict(oid)  # check the refusal once more against the store
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
            receipt = CommandReceipt.record(
                key, sub.fingerprint, sub.order_no, outcome, sub.actor, sub.command_id
            )
            to_save.extend(receipt.collect_events())
        if not to_save:
            return CommandOutcome(
                sub.order_no, sub.integration, order.version, (), (), None, result=result
            )
        return _Prepared(sub, order, to_save, names, warnings, result)

    def _saved(self, prepared: _Prepared, recordings: list[Recording[UUID]]) -> CommandOutcome:
        """The outcome of a prepared command whose events were saved."""
        position = recordings[-1].notification.id if recordings else None
        return self._outcome_of(prepared, position)

    def _outcome_of(self, prepared: _Prepared, position: int | None) -> CommandOutcome:
        sub, order = prepared.sub, prepared.order
        if self.app.repository.cache is not None:
            self.app.repository.cache.put(sub.order_id, order)
        return CommandOutcome(
            sub.order_no, sub.integration, order.version, prepared.names, prepared.warnings,
            position, result=prepared.result,
        )  # fmt: skip

    def _after_conflict(self, prepared: _Prepared) -> CommandOutcome | str:
        """A save refused by the store's uniqueness: either another writer got there first,
        or this very write was committed and the store's answer lost (the library then tried
        the insert again). Look which: this write's outcome, a replay, or _RACED."""
        sub, key = prepared.sub, prepared.sub.key
        position = self._landed(prepared.to_save)
        if position is not None:
            return self._outcome_of(prepared, position)
        self.evict(sub.order_id)
        if key is not None:
            replay = self.replay(key, sub.fingerprint, sub.integration, sub.command_id)
            if replay is not None:
                return replay
        return _RACED

    def _landed(self, saved: list[Any]) -> int | None:
        """The position of this write when the store holds it already (its first event is
        stored, byte for byte the same: same hash chained to the same predecessor, same
        time), else None. The write is atomic, so its first event stands for all of it."""
        first = saved[0]
        stored = self.app.recorder.select_events(
            first.originator_id, gt=first.originator_version - 1, lte=first.originator_version
        )
        if not stored:
            return None
        found = self.app.mapper.to_domain_event(stored[0])
        if (
            type(found) is not type(first)
            or getattr(found, "chain_hash", None) != getattr(first, "chain_hash", None)
            or getattr(found, "timestamp", None) != getattr(first, "timestamp", None)
        ):
            return None
        last = saved[-1]
        position = stored_position(self.app.recorder, last.originator_id, last.originator_version)
        if position is None:
            position = self.app.recorder.max_notification_id()
        return position

    # ------------------------------------------------------------------ measuring points

    def on_workstation(
        self,
        wid: UUID,
        name: str,
        actor: Actor,
        decide: Callable[[Workstation], None],
    ) -> int | None:
        """Load (or register) the measuring point, decide, save; retried on a race. The
        ledger position, or None when there was nothing to record."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _backoff(attempt)
            with self._locked(wid, name):
                registered = False
                try:
                    ws: Workstation = self.app.repository.get(wid)
                except AggregateNotFoundError:
                    ws = Workstation.register(name, actor)
                    registered = True
                try:
                    decide(ws)
                    if len(ws.pending_events) == int(registered):
                        return None  # nothing to record (not even a new measuring point)
                    recordings = self.app.save(ws)
                except IntegrityError:
                    self.evict(wid)
                    continue
                except BaseException:
                    self.evict(wid)
                    raise
                return recordings[-1].notification.id if recordings else None
        raise ConcurrencyError(name, MAX_ATTEMPTS)


def _backoff(attempt: int) -> None:
    """Sleep a little, with jitter, so racing writers stop colliding."""
    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))


__all__ = ["CommandExecutor", "CommandOutcome", "GroupCommit", "Submission"]
