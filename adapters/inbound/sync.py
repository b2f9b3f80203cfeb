"""The plan-import semantics every inbound transport shares (files, REST, SQL, AMQP, Tryton).

Only released orders reach the floor; unchanged data records nothing; a change to an order
the floor has not touched applies, otherwise it raises a conflict (the Ledger decides);
cancelled orders, and open orders missing from a full-plan source, are cancelled in the
ledger; ERP values the maps do not cover raise one warning per order and value.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError

from adapters.config import Integration
from adapters.mapping import MappedOrder, MappingResult, RowError
from adapters.redact import redact_text
from domain.commands import CancelInErp, RaiseWarning, ReceiveErpOrder
from domain.errors import DomainError, OrderNotFoundError
from domain.ledger import CommandOutcome, Ledger
from domain.values import Actor
from domain.workorder import OrderState, WorkOrder

W_NOT_RELEASED = "not_released_in_erp"
BULK_CHUNK = 500
OPEN_STATES = (OrderState.RELEASED, OrderState.IN_PROGRESS)
_RELEASED_TOPIC = f"{WorkOrder.__module__}:{WorkOrder.Released.__qualname__}"


class SourceUnavailable(Exception):
    """The ERP source could not be reached or read as a whole; nothing of this pass was applied."""

    def __init__(self, integration: str, reason: str) -> None:
        reason = redact_text(reason)  # errors name URLs; their credentials are never shown
        super().__init__(f"{integration}: the ERP source is unavailable: {reason}")
        self.integration = integration
        self.reason = reason


def erp_actor(integration: str) -> Actor:
    """Who records ERP events for an integration."""
    return Actor(f"sync:{integration}", "integration", f"erp:{integration}")


def warning_key(integration: str, order_no: str, code: str, value: str) -> str:
    """The idempotency key of a mapping warning: one warning per integration, order, code, value."""
    digest = hashlib.sha256(
        "\x1f".join((integration, order_no, code, value)).encode("utf-8")
    ).hexdigest()
    return f"erp-warning:{digest[:40]}"


@dataclass
class SyncSummary:
    """What one import did, order by order, for a CLI or a log line."""

    integration: str
    released: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_released: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)
    # Why each not-released order was left out (order number → reason).
    reasons: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many orders (or messages) fell into each outcome."""
        return {
            "released": len(self.released),
            "changed": len(self.changed),
            "conflicts": len(self.conflicts),
            "cancelled": len(self.cancelled),
            "unchanged": len(self.unchanged),
            "not_released": len(self.not_released),
            "warnings": len(self.warnings),
            "errors": len(self.errors),
        }

    @property
    def ok(self) -> bool:
        """Nothing was refused."""
        return not self.errors

    def merge(self, other: SyncSummary) -> SyncSummary:
        """Add another import's outcome (several files in one poll)."""
        for name in (
            "released", "changed", "conflicts", "cancelled", "unchanged", "not_released",
            "warnings", "errors", "row_errors",
        ):  # fmt: skip
            getattr(self, name).extend(getattr(other, name))
        self.reasons.update(other.reasons)
        return self

    def line(self) -> str:
        """One line: the counts."""
        return f"{self.integration}: " + ", ".join(f"{v} {k}" for k, v in self.counts().items())

    def lines(self) -> list[str]:
        """The counts, why orders were not released, then every warning and error."""
        return (
            [self.line()]
            + [f"  not released: order {o}: {r}" for o, r in self.reasons.items()]
            + [f"  warning: {w}" for w in self.warnings]
            + [f"  error: {e}" for e in self.errors]
        )

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _classify(outcome: CommandOutcome) -> str:
    events = set(outcome.events)
    if "Released" in events:
        return "released"
    if "ConflictRaised" in events:
        return "conflicts"
    if "CancelledInErp" in events:
        return "cancelled"
    if events & {"ChangedInErp", "ConflictWithdrawn"}:
        return "changed"
    return "unchanged"


