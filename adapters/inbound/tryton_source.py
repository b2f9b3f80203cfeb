"""Tryton as an inbound source: its released productions applied with the shared semantics.

Released productions become orders (after the value maps), cancelled productions are
cancelled, productions a planner moved back to draft are "not released" (kept on the
floor, warned about), and productions that cannot be floor orders are refused rows.
On every poll the ERP-side state changes of productions the floor holds are warned about:
closed (done) in Tryton while open on the floor, released again after a reset to draft
(which clears the "not released" warning), taken back from running to waiting.

One Tryton session per process and integration: the source keeps its client between polls
(it logs in again only when Tryton drops the session), so it never logs out a session the
writeback pump of the same user relies on.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from adapters.config import ConfigError, Integration, TrytonInbound, ValueMaps, secret
from adapters.inbound.sync import (
    OPEN_STATES,
    SourceUnavailable,
    SyncSummary,
    apply_batch,
    erp_actor,
    warning_key,
)
from adapters.mapping import MappedOrder, MappingCheck, RawOrder, RowError, UnmappedRef
from adapters.tryton import TrytonAuthError, TrytonClient, TrytonError, TrytonPlan, read_plan
from domain.commands import RaiseWarning
from domain.errors import DomainError, InvalidValueError
from domain.ledger import Ledger
from domain.values import ErpOrder
from domain.workorder import OperationState

TIMEOUT_SECONDS = 30.0


def tryton_inbound(integration: Integration) -> TrytonInbound:
    """The integration's Tryton settings (refused when it uses another transport)."""
    if not isinstance(integration.inbound, TrytonInbound):
        raise ValueError(f"integration {integration.name!r} does not read Tryton")
    return integration.inbound


def make_client(integration: Integration) -> TrytonClient:
    """A Tryton JSON-RPC session for the integration (the password is resolved now)."""
    inbound = tryton_inbound(integration)
    try:
        password = secret(inbound, "password").get_secret_value()
    except ConfigError as exc:
        raise SourceUnavailable(integration.name, str(exc)) from exc
    return TrytonClient(
        inbound.url, inbound.database, inbound.user, password, timeout=TIMEOUT_SECONDS
    )


# Warning codes of ERP-side state changes (the fold clears not_released on released_in_erp).
W_CLOSED_IN_ERP = "closed_in_erp"
W_RELEASED_AGAIN = "released_in_erp"
W_STATE_CHANGED = "state_changed_in_erp"
W_WORK_CHANGED = "work_changed_in_erp"
_RELEASED = ("waiting", "assigned", "running")


