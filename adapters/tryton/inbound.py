"""Read the released plan from Tryton: productions with their works as floor works orders."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from adapters.tryton.client import TrytonClient
from domain.errors import InvalidValueError
from domain.values import ErpOperation, ErpOrder

__all__ = [
    "RELEASED_STATES",
    "TrytonPlan",
    "op_ids_for",
    "production_to_order",
    "read_plan",
]

# Tryton production states in which an order may be executed on the floor.
RELEASED_STATES = ("waiting", "assigned", "running")

PRODUCTION_FIELDS = (
    "id",
    "number",
    "reference",
    "state",
    "quantity",
    "planned_date",
    "planned_start_date",
    "product.code",
    "product.name",
    "unit.symbol",
    "work_center.name",
    "write_date",
)
WORK_FIELDS = (
    "id",
    "production",
    "sequence",
    "operation.name",
    "work_center.name",
    "state",
    "write_date",
)

OrderKey = Literal["number", "reference"]


@dataclass(frozen=True)
class TrytonPlan:
    """What Tryton currently says: released orders, cancelled and re-planned order numbers."""

    orders: tuple[ErpOrder, ...]
    cancelled: frozenset[str]
    replanning: frozenset[str]
    skipped: tuple[tuple[str, str], ...] = ()
    # order number → (Tryton state, when Tryton last changed the production), for every
    # production read: released, re-planned, cancelled and done ones
    states: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # numbers of productions Tryton shows done (closed)
    done: frozenset[str] = frozenset()
    # order number → op_id → (Tryton work state, when Tryton last changed the work), for the
    # released productions (of a step with several works: the last one changed)
    work_states: Mapping[str, Mapping[str, tuple[str, str]]] = field(default_factory=dict)

    @property
    def order_numbers(self) -> frozenset[str]:
        """The numbers of the released orders."""
        return frozenset(o.order_no for o in self.orders)


def _related(row: Mapping[str, Any], name: str, field: str) -> Any:
    """A field of a Many2One read with a dotted name (Tryton answers ``{'name.': {...}}``)."""
    related = row.get(f"{name}.")
    if isinstance(related, Mapping):
        return related.get(field)
    return None


def _stamp(row: Mapping[str, Any]) -> str:
    """When Tryton last changed a record (its write date, else its creation date)."""
    value = row.get("write_date") or row.get("create_date")
    return value.isoformat() if isinstance(value, dt.datetime) else str(value or "")


def _order_no(row: Mapping[str, Any], key: OrderKey) -> str:
    value = row.get(key) or ""
    return str(value).strip()


def op_ids_for(works: Sequence[Mapping[str, Any]]) -> list[str]:
    """Stable operation ids for a production's works, in order.

    Tryton deletes and recreates works when a planner resets a production to draft and
    releases it again, so work ids are not stable; the routing step sequence is. When every
    work has a sequence and works sharing one are the same operation, the sequence is the op
    id ("10", "20", …); otherwise the position ("10", "20", … by order of sequence then id).
    Works sharing a step happen when a planner re-releases a production whose work already
    has cycles: Tryton keeps that work and creates a new one for the same step.
    """
    sequences = [w.get("sequence") for w in works]
    if all(isinstance(s, int) for s in sequences):
        operations: dict[Any, set[Any]] = defaultdict(set)
        for w in works:
            operations[w.get("sequence")].add(_operation_key(w))
        if all(len(ops) == 1 for ops in operations.values()):
            return [str(s) for s in sequences]
    return [str(10 * (i + 1)) for i in range(len(works))]


def _operation_key(work: Mapping[str, Any]) -> Any:
    """What identifies a work's routing operation (its id, else its name)."""
    return _related(work, "operation", "id") or _related(work, "operation", "name")


