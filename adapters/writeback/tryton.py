"""Tryton writeback: floor runs become timed work cycles, a completed order a done production.

Messages map to Tryton (through :class:`adapters.tryton.TrytonWriteback`):

* operation started or resumed → a running cycle on the operation's work (work running);
* operation paused or completed → that run's cycle gets the run's actual duration and is
  done (one cycle per run); completing also finishes every work of the step;
* order completed → the production's output quantity is the good quantity, production done;
* report submitted (mode E) → a done cycle of the report's duration;
* quantities and results → nothing to write (acknowledged).

Every step carries the message's idempotency key as an ``ir.note`` on its cycle and reads
Tryton's state before acting, so a replay after a crash at any point adds no second cycle and
misses none. Tryton unreachable (or refusing the login) is transient; Tryton refusing the
change (a UserError, an unknown production, a cancelled one) refuses it: the order is parked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

from adapters.config import ConfigError, secret
from adapters.tryton import (
    TrytonAuthError,
    TrytonClient,
    TrytonError,
    TrytonFault,
    TrytonUnavailable,
    TrytonWriteback,
    WritebackRefused,
)
from adapters.tryton.outbound import FloorFact
from adapters.writeback.base import Outcome, Refused, TransientError, Transport
from adapters.writeback.config import TrytonDestination
from adapters.writeback.messages import Message

log = logging.getLogger("floorledger.writeback.tryton")

# Tryton faults worth another try: the record changed under us, the database was busy.
_TRANSIENT_KINDS = {"ConcurrencyException", "BadResponse"}
_TRANSIENT_TEXT = ("database is locked", "could not serialize", "deadlock")


def _seconds(m: Message, field: str = "actual_seconds") -> dt.timedelta:
    """The message's actual run time as a duration (refused when it is not a number)."""
    raw = (m.data.get("timing") or {}).get(field)
    try:
        value = Decimal(str(raw)) if raw is not None else Decimal(0)
    except InvalidOperation:
        raise Refused(f"{m.key}: timing {field} {raw!r} is not a number") from None
    return dt.timedelta(seconds=float(value))


def _operation(m: Message) -> str:
    op = m.data.get("operation")
    if not op:
        raise Refused(f"{m.key}: {m.event} names no operation")
    return str(op)


