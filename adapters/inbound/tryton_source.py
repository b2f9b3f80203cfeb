"""Tryton as an inbound source: its released productions applied with the shared semantics.

Released productions become orders (after the value maps), cancelled productions are
cancelled, productions a planner moved back to draft are "not released" (kept on the
floor, warned about), and productions that cannot be floor orders are refused rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal

from adapters.config import ConfigError, Integration, TrytonInbound, ValueMaps, secret
from adapters.inbound.sync import SourceUnavailable, SyncSummary, apply_batch
from adapters.mapping import MappedOrder, MappingCheck, RawOrder, RowError, UnmappedRef
from adapters.tryton import TrytonClient, TrytonError, TrytonPlan, read_plan
from domain.errors import InvalidValueError
from domain.ledger import Ledger
from domain.values import ErpOrder

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


def fetch_plan(integration: Integration, client: TrytonClient | None = None) -> TrytonPlan:
    """Tryton's plan now; SourceUnavailable when Tryton cannot be reached or refuses us."""
    own = client is None
    client = client or make_client(integration)
    try:
        return read_plan(client)
    except TrytonError as exc:
        raise SourceUnavailable(integration.name, f"{type(exc).__name__}: {exc}") from exc
    finally:
        if own:
            client.close()


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
        orders.append(_replanned(order_no))
    return orders, errors


def _replanned(order_no: str) -> MappedOrder:
    """A production back in draft: a placeholder order in state "not released"."""
    placeholder = ErpOrder(order_no=order_no, part_no="?", quantity=Decimal(1), unit="?")
    return MappedOrder(placeholder, "not_released", "draft")


def sync(
    integration: Integration,
    ledger: Ledger,
    *,
    open_orders: Callable[[], Iterable[str]] | None = None,
    client: TrytonClient | None = None,
) -> SyncSummary:
    """One pass: read Tryton's plan and apply it with the shared semantics."""
    plan = fetch_plan(integration, client)
    orders, errors = mapped_plan(integration, plan)
    return apply_batch(
        integration,
        ledger,
        orders,
        cancelled=sorted(plan.cancelled),
        errors=errors,
        open_orders=open_orders,
        bulk=True,
    )


__all__ = ["fetch_plan", "make_client", "map_order", "mapped_plan", "sync", "tryton_inbound"]