@dataclass
class TrytonSource:
    """The inbound side of one Tryton integration in this process: its session and what it
    saw at the last poll (to tell a re-release or a step back from running)."""

    integration: Integration
    client: TrytonClient | None = None
    seen: dict[str, str] = field(default_factory=dict)
    last_poll: dt.datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> TrytonClient:
        if self.client is None:
            self.client = make_client(self.integration)
        return self.client

    def fetch(self) -> TrytonPlan:
        inbound = tryton_inbound(self.integration)
        times = {
            name: (t.setup_minutes, t.run_minutes_per_unit)
            for name, t in inbound.standard_times.items()
        }
        since = self.last_poll - dt.timedelta(minutes=5) if self.last_poll else None
        try:
            return read_plan(self.session(), done_since=since, standard_times=times)
        except TrytonAuthError as exc:
            # a refused login: the next poll resolves the password again
            self.client = None
            raise SourceUnavailable(self.integration.name, f"{type(exc).__name__}: {exc}") from exc
        except TrytonError as exc:
            raise SourceUnavailable(self.integration.name, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


_SOURCES: dict[tuple[str, str, str, str], TrytonSource] = {}
_SOURCES_LOCK = threading.Lock()


def source_for(integration: Integration) -> TrytonSource:
    """This process's one source (and session) for the integration."""
    inbound = tryton_inbound(integration)
    key = (integration.name, inbound.url, inbound.database, inbound.user)
    with _SOURCES_LOCK:
        src = _SOURCES.get(key)
        if src is None:
            src = _SOURCES[key] = TrytonSource(integration)
        src.integration = integration
        return src


def close_sources() -> None:
    """Log out every session this process opened for Tryton sources (at shutdown)."""
    with _SOURCES_LOCK:
        for src in _SOURCES.values():
            src.close()
        _SOURCES.clear()


def fetch_plan(integration: Integration, client: TrytonClient | None = None) -> TrytonPlan:
    """Tryton's plan now; SourceUnavailable when Tryton cannot be reached or refuses us."""
    if client is None:
        src = source_for(integration)
        with src.lock:
            return src.fetch()
    try:
        return read_plan(client)
    except TrytonError as exc:
        raise SourceUnavailable(integration.name, f"{type(exc).__name__}: {exc}") from exc


def map_order(order: ErpOrder, maps: ValueMaps) -> MappedOrder:
    """A Tryton order in floor terms: work centres, operations and units through the maps."""
    unmapped: list[UnmappedRef] = []

    def centre(raw: str, where: str) -> str:
        if not raw or raw in maps.work_centres:
            return maps.work_centres.get(raw, raw)
        if maps.work_centres:
            unmapped.append(UnmappedRef("work_centre", raw, where))
        return raw

    unit, factor = order.unit, Decimal(1)
    if order.unit in maps.units:
        unit, factor = maps.units[order.unit].unit, maps.units[order.unit].factor
    elif maps.units:
        unmapped.append(UnmappedRef("unit", order.unit, "order unit"))
    routing = []
    for op in order.routing:
        if maps.operations and op.op_id not in maps.operations:
            unmapped.append(UnmappedRef("operation", op.op_id, f"operation {op.op_id}"))
        routing.append(
            replace(
                op,
                op_id=maps.operations.get(op.op_id, op.op_id),
                work_centre=centre(op.work_centre, f"operation {op.op_id}"),
                run_time_per_unit=op.run_time_per_unit / factor,
            )
        )
    mapped = replace(
        order,
        quantity=order.quantity * factor,
        unit=unit,
        work_centre=centre(order.work_centre, "order work centre"),
        routing=tuple(routing),
        unit_factors={order.unit: factor} if unit != order.unit else {},
    )
    unique: dict[tuple[str, str], UnmappedRef] = {}
    for ref in unmapped:
        unique.setdefault((ref.kind, ref.value), ref)
    return MappedOrder(mapped.checked(), "released", "released", tuple(unique.values()))


def mapped_plan(
    integration: Integration, plan: TrytonPlan, *, check: MappingCheck | None = None
) -> tuple[list[MappedOrder], list[RowError]]:
    """Tryton's released and re-planned orders in floor terms, and the refused productions."""
    orders: list[MappedOrder] = []
    errors = [RowError(None, "production", n, reason, n) for n, reason in plan.skipped]
    for order in plan.orders:
        try:
            mapped = map_order(order, integration.maps)
        except InvalidValueError as exc:
            errors.append(RowError(None, exc.field, exc.value, exc.reason, order.order_no))
            continue
        orders.append(mapped)
        if check is not None:
            raw_ops = tuple((op.op_id, op.work_centre) for op in order.routing)
            check.see_order(mapped, RawOrder(order.work_centre, order.unit, raw_ops))
    released = {o.order_no for o in orders}
    for order_no in sorted(plan.replanning - released):
        orders.append(_replanned(order_no, plan.states.get(order_no)))
    return orders, errors


def _replanned(order_no: str, state: tuple[str, str] | None) -> MappedOrder:
    """A production back in draft: a placeholder order in state "not released".

    Its raw state carries when Tryton changed it, so each reset to draft is warned once.
    """
    placeholder = ErpOrder(order_no=order_no, part_no="?", quantity=Decimal(1), unit="?")
    raw = f"{state[0]} (changed in Tryton {state[1]})" if state else "draft"
    return MappedOrder(placeholder, "not_released", raw)


def erp_state_changes(
    integration: Integration,
    ledger: Ledger,
    plan: TrytonPlan,
    seen: dict[str, str],
    summary: SyncSummary,
) -> None:
    """Warn about Tryton-side state changes of productions the floor holds open.

    * done (closed) in Tryton while open on the floor: ``closed_in_erp``;
    * released again after a reset to draft: ``released_in_erp`` (clears
      ``not_released_in_erp``);
    * taken back from running to waiting/assigned in Tryton: ``state_changed_in_erp``;
    * a work running or finished in Tryton that the floor has not started (timed in Tryton
      by hand): ``work_changed_in_erp``.

    ``seen`` holds each production's state at the previous poll of this process. Each
    warning is keyed by Tryton's change time, so a repeat poll or a restart warns once.
    """
    actor = erp_actor(integration.name)

    def warn(order_no: str, code: str, message: str, value: str) -> None:
        order = ledger.find_order(order_no, integration.name)
        if order is None or order.state not in OPEN_STATES:
            return
        try:
            outcome = ledger.execute(
                RaiseWarning(
                    order_no, code, message, reference=value[:200], integration=integration.name
                ),
                actor,
                key=warning_key(integration.name, order_no, code, value),
            )
        except DomainError as exc:
            summary.errors.append(f"order {order_no}: warning {code} not recorded: {exc}")
            return
        if not outcome.replayed:
            summary.warnings.append(f"order {order_no}: {code}: {message}")

    for order_no in sorted(plan.done):
        stamp = plan.states.get(order_no, ("done", ""))[1]
        warn(
            order_no,
            W_CLOSED_IN_ERP,
            f"Tryton shows production {order_no} done (closed) while it is open on the floor; "
            "floor work on it is still recorded, but Tryton will refuse its writeback",
            f"done@{stamp}",
        )
    for order_no, steps in plan.work_states.items():
        # a work timed in Tryton by hand: running or finished there, never started on the floor
        busy = {op: st for op, st in steps.items() if st[0] in ("running", "finished")}
        if not busy or all(seen.get(f"{order_no}/{op}") == st[1] for op, st in busy.items()):
            continue
        order = ledger.find_order(order_no, integration.name)
        if order is None or order.state not in OPEN_STATES:
            continue
        for op, (state, stamp) in busy.items():
            floor_op = integration.maps.operations.get(op, op)
            if order.progress_state(floor_op) == OperationState.NOT_STARTED:
                warn(
                    order_no,
                    W_WORK_CHANGED,
                    f"Tryton shows work {op} of production {order_no} {state} although the "
                    "floor has not started it (timed in Tryton by hand?)",
                    f"{op}:{state}@{stamp}",
                )
    for order_no, (state, stamp) in plan.states.items():
        before = seen.get(order_no)
        if before is None or state not in _RELEASED:
            continue
        if before in ("draft", "request"):
            warn(
                order_no,
                W_RELEASED_AGAIN,
                f"Tryton released production {order_no} again (it was {before})",
                f"{state}@{stamp}",
            )
        elif before == "running" and state in ("waiting", "assigned"):
            warn(
                order_no,
                W_STATE_CHANGED,
                f"Tryton took production {order_no} back from running to {state}",
                f"{state}@{stamp}",
            )


def sync(
    integration: Integration,
    ledger: Ledger,
    *,
    open_orders: Callable[[], Iterable[str]] | None = None,
    client: TrytonClient | None = None,
) -> SyncSummary:
    """One pass: read Tryton's plan, apply it with the shared semantics, warn about changes.

    Without ``client`` the process's one session for the integration is used (and kept).
    """
    if client is not None:
        src = TrytonSource(integration, client)
        return _sync(src, ledger, open_orders)
    src = source_for(integration)
    with src.lock:
        return _sync(src, ledger, open_orders)


def _sync(
    src: TrytonSource,
    ledger: Ledger,
    open_orders: Callable[[], Iterable[str]] | None,
) -> SyncSummary:
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    plan = src.fetch()
    orders, errors = mapped_plan(src.integration, plan)
    summary = apply_batch(
        src.integration,
        ledger,
        orders,
        cancelled=sorted(plan.cancelled),
        errors=errors,
        open_orders=open_orders,
        bulk=True,
    )
    erp_state_changes(src.integration, ledger, plan, src.seen, summary)
    src.seen.update({n: st for n, (st, _) in plan.states.items()})
    src.seen.update(
        {
            f"{n}/{op}": stamp
            for n, steps in plan.work_states.items()
            for op, (_, stamp) in steps.items()
        }
    )
    src.last_poll = started
    return summary


__all__ = [
    "W_CLOSED_IN_ERP",
    "W_RELEASED_AGAIN",
    "W_STATE_CHANGED",
    "W_WORK_CHANGED",
    "TrytonSource",
    "close_sources",
    "erp_state_changes",
    "fetch_plan",
    "make_client",
    "map_order",
    "mapped_plan",
    "source_for",
    "sync",
    "tryton_inbound",
]