class _Run:
    def __init__(self, integration: Integration, ledger: Ledger) -> None:
        self.name = integration.name
        self.ledger = ledger
        self.actor = erp_actor(integration.name)
        self.summary = SyncSummary(integration.name)
        self.received: list[str] = []  # released orders the ledger took (changed or not)

    def note(self, kind: str, order_no: str) -> None:
        getattr(self.summary, kind).append(order_no)

    def warn(self, order_no: str, code: str, message: str, value: str) -> None:
        """Raise a warning on the order once: the idempotency key makes repeats a replay."""
        try:
            outcome = self.ledger.execute(
                RaiseWarning(order_no, code, message, reference=value[:200], integration=self.name),
                self.actor,
                key=warning_key(self.name, order_no, code, value),
            )
        except DomainError as exc:
            self.summary.errors.append(f"order {order_no}: warning {code} not recorded: {exc}")
            return
        if not outcome.replayed:
            self.summary.warnings.append(f"order {order_no}: {code}: {message}")

    def receive(self, mapped: MappedOrder) -> None:
        order_no = mapped.order_no
        try:
            outcome = self.ledger.execute(
                ReceiveErpOrder(mapped.order, integration=self.name), self.actor
            )
        except DomainError as exc:
            self.summary.errors.append(f"order {order_no}: {exc}")
            return
        self.note(_classify(outcome), order_no)
        self.received.append(order_no)
        for ref in mapped.unmapped:
            self.warn(order_no, ref.code, ref.message(order_no), ref.value)

    def receive_new(self, batch: list[MappedOrder]) -> None:
        """Release orders believed new in one transaction; if any is known, go order by order."""
        if not batch:
            return
        try:
            self.ledger.release_new([m.order for m in batch], self.actor, integration=self.name)
        except (IntegrityError, DomainError):
            for mapped in batch:
                self.receive(mapped)
            return
        for mapped in batch:
            self.note("released", mapped.order_no)
            self.received.append(mapped.order_no)
            for ref in mapped.unmapped:
                self.warn(mapped.order_no, ref.code, ref.message(mapped.order_no), ref.value)

    def cancel(self, order_no: str, reason: str) -> None:
        try:
            outcome = self.ledger.execute(
                CancelInErp(order_no, reason=reason, integration=self.name), self.actor
            )
        except OrderNotFoundError:
            return  # never reached the floor: nothing to cancel
        except DomainError as exc:
            self.summary.errors.append(f"order {order_no}: {exc}")
            return
        self.note(_classify(outcome), order_no)

    def not_released(self, mapped: MappedOrder) -> None:
        """An order not (or no longer) released: skipped; warned about if the floor has it."""
        order_no = mapped.order_no
        self.note("not_released", order_no)
        if mapped.reason:
            self.summary.reasons[order_no] = mapped.reason
        existing = self.ledger.find_order(order_no, self.name)
        if existing is not None and existing.state in OPEN_STATES:
            state = mapped.raw_state or "(empty)"
            self.warn(
                order_no,
                W_NOT_RELEASED,
                f"the ERP shows order {order_no} in state {state!r}, no longer released; "
                "the floor keeps it until the ERP cancels it",
                state,
            )