def sort_works(works: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Works in routing order (sequence, then id; unsequenced last)."""
    return sorted(
        works,
        key=lambda w: (w.get("sequence") is None, w.get("sequence") or 0, int(w["id"])),
    )


def production_to_order(
    row: Mapping[str, Any],
    works: Sequence[Mapping[str, Any]],
    *,
    order_key: OrderKey = "number",
    standard_times: Mapping[str, tuple[Decimal, Decimal]] | None = None,
) -> ErpOrder:
    """One released Tryton production (and its works) as a checked ErpOrder.

    ``standard_times`` gives, per Tryton operation name, (setup minutes, run minutes per
    unit); Tryton's routings hold none, so operations not in it get 0.

    Raises InvalidValueError naming the field when the production cannot be a floor order.
    """
    order_no = _order_no(row, order_key)
    part_no = str(_related(row, "product", "code") or "").strip()
    if not part_no:
        raise InvalidValueError("part_no", part_no, "the Tryton product has no code")
    raw_qty = row.get("quantity")
    if raw_qty is None:
        raise InvalidValueError("quantity", raw_qty, "the Tryton production has no quantity")
    quantity = Decimal(repr(raw_qty)) if isinstance(raw_qty, float) else Decimal(str(raw_qty))
    due = row.get("planned_date") or row.get("planned_start_date")
    if isinstance(due, dt.datetime):
        due = due.date()
    ordered = sort_works(works)
    steps: dict[str, Mapping[str, Any]] = {}
    for op_id, w in zip(op_ids_for(ordered), ordered, strict=True):
        steps.setdefault(op_id, w)  # one operation per routing step
    times = standard_times or {}
    zero = (Decimal(0), Decimal(0))
    routing = tuple(
        ErpOperation(
            op_id=op_id,
            name=(name := str(_related(w, "operation", "name") or "")),
            work_centre=str(_related(w, "work_center", "name") or ""),
            setup_time=times.get(name, zero)[0],
            run_time_per_unit=times.get(name, zero)[1],
        )
        for op_id, w in steps.items()
    )
    return ErpOrder(
        order_no=order_no,
        part_no=part_no,
        quantity=quantity,
        unit=str(_related(row, "unit", "symbol") or ""),
        description=str(_related(row, "product", "name") or ""),
        due_date=due if isinstance(due, dt.date) else None,
        work_centre=str(_related(row, "work_center", "name") or ""),
        routing=routing,
    ).checked()


def _search_all(
    client: TrytonClient,
    model: str,
    domain: Sequence[Any],
    fields: Sequence[str],
    *,
    batch: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.search_read(
            model, domain, fields, order=[("id", "ASC")], limit=batch, offset=offset
        )
        rows.extend(page)
        if len(page) < batch:
            return rows
        offset += batch


def read_plan(
    client: TrytonClient,
    *,
    order_key: OrderKey = "number",
    work_centres: Iterable[str] | None = None,
    cancelled_since: dt.datetime | None = None,
    done_since: dt.datetime | None = None,
    standard_times: Mapping[str, tuple[Decimal, Decimal]] | None = None,
    batch: int = 200,
) -> TrytonPlan:
    """The released productions as ErpOrders, plus cancelled and re-planned order numbers.

    ``work_centres`` limits the plan to productions on those Tryton work centres (by name).
    ``cancelled_since`` limits the cancelled numbers to productions changed since then,
    ``done_since`` the done (closed) ones.
    Productions that cannot become floor orders are listed in ``skipped`` with the reason.
    """
    domain: list[Any] = [("state", "in", list(RELEASED_STATES))]
    if work_centres is not None:
        domain.append(("work_center.name", "in", list(work_centres)))
    rows = _search_all(client, "production", domain, PRODUCTION_FIELDS, batch=batch)

    works_by_production: dict[int, list[dict[str, Any]]] = defaultdict(list)
    ids = [int(r["id"]) for r in rows]
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        for w in _search_all(
            client, "production.work", [("production", "in", chunk)], WORK_FIELDS, batch=1000
        ):
            works_by_production[int(w["production"])].append(w)

    work_states: dict[str, dict[str, tuple[str, str]]] = {}
    for row in rows:
        ordered = sort_works(works_by_production[int(row["id"])])
        steps: dict[str, tuple[str, str]] = {}
        for op_id, work in zip(op_ids_for(ordered), ordered, strict=True):
            seen = (str(work.get("state")), _stamp(work))
            if op_id not in steps or seen[1] > steps[op_id][1]:
                steps[op_id] = seen
        if label := _order_no(row, order_key):
            work_states[label] = steps

    orders: list[ErpOrder] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        label = _order_no(row, order_key) or f"production id {row['id']}"
        try:
            orders.append(
                production_to_order(
                    row,
                    works_by_production[int(row["id"])],
                    order_key=order_key,
                    standard_times=standard_times,
                )
            )
        except InvalidValueError as exc:
            skipped.append((label, str(exc)))

    cancelled_domain: list[Any] = [("state", "=", "cancelled")]
    if cancelled_since is not None:
        cancelled_domain.append(("write_date", ">=", cancelled_since))
    stamp_fields = ["id", order_key, "state", "write_date", "create_date"]
    cancelled = _search_all(client, "production", cancelled_domain, stamp_fields, batch=1000)
    # A numbered production back in draft was released once and is being re-planned.
    replanning = _search_all(
        client,
        "production",
        [("state", "in", ["draft", "request"]), ("number", "!=", None)],
        stamp_fields,
        batch=1000,
    )
    done_domain: list[Any] = [("state", "=", "done")]
    if done_since is not None:
        done_domain.append(("write_date", ">=", done_since))
    done = _search_all(client, "production", done_domain, stamp_fields, batch=1000)
    states = {
        n: (str(r["state"]), _stamp(r))
        for r in (*rows, *cancelled, *replanning, *done)
        if (n := _order_no(r, order_key))
    }
    return TrytonPlan(
        orders=tuple(orders),
        cancelled=frozenset(n for r in cancelled if (n := _order_no(r, order_key))),
        replanning=frozenset(n for r in replanning if (n := _order_no(r, order_key))),
        done=frozenset(n for r in done if (n := _order_no(r, order_key))),
        states=states,
        work_states=work_states,
        skipped=tuple(skipped),
    )