class TrytonTransport(Transport):
    """Writes floor execution into a Tryton server, one message at a time, in order."""

    batch_size = 1

    def __init__(self, config: TrytonDestination, client: TrytonClient | None = None) -> None:
        self.config = config
        self._client = client
        self._own_client = client is None
        self._employees: dict[str, int | None] = {}

    @property
    def client(self) -> TrytonClient:
        """The destination's one JSON-RPC session (the password is resolved when needed).

        One client per transport object, kept for the process's life: it logs in once and
        again only when Tryton drops the session, never per message or per poll.
        """
        if self._client is None:
            try:
                password = secret(self.config, "password").get_secret_value()
            except ConfigError as exc:
                # not one order's fault: the destination waits and shows the error
                raise TransientError(f"{self.config.name}: {exc}") from None
            self._client = TrytonClient(
                self.config.url,
                self.config.database,
                self.config.user,
                password,
                timeout=self.config.timeout_seconds,
            )
        return self._client

    @property
    def writeback(self) -> TrytonWriteback:
        """Tryton's idempotent writeback helpers over this destination's session."""
        return TrytonWriteback(
            self.client,
            accept_warnings=self.config.accept_warnings,
            force_assign=self.config.force_assign,
            start_production=self.config.start_production,
        )

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        for m in messages:
            self._guarded(self._apply, m)
        return [None] * len(messages)

    def _guarded(self, fn: Callable[[Message], None], m: Message) -> None:
        """Run one message's Tryton calls, classifying what went wrong."""
        try:
            fn(m)
        except (TrytonUnavailable, TrytonAuthError) as exc:
            # includes TrytonSessionError: a lost session is never the order's fault
            raise TransientError(f"{self.config.name}: {type(exc).__name__}: {exc}") from exc
        except WritebackRefused as exc:
            raise Refused(f"Tryton: {exc}") from exc
        except TrytonFault as exc:
            text = str(exc)
            if exc.kind in _TRANSIENT_KINDS or any(t in text.lower() for t in _TRANSIENT_TEXT):
                raise TransientError(f"{self.config.name}: {text}") from exc
            raise Refused(f"Tryton refused: {text}") from exc
        except TrytonError as exc:
            raise Refused(f"Tryton: {type(exc).__name__}: {exc}") from exc

    # -- who and when ----------------------------------------------------------------------

    def employee(self, actor_id: str) -> int | None:
        """The Tryton employee the floor actor maps to (config ``employees``), if any."""
        if actor_id in self._employees:
            return self._employees[actor_id]
        target = self.config.employees.get(actor_id)
        found: int | None = None
        if isinstance(target, int):
            found = target
        elif isinstance(target, str):
            rows = self.client.search_read(
                "company.employee", [("party.name", "=", target)], ["id"], limit=2
            )
            if len(rows) != 1:
                raise Refused(
                    f"{self.config.name}: employees[{actor_id!r}] = {target!r} matches "
                    f"{len(rows)} Tryton employees"
                )
            found = int(rows[0]["id"])
        self._employees[actor_id] = found
        return found

    def fact(self, m: Message, what: str) -> FloorFact:
        """The note text and the employee for one floor action."""
        when = _when(m.occurred_at)
        who = f"{m.actor_id} ({m.actor_role})"
        return FloorFact(f"Floor: {what} {when} by {who}", self.employee(m.actor_id))

    # -- messages --------------------------------------------------------------------------

    def _apply(self, m: Message) -> None:
        """Carry one message into Tryton (a note for what Tryton has no field for)."""
        wb = self.writeback
        order = m.order_no
        per_run = self.config.cycles == "run"
        if m.event == "OperationStarted":
            wb.begin_run(order, _operation(m), m.key, fact=self.fact(m, "started"))
        elif m.event == "OperationResumed":
            op = _operation(m)
            if per_run and wb.running_cycle(order, op) is not None:
                wb.note_run(order, op, m.key, self.fact(m, "resumed").text)
            else:
                wb.begin_run(order, op, m.key, fact=self.fact(m, "resumed"))
        elif m.event == "OperationPaused":
            reason = m.data.get("stop_reason") or "no reason given"
            fact = self.fact(m, f"paused (reason: {reason})")
            if per_run:
                wb.note_run(order, _operation(m), m.key, fact.text)
            else:
                wb.end_run(order, _operation(m), m.key, _seconds(m), fact=fact)
        elif m.event == "OperationCompleted":
            wb.end_run(
                order,
                _operation(m),
                m.key,
                _seconds(m),
                completing=True,
                fact=self.fact(m, "completed"),
            )
        elif m.event == "QuantityReported":
            self._quantities(wb, m)
        elif m.event == "ResultRecorded":
            self._result(wb, m)
        elif m.event == "OrderCompleted":
            self._complete(wb, m)
        elif m.event == "ReportSubmitted":
            wb.add_cycle(order, _operation(m), _seconds(m), m.key, fact=self.fact(m, "reported"))
        else:
            log.debug("%s: %s of order %s has nothing to write", self.config.name, m.event, order)

    def _quantities(self, wb: TrytonWriteback, m: Message) -> None:
        """Scrap becomes its own output move to a scrap location; rework a note."""
        scrap = _decimal(m, "scrap")
        reason = str(m.data.get("scrap_reason") or "unspecified")
        op = m.data.get("operation")
        fact = self.fact(m, f"reported at operation {op}")
        if scrap > 0:
            wb.post_scrap(
                m.order_no,
                scrap,
                reason,
                m.key,
                location=self.config.scrap_locations.get(reason),
                fact=fact,
            )
        rework = _decimal(m, "rework")
        if rework > 0:
            wb.note_production(
                m.order_no, f"{m.key}:rework", f"Rework: {m.data.get('rework')}; {fact.text}"
            )

    def _result(self, wb: TrytonWriteback, m: Message) -> None:
        """A result is a note on the production; a serial or batch number also a lot."""
        d = m.data
        parts = [f"Result at operation {d.get('operation')}: "]
        passed = d.get("passed")
        parts.append("passed" if passed is True else "failed" if passed is False else "recorded")
        if d.get("characteristic"):
            unit = d.get("measured_unit") or ""
            parts.append(f"; {d['characteristic']} = {d.get('measured_value')} {unit}")
        for kind in ("serial", "batch"):
            if d.get(kind):
                parts.append(f"; {kind} {d[kind]}")
        text = "".join(parts).rstrip() + f"; {self.fact(m, 'recorded').text}"
        wb.note_production(m.order_no, m.key, text)
        for kind in ("serial", "batch"):
            number = d.get(kind)
            if number:
                wb.ensure_lot(m.order_no, str(number))
                wb.note_production(m.order_no, f"{kind}:{number}", f"{kind.title()}: {number}")

    def _complete(self, wb: TrytonWriteback, m: Message) -> None:
        """Good output (with lots) on the output move; over-production noted; production done."""
        good = m.data.get("good")
        try:
            quantity = Decimal(str(good))
        except InvalidOperation:
            raise Refused(f"{m.key}: good quantity {good!r} is not a number") from None
        order = m.order_no
        lots = wb.lot_numbers(order)
        planned = Decimal(repr(float(wb.production(order)["quantity"])))
        if quantity > planned:
            wb.note_production(
                order,
                f"{m.key}:over",
                f"Over-production: {good} good against {_qty(planned)} planned; "
                + self.fact(m, "completed").text,
            )
        wb.set_output_quantity(order, quantity, lots=lots)
        wb.complete(order)

    def close(self) -> None:
        if self._client is not None and self._own_client:
            self._client.close()
            self._client = None


def _when(at: str | None) -> str:
    if not at:
        return "(time unknown)"
    try:
        return dt.datetime.fromisoformat(at).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return at


def _decimal(m: Message, name: str) -> Decimal:
    raw = m.data.get(name)
    try:
        return Decimal(str(raw)) if raw not in (None, "") else Decimal(0)
    except InvalidOperation:
        raise Refused(f"{m.key}: {name} {raw!r} is not a number") from None


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


__all__ = ["TrytonTransport"]