def erp_fingerprint(mapped: MappedOrder) -> str:
    """What the ERP stated for one released order: its mapped values and unmapped references
    (a change to either is a change; two spellings of one value at worst cost a full check)."""
    text = repr((mapped.order, mapped.unmapped))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def apply_batch(
    integration: Integration,
    ledger: Ledger,
    orders: Iterable[MappedOrder],
    *,
    cancelled: Iterable[str] = (),
    errors: Iterable[RowError] = (),
    full_plan: bool | None = None,
    open_orders: Callable[[], Iterable[str]] | None = None,
    bulk: bool = False,
) -> SyncSummary:
    """Apply one batch of mapped ERP orders to the ledger and say what happened.

    ``cancelled`` holds order numbers the source reports as cancelled outside the batch;
    ``errors`` are the refused records of the batch (their orders are never treated as
    missing). When the batch is the full plan (``full_plan``, default: the integration's
    setting), ``open_orders`` returns the order numbers open on the floor for this
    integration, and those not in the batch are cancelled — unless the batch is empty or
    has records that could not be tied to an order, which is reported instead.

    With ``bulk``, released orders are saved in chunks of ``BULK_CHUNK`` in one transaction
    each; a chunk holding an order the ledger already knows is applied order by order, so
    the outcome is the same as without ``bulk``, only faster for a plan of new orders.
    """
    run = _Run(integration, ledger)
    orders = list(orders)
    released = [m.order_no for m in orders if m.state == "released"]
    once = {no for no, k in Counter(released).items() if k == 1}  # twice in a batch: full way
    prints = {m.order_no: erp_fingerprint(m) for m in orders if m.order_no in once}
    unchanged = ledger.erp_unchanged(integration.name, prints) if prints else set()
    pending: list[MappedOrder] = []
    row_errors = list(errors)
    run.summary.row_errors.extend(row_errors)
    run.summary.errors.extend(str(e) for e in row_errors)
    seen: set[str] = {e.order_no for e in row_errors if e.order_no}
    to_cancel: dict[str, str] = {}
    for mapped in orders:
        seen.add(mapped.order_no)
        if mapped.state == "released" and mapped.order_no in unchanged:
            run.note("unchanged", mapped.order_no)  # as received last time, nothing since
        elif mapped.state == "released" and bulk:
            pending.append(mapped)
            if len(pending) >= BULK_CHUNK:
                run.receive_new(pending)
                pending = []
        elif mapped.state == "released":
            run.receive(mapped)
        elif mapped.state == "cancelled":
            to_cancel[mapped.order_no] = f"cancelled in the ERP (state {mapped.raw_state!r})"
        else:
            run.not_released(mapped)
    run.receive_new(pending)
    ledger.erp_received(integration.name, {no: prints[no] for no in run.received if no in prints})
    for order_no in cancelled:
        seen.add(order_no)
        to_cancel.setdefault(order_no, "cancelled in the ERP")
    for order_no, reason in to_cancel.items():
        run.cancel(order_no, reason)

    if full_plan if full_plan is not None else integration.full_plan:
        if open_orders is None:
            raise ValueError("a full-plan import needs open_orders (the orders open on the floor)")
        if any(not e.order_no for e in row_errors):
            run.summary.warnings.append(
                "full plan not applied: some records could not be tied to an order number, "
                "so no order was cancelled as missing"
            )
        elif not seen:
            run.summary.warnings.append(
                "full plan not applied: the ERP delivered no orders at all, "
                "so no order was cancelled as missing"
            )
        else:
            for order_no in sorted(set(open_orders()) - seen):
                run.cancel(order_no, "missing from the ERP's full plan")
    return run.summary


def apply_mapping(
    integration: Integration,
    ledger: Ledger,
    result: MappingResult,
    *,
    full_plan: bool | None = None,
    open_orders: Callable[[], Iterable[str]] | None = None,
    bulk: bool = False,
) -> SyncSummary:
    """Apply everything one source delivered (its mapped orders and its refused records)."""
    return apply_batch(
        integration,
        ledger,
        result.orders,
        errors=result.errors,
        full_plan=full_plan,
        open_orders=open_orders,
        bulk=bulk,
    )


def open_orders_in_ledger(ledger: Ledger, integration: str, *, batch: int = 1000) -> list[str]:
    """Order numbers open on the floor for an integration, read from the event store.

    A fallback that walks the notification log; the status projection answers faster.
    """
    numbers: list[str] = []
    start = 1
    while True:
        notes = ledger.recorder.select_notifications(start, batch, topics=[_RELEASED_TOPIC])
        if not notes:
            break
        for n in notes:
            event = ledger.mapper.to_domain_event(n)
            if getattr(event, "integration", None) == integration:
                numbers.append(str(getattr(event, "order_no", "")))
        start = notes[-1].id + 1
    open_numbers = []
    for order_no in dict.fromkeys(numbers):
        order = ledger.find_order(order_no, integration)
        if order is not None and order.state in OPEN_STATES:
            open_numbers.append(order_no)
    return open_numbers


__all__ = [
    "BULK_CHUNK",
    "W_NOT_RELEASED",
    "SourceUnavailable",
    "SyncSummary",
    "apply_batch",
    "apply_mapping",
    "erp_actor",
    "open_orders_in_ledger",
    "warning_key",
]
