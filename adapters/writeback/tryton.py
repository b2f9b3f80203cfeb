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

    @property
    def client(self) -> TrytonClient:
        """The JSON-RPC session (the password is resolved when it is first needed)."""
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

    def _apply(self, m: Message) -> None:
        """Carry one message into Tryton (a no-op for what Tryton does not record)."""
        wb = self.writeback
        order = m.order_no
        if m.event in ("OperationStarted", "OperationResumed"):
            wb.begin_run(order, _operation(m), m.key)
        elif m.event in ("OperationPaused", "OperationCompleted"):
            wb.end_run(
                order,
                _operation(m),
                m.key,
                _seconds(m),
                completing=m.event == "OperationCompleted",
            )
        elif m.event == "OrderCompleted":
            good = m.data.get("good")
            try:
                quantity = Decimal(str(good))
            except InvalidOperation:
                raise Refused(f"{m.key}: good quantity {good!r} is not a number") from None
            wb.set_output_quantity(order, quantity)
            wb.complete(order)
        elif m.event == "ReportSubmitted":
            wb.add_cycle(order, _operation(m), _seconds(m), m.key)
        else:
            log.debug("%s: %s of order %s has nothing to write", self.config.name, m.event, order)

    def close(self) -> None:
        if self._client is not None and self._own_client:
            self._client.close()
            self._client = None


__all__ = ["TrytonTransport"]
