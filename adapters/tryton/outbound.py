"""Write floor execution back to Tryton: work timing, output quantity, production done.

Every helper is safe to replay: it reads Tryton's current state first and only does what is
still missing, so at-least-once delivery has an exactly-once effect.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from adapters.tryton.client import TrytonClient, TrytonError, TrytonFault
from adapters.tryton.inbound import WORK_FIELDS, op_ids_for, sort_works

__all__ = ["MARKER_PREFIX", "TrytonWriteback", "WorkRef", "WritebackRefused"]

# ir.note messages on work cycles written by floorledger start with this.
MARKER_PREFIX = "floorledger:"
CYCLE = "production.work.cycle"

T = TypeVar("T")


class WritebackRefused(TrytonError):
    """Tryton cannot take this writeback as it stands (unknown order or operation, wrong state).

    Retrying will not help until someone acts; a supervisor may retry or skip it.
    """

    def __init__(self, order_no: str, message: str) -> None:
        self.order_no = order_no
        super().__init__(f"order {order_no!r}: {message}")


@dataclass(frozen=True)
class WorkRef:
    """The Tryton work (and its production) behind one floor operation."""

    production_id: int
    production_state: str
    work_id: int
    work_state: str
    op_id: str


class TrytonWriteback:
    """Pushes execution data for Tryton productions identified by their number."""

    def __init__(
        self,
        client: TrytonClient,
        *,
        accept_warnings: bool = False,
        force_assign: bool = False,
    ) -> None:
        self.client = client
        self.accept_warnings = accept_warnings
        self.force_assign = force_assign

    # -- lookup ----------------------------------------------------------------------------

    def production(self, order_no: str) -> dict[str, Any]:
        """The production with this number (id, state, product, outputs)."""
        rows = self.client.search_read(
            "production",
            [("number", "=", order_no)],
            ["id", "state", "product", "quantity", "outputs"],
            limit=2,
        )
        if not rows:
            raise WritebackRefused(order_no, "no Tryton production has this number")
        if len(rows) > 1:
            raise WritebackRefused(order_no, "several Tryton productions have this number")
        return rows[0]

    def works(self, order_no: str, op_id: str) -> list[WorkRef]:
        """Every Tryton work of the floor operation ``op_id`` (a re-released step has two)."""
        prod = self.production(order_no)
        works = sort_works(
            self.client.search_read(
                "production.work", [("production", "=", prod["id"])], list(WORK_FIELDS)
            )
        )
        refs = [
            WorkRef(
                production_id=int(prod["id"]),
                production_state=str(prod["state"]),
                work_id=int(w["id"]),
                work_state=str(w["state"]),
                op_id=op_id,
            )
            for key, w in zip(op_ids_for(works), works, strict=True)
            if key == op_id
        ]
        if not refs:
            raise WritebackRefused(order_no, f"operation {op_id!r} is not in the Tryton routing")
        return refs

    def work(self, order_no: str, op_id: str) -> WorkRef:
        """The Tryton work that takes new timing for the floor operation ``op_id``.

        Of several works of one step: the one with active cycles, else the newest one
        without cycles, else the newest.
        """
        refs = self.works(order_no, op_id)
        active = [r for r in refs if r.work_state in ("running", "waiting")]
        if active:
            return active[0]
        fresh = [r for r in refs if r.work_state in ("draft", "request")]
        return fresh[-1] if fresh else refs[-1]

    # -- production life cycle -------------------------------------------------------------

    def ensure_running(self, order_no: str) -> bool:
        """Put a released production into Tryton's running state; True if it changed now."""
        prod = self.production(order_no)
        state, pid = str(prod["state"]), int(prod["id"])
        if state == "running":
            return False
        if state not in ("waiting", "assigned"):
            raise WritebackRefused(order_no, f"the Tryton production is {state}, not released")
        if state == "waiting":
            self._call(lambda: self.client.button("production", "assign_try", [pid]))
            state = str(self.client.read("production", [pid], ["state"])[0]["state"])
            if state == "waiting" and self.force_assign:
                self._call(lambda: self.client.button("production", "assign_force", [pid]))
                state = str(self.client.read("production", [pid], ["state"])[0]["state"])
            if state == "waiting":
                raise WritebackRefused(order_no, "Tryton could not assign the input materials")
        self._call(lambda: self.client.button("production", "run", [pid]))
        return True

    def start_work(self, order_no: str, op_id: str) -> bool:
        """Start live timing of an operation (a running cycle); False if it already runs."""
        self.ensure_running(order_no)
        ref = self.work(order_no, op_id)
        if ref.work_state == "done":
            raise WritebackRefused(order_no, f"operation {op_id!r} is done in Tryton")
        active = self.client.read("production.work", [ref.work_id], ["active_cycles"])[0]
        if active["active_cycles"]:
            return False
        self._call(lambda: self.client.button("production.work", "start", [ref.work_id]))
        return True

    def finish_work(self, order_no: str, op_id: str) -> bool:
        """Stop live timing of an operation (its running cycles end now); False if none ran."""
        ref = self.work(order_no, op_id)
        active = self.client.read("production.work", [ref.work_id], ["active_cycles"])[0]
        if not active["active_cycles"]:
            return False
        self._call(lambda: self.client.button("production.work", "stop", [ref.work_id]))
        return True

    def add_cycle(self, order_no: str, op_id: str, duration: dt.timedelta, key: str) -> int:
        """Record a done cycle of ``duration`` on the operation, once per ``key``.

        The cycle carries an ir.note ``floorledger:<key>``. A replay finds the note and only
        completes what is missing; a draft cycle left without a note by an interrupted call
        is adopted rather than duplicated. Returns the cycle id.
        """
        if duration < dt.timedelta(0):
            raise WritebackRefused(order_no, "a cycle cannot have a negative duration")
        marker = MARKER_PREFIX + key
        cycle_id = self._marked_cycle(marker)
        if cycle_id is None:
            self.ensure_running(order_no)
            ref = self.work(order_no, op_id)
            if ref.work_state == "done":
                raise WritebackRefused(order_no, f"operation {op_id!r} is done in Tryton")
            cycle_id = self._new_cycle(ref.work_id, marker)
        self._complete_cycle(order_no, cycle_id, duration)
        return cycle_id

    def begin_run(self, order_no: str, op_id: str, key: str) -> int:
        """Start the Tryton cycle of one floor run of an operation, once per ``key``.

        The cycle is created in draft, marked ``floorledger:<key>`` and set running, so the
        work shows as running in Tryton. A replay finds the marker and only does what is
        missing. Returns the cycle id.
        """
        marker = MARKER_PREFIX + key
        cycle_id = self._marked_cycle(marker)
        if cycle_id is None:
            self.ensure_running(order_no)
            ref = self.work(order_no, op_id)
            if ref.work_state == "done":
                raise WritebackRefused(order_no, f"operation {op_id!r} is done in Tryton")
            cycle_id = self._new_cycle(ref.work_id, marker)
        rows = self.client.read(CYCLE, [cycle_id], ["state"])
        if not rows:
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was deleted")
        if rows[0]["state"] == "draft":
            self._call(lambda: self.client.button(CYCLE, "run", [cycle_id]))
        return cycle_id

    def end_run(
        self,
        order_no: str,
        op_id: str,
        key: str,
        total: dt.timedelta,
        *,
        completing: bool = False,
    ) -> int | None:
        """End the running floorledger cycle of the operation, once per ``key``.

        ``total`` is the operation's actual run time on the floor so far; the cycle gets
        what the operation's done floorledger cycles do not hold yet (its run's duration).
        With no running cycle (its start was skipped) a done cycle of that time is added,
        unless the production is done or cancelled in Tryton (refused).
        ``completing`` also gives every work of the step that has no cycle a zero-length
        done cycle, so Tryton sees the operation finished. Returns the cycle id, if any.
        """
        marker = MARKER_PREFIX + key
        prod = self.production(order_no)
        refs = self.works(order_no, op_id)
        cycles = self.client.search_read(
            CYCLE,
            [("work", "in", [r.work_id for r in refs])],
            ["id", "state", "duration", "work"],
            order=[("id", "ASC")],
        )
        ours = self._markers([int(c["id"]) for c in cycles])
        target = next((cid for cid, marks in ours.items() if marker in marks), None)
        if target is None:
            running = [int(c["id"]) for c in cycles if c["state"] == "running" and c["id"] in ours]
            # A run already open in Tryton is closed even on a cancelled production (the
            # time was spent); anything new is refused there.
            if not running and prod["state"] in ("done", "cancelled"):
                raise WritebackRefused(order_no, f"the Tryton production is {prod['state']}")
            if running:
                target = running[0]
                self.client.create(
                    "ir.note", [{"resource": f"{CYCLE},{target}", "message": marker}]
                )
        recorded = sum(
            (
                c["duration"] or dt.timedelta(0)
                for c in cycles
                if c["state"] == "done" and int(c["id"]) in ours and int(c["id"]) != target
            ),
            dt.timedelta(0),
        )
        duration = max(total - recorded, dt.timedelta(0))
        if target is not None:
            self._complete_cycle(order_no, target, duration)
        elif duration > dt.timedelta(0):
            target = self.add_cycle(order_no, op_id, duration, key)
        if completing:
            self._finish_step(order_no, op_id, key)
        return target

    def _finish_step(self, order_no: str, op_id: str, key: str) -> None:
        """Give every work of the step without any cycle a zero-length done cycle."""
        for ref in self.works(order_no, op_id):
            marker = f"{MARKER_PREFIX}{key}:work-{ref.work_id}"
            cycle_id = self._marked_cycle(marker)
            if cycle_id is None:
                if ref.work_state not in ("request", "draft"):
                    continue
                self.ensure_running(order_no)
                cycle_id = self._new_cycle(ref.work_id, marker)
            self._complete_cycle(order_no, cycle_id, dt.timedelta(0))

    def cycle_for_key(self, key: str) -> int | None:
        """The id of the cycle floorledger wrote for ``key``, if any."""
        return self._marked_cycle(MARKER_PREFIX + key)

    def set_output_quantity(self, order_no: str, quantity: Decimal) -> bool:
        """Set the produced quantity (the output move of the production's product).

        Returns False when Tryton already states this quantity.
        """
        if quantity < 0:
            raise WritebackRefused(order_no, "the output quantity cannot be negative")
        prod = self.production(order_no)
        moves = self.client.read(
            "stock.move", list(prod["outputs"]), ["id", "product", "quantity", "state"]
        )
        mine = [m for m in moves if m["product"] == prod["product"] and m["state"] != "cancelled"]
        if len(mine) != 1:
            raise WritebackRefused(
                order_no, f"expected one output move of the product, Tryton has {len(mine)}"
            )
        move = mine[0]
        if Decimal(repr(float(move["quantity"]))) == Decimal(quantity):
            return False
        if move["state"] == "done" or prod["state"] in ("done", "cancelled"):
            raise WritebackRefused(
                order_no, f"the Tryton production is {prod['state']}; its output is locked"
            )
        self._call(
            lambda: self.client.write("stock.move", [move["id"]], {"quantity": float(quantity)})
        )
        return True

    def complete(self, order_no: str) -> bool:
        """Mark the production done in Tryton; False if it already is.

        Tryton requires every work to be finished (all cycles done) first.
        """
        prod = self.production(order_no)
        if prod["state"] == "done":
            return False
        self.ensure_running(order_no)
        pid = int(prod["id"])
        self._call(lambda: self.client.button("production", "do", [pid]))
        return True

    # -- internals -------------------------------------------------------------------------

    def _new_cycle(self, work_id: int, marker: str) -> int:
        """A draft cycle on the work carrying ``marker`` (adopting an unmarked draft one)."""
        cycle_id = self._orphan_cycle(work_id)
        if cycle_id is None:
            cycle_id = self.client.create(CYCLE, [{"work": work_id}])[0]
        self.client.create("ir.note", [{"resource": f"{CYCLE},{cycle_id}", "message": marker}])
        return cycle_id

    def _markers(self, cycle_ids: list[int]) -> dict[int, set[str]]:
        """The floorledger markers of these cycles (cycles without one are left out)."""
        if not cycle_ids:
            return {}
        notes = self.client.search_read(
            "ir.note",
            [
                ("resource", "in", [f"{CYCLE},{i}" for i in cycle_ids]),
                ("message", "like", MARKER_PREFIX + "%"),
            ],
            ["resource", "message"],
        )
        out: dict[int, set[str]] = defaultdict(set)
        for n in notes:
            out[int(str(n["resource"]).split(",", 1)[1])].add(str(n["message"]))
        return dict(out)

    def _marked_cycle(self, marker: str) -> int | None:
        notes = self.client.search_read(
            "ir.note",
            [("message", "=", marker), ("resource", "like", f"{CYCLE},%")],
            ["id", "resource"],
            order=[("id", "ASC")],
            limit=1,
        )
        if not notes:
            return None
        return int(str(notes[0]["resource"]).split(",", 1)[1])

    def _orphan_cycle(self, work_id: int) -> int | None:
        drafts = self.client.search_read(
            CYCLE, [("work", "=", work_id), ("state", "=", "draft")], ["id"]
        )
        if not drafts:
            return None
        ids = [int(d["id"]) for d in drafts]
        noted = self.client.search_read(
            "ir.note",
            [("resource", "in", [f"{CYCLE},{i}" for i in ids])],
            ["resource"],
        )
        taken = {int(str(n["resource"]).split(",", 1)[1]) for n in noted}
        free = [i for i in ids if i not in taken]
        return free[0] if free else None

    def _complete_cycle(self, order_no: str, cycle_id: int, duration: dt.timedelta) -> None:
        """Drive a cycle draft → running → (duration) → done, from wherever it stands."""
        rows = self.client.read(CYCLE, [cycle_id], ["state", "duration"])
        if not rows:
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was deleted")
        state = rows[0]["state"]
        if state == "cancelled":
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was cancelled")
        if state == "done":
            return
        if state == "draft":
            self._call(lambda: self.client.button(CYCLE, "run", [cycle_id]))
        # Tryton only lets a running cycle's duration be written.
        self.client.write(CYCLE, [cycle_id], {"duration": duration})
        self._call(lambda: self.client.button(CYCLE, "do", [cycle_id]))

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a call; when allowed, accept Tryton's confirmation warnings and run it again."""
        seen: set[str] = set()
        while True:
            try:
                return fn()
            except TrytonFault as fault:
                name = fault.warning_name
                if not (self.accept_warnings and name) or name in seen:
                    raise
                seen.add(name)
                self._accept_warning(name)

    def _accept_warning(self, name: str) -> None:
        values: Mapping[str, Any] = {"user": self.client.user_id, "name": name, "always": False}
        self.client.create("res.user.warning", [values])
