"""Write floor execution back to Tryton: work timing, output quantity, production done.

Every helper is safe to replay: it reads Tryton's current state first and only does what is
still missing, so at-least-once delivery has an exactly-once effect.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from adapters.tryton.client import TrytonClient, TrytonError, TrytonFault
from adapters.tryton.inbound import WORK_FIELDS, op_ids_for, sort_works

__all__ = ["MARKER_PREFIX", "FloorFact", "TrytonWriteback", "WorkRef", "WritebackRefused"]

# ir.note messages on work cycles written by floorledger start with this.
MARKER_PREFIX = "floorledger:"
CYCLE = "production.work.cycle"
WORK = "production.work"
BATCH = "batch:"

T = TypeVar("T")


class WritebackRefused(TrytonError):
    """Tryton cannot take this writeback as it stands (unknown order or operation, wrong state).

    Retrying will not help until someone acts; a supervisor may retry or skip it.
    """

    def __init__(self, order_no: str, message: str) -> None:
        self.order_no = order_no
        super().__init__(f"order {order_no!r}: {message}")


@dataclass(frozen=True)
class FloorFact:
    """Who did a floor action and when, as Tryton gets it: an employee and a note's text."""

    text: str = ""
    employee: int | None = None


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _related(row: Mapping[str, Any], name: str, field: str) -> Any:
    related = row.get(f"{name}.")
    return related.get(field) if isinstance(related, Mapping) else None


def _split(
    quantity: Decimal, lots: Sequence[int], *, batch: bool = False
) -> list[tuple[Decimal, int | None]]:
    """The good output as (quantity, lot) moves: a batch lot for all, else 1 unit per serial
    (units beyond the serials stay without a lot)."""
    if not lots:
        return [(quantity, None)]
    if batch:
        return [(quantity, lots[0])]
    ones = [(Decimal(1), lot) for lot in lots[: int(quantity)]]
    rest = quantity - len(ones)
    return ones + ([(rest, None)] if rest > 0 else []) if ones else [(quantity, None)]


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
        start_production: str = "first_start",
    ) -> None:
        self.client = client
        self.accept_warnings = accept_warnings
        self.force_assign = force_assign
        # "first_start": the production runs (inputs consumed) when the floor first starts;
        # "completion": the first start only reserves the inputs, the production runs and
        # is done when the floor completes the order
        self.start_production = start_production

    def ensure_started(self, order_no: str) -> bool:
        """What the first floor start does to the production: run it, or only reserve."""
        if self.start_production == "completion":
            return self.assign(order_no)
        return self.ensure_running(order_no)

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
            self.assign(order_no)
        self._call(lambda: self.client.button("production", "run", [pid]))
        return True

    def assign(self, order_no: str) -> bool:
        """Reserve the production's inputs (waiting → assigned); True if it changed now.

        When Tryton cannot reserve all of them, what ``assign_try`` did reserve is released
        again (``wait`` puts the input moves back to draft), so a refused start leaves no
        reservation behind, and the start is refused.
        """
        prod = self.production(order_no)
        state, pid = str(prod["state"]), int(prod["id"])
        if state in ("assigned", "running"):
            return False
        if state != "waiting":
            raise WritebackRefused(order_no, f"the Tryton production is {state}, not released")
        self._call(lambda: self.client.button("production", "assign_try", [pid]))
        state = str(self.client.read("production", [pid], ["state"])[0]["state"])
        if state == "waiting" and self.force_assign:
            self._call(lambda: self.client.button("production", "assign_force", [pid]))
            state = str(self.client.read("production", [pid], ["state"])[0]["state"])
        if state == "waiting":
            self._call(lambda: self.client.button("production", "wait", [pid]))
            raise WritebackRefused(
                order_no,
                "Tryton could not reserve the input materials (nothing stays reserved)",
            )
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

    def add_cycle(
        self,
        order_no: str,
        op_id: str,
        duration: dt.timedelta,
        key: str,
        *,
        fact: FloorFact | None = None,
    ) -> int:
        """Record a done cycle of ``duration`` on the operation, once per ``key``.

        The cycle carries an ir.note ``floorledger:<key>``. A replay finds the note and only
        completes what is missing; a draft cycle left without a note by an interrupted call
        is adopted rather than duplicated. Returns the cycle id.
        """
        if duration < dt.timedelta(0):
            raise WritebackRefused(order_no, "a cycle cannot have a negative duration")
        marker = MARKER_PREFIX + key
        cycle_id = self._marked_cycle(order_no, marker)
        if cycle_id is None:
            self.ensure_started(order_no)
            ref = self.work(order_no, op_id)
            if ref.work_state == "done":
                raise WritebackRefused(order_no, f"operation {op_id!r} is done in Tryton")
            cycle_id = self._new_cycle(ref.work_id, marker, fact)
        self._complete_cycle(order_no, cycle_id, duration, fact)
        return cycle_id

    def begin_run(
        self, order_no: str, op_id: str, key: str, *, fact: FloorFact | None = None
    ) -> int:
        """Start the Tryton cycle of one floor run of an operation, once per ``key``.

        The cycle is created in draft (its "Run By" the operator's employee, when mapped),
        marked ``floorledger:<key>`` with a note of who started it on the floor and when,
        and set running, so the work shows as running in Tryton. A replay finds the marker
        and only does what is missing. Returns the cycle id.
        """
        marker = MARKER_PREFIX + key
        cycle_id = self._marked_cycle(order_no, marker)
        if cycle_id is None:
            self.ensure_started(order_no)
            ref = self.work(order_no, op_id)
            if ref.work_state == "done":
                raise WritebackRefused(order_no, f"operation {op_id!r} is done in Tryton")
            cycle_id = self._new_cycle(ref.work_id, marker, fact)
        rows = self.client.read(CYCLE, [cycle_id], ["state"])
        if not rows:
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was deleted")
        if rows[0]["state"] == "draft":
            self._call(lambda: self.client.button(CYCLE, "run", [cycle_id]))
        return cycle_id

    def running_cycle(self, order_no: str, op_id: str) -> int | None:
        """The floorledger cycle of the operation that is running in Tryton, if any."""
        refs = self.works(order_no, op_id)
        cycles = self.client.search_read(
            CYCLE,
            [("work", "in", [r.work_id for r in refs]), ("state", "=", "running")],
            ["id"],
            order=[("id", "ASC")],
        )
        ours = self._markers([int(c["id"]) for c in cycles])
        return next((int(c["id"]) for c in cycles if int(c["id"]) in ours), None)

    def note_run(self, order_no: str, op_id: str, key: str, text: str) -> tuple[str, int]:
        """Note a floor fact (a pause, a resume) on the operation, once per ``key``.

        The note goes on the operation's running floorledger cycle, else on its Tryton work.
        Returns the resource it went on.
        """
        marker = MARKER_PREFIX + key
        found = self._marked(order_no, marker)
        if found is not None:
            return found
        cycle_id = self.running_cycle(order_no, op_id)
        resource = (CYCLE, cycle_id) if cycle_id else (WORK, self.work(order_no, op_id).work_id)
        self._notes(resource, marker, text)
        return resource

    def end_run(
        self,
        order_no: str,
        op_id: str,
        key: str,
        total: dt.timedelta,
        *,
        completing: bool = False,
        fact: FloorFact | None = None,
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
                self._notes((CYCLE, target), marker, fact.text if fact else "")
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
            self._complete_cycle(order_no, target, duration, fact)
        elif duration > dt.timedelta(0):
            target = self.add_cycle(order_no, op_id, duration, key, fact=fact)
        if completing:
            self._finish_step(order_no, op_id, key)
        return target

    def _finish_step(self, order_no: str, op_id: str, key: str) -> None:
        """Give every work of the step without any cycle a zero-length done cycle."""
        for ref in self.works(order_no, op_id):
            marker = f"{MARKER_PREFIX}{key}:work-{ref.work_id}"
            cycle_id = self._marked_cycle(order_no, marker)
            if cycle_id is None:
                if ref.work_state not in ("request", "draft"):
                    continue
                self.ensure_started(order_no)
                cycle_id = self._new_cycle(ref.work_id, marker, None)
            self._complete_cycle(order_no, cycle_id, dt.timedelta(0), None)

    def cycle_for_key(self, order_no: str, key: str) -> int | None:
        """The id of the cycle floorledger wrote for ``key`` on the order, if any."""
        return self._marked_cycle(order_no, MARKER_PREFIX + key)

    # -- quantities, scrap, lots, notes ------------------------------------------------------

    def note_production(self, order_no: str, key: str, text: str) -> bool:
        """Note a floor fact on the production itself, once per ``key``; False if noted."""
        marker = MARKER_PREFIX + key
        if self._marked(order_no, marker) is not None:
            return False
        self._notes(("production", int(self.production(order_no)["id"])), marker, text)
        return True

    def post_scrap(
        self,
        order_no: str,
        quantity: Decimal,
        reason: str,
        key: str,
        *,
        location: int | str | None = None,
        fact: FloorFact | None = None,
    ) -> int | None:
        """Post scrapped units as their own output move to a scrap location, once per ``key``.

        The move goes from the production location to ``location`` (a Tryton location id or
        name), else to the production warehouse's first waste location; its note says the
        reason. A move created by an interrupted call (no note yet) is adopted. Returns the
        move id, or None when there was nothing to post.
        """
        if quantity <= 0:
            return None
        marker = MARKER_PREFIX + key
        found = self._marked(order_no, marker)
        if found is not None:
            return found[1]
        prod = self.client.search_read(
            "production",
            [("number", "=", order_no)],
            ["id", "state", "product", "unit", "location", "warehouse", "company", "outputs"],
            limit=1,
        )
        if not prod:
            raise WritebackRefused(order_no, "no Tryton production has this number")
        p = prod[0]
        if p["state"] in ("done", "cancelled"):
            raise WritebackRefused(
                order_no, f"the Tryton production is {p['state']}; its outputs are locked"
            )
        to_location = self._scrap_location(order_no, p, location)
        outputs = self.client.read(
            "stock.move",
            list(p["outputs"]),
            ["id", "product", "quantity", "to_location", "state", "currency"],
        )
        noted = self._markers_of("stock.move", [int(m["id"]) for m in outputs])
        orphan = next(
            (
                int(m["id"])
                for m in outputs
                if m["to_location"] == to_location
                and int(m["id"]) not in noted
                and Decimal(repr(float(m["quantity"]))) == quantity
                and m["state"] != "cancelled"
            ),
            None,
        )
        text = f"Scrap: {_qty(quantity)} (reason: {reason})" + (
            f"; {fact.text}" if fact and fact.text else ""
        )
        if orphan is None:
            values: dict[str, Any] = {
                "product": p["product"],
                "unit": p["unit"],
                "quantity": float(quantity),
                "from_location": p["location"],
                "to_location": to_location,
                "company": p["company"],
            }
            if not self._is_lost_found(to_location):
                # Tryton wants a cost on production output that is kept (not lost)
                values["unit_price"] = Decimal(0)
                values["currency"] = next(
                    (m["currency"] for m in outputs if m["currency"]), None
                ) or self._currency(int(p["company"]))
            pid = int(p["id"])
            self._call(
                lambda: self.client.write("production", [pid], {"outputs": [["create", [values]]]})
            )
            after = self.client.read("production", [pid], ["outputs"])[0]["outputs"]
            new = sorted(set(int(i) for i in after) - {int(m["id"]) for m in outputs})
            if not new:
                raise WritebackRefused(order_no, "Tryton did not create the scrap move")
            orphan = new[-1]
        self._notes(("stock.move", orphan), marker, text)
        return orphan

    def _is_lost_found(self, location: int) -> bool:
        rows = self.client.read("stock.location", [location], ["type"])
        return bool(rows) and rows[0]["type"] == "lost_found"

    def _currency(self, company: int) -> int:
        return int(self.client.read("company.company", [company], ["currency"])[0]["currency"])

    def _scrap_location(
        self, order_no: str, prod: Mapping[str, Any], location: int | str | None
    ) -> int:
        if isinstance(location, int):
            return location
        if isinstance(location, str):
            rows = self.client.search_read(
                "stock.location", [("name", "=", location)], ["id"], limit=2
            )
            if len(rows) != 1:
                raise WritebackRefused(
                    order_no, f"scrap location {location!r} matches {len(rows)} Tryton locations"
                )
            return int(rows[0]["id"])
        wh = self.client.read("stock.location", [int(prod["warehouse"])], ["waste_locations"])
        waste = list(wh[0]["waste_locations"]) if wh else []
        if not waste:
            raise WritebackRefused(
                order_no,
                "the production's warehouse has no waste location for scrap "
                "(set one in Tryton, or map the reason in scrap_locations)",
            )
        return int(waste[0])

    def lot_numbers(self, order_no: str) -> list[str]:
        """The serial numbers noted on the production, else its last batch number (prefixed
        with ``batch:``), as ``set_output_quantity`` takes them."""
        pid = int(self.production(order_no)["id"])
        notes = self.client.search_read(
            "ir.note",
            [("resource", "=", f"production,{pid}"), ("message", "like", MARKER_PREFIX + "%")],
            ["id", "message"],
            order=[("id", "ASC")],
        )
        found: dict[str, list[str]] = {"serial": [], "batch": []}
        for n in notes:
            rest = str(n["message"])[len(MARKER_PREFIX) :]
            kind, _, number = rest.partition(":")
            if kind in found and number:
                found[kind].append(number)
        return found["serial"] or [BATCH + n for n in found["batch"][-1:]]

    def ensure_lot(self, order_no: str, number: str) -> int:
        """The Tryton lot ``number`` of the production's product (created when missing)."""
        prod = self.production(order_no)
        rows = self.client.search_read(
            "stock.lot",
            [("number", "=", number), ("product", "=", prod["product"])],
            ["id"],
            limit=1,
        )
        if rows:
            return int(rows[0]["id"])
        return self.client.create("stock.lot", [{"number": number, "product": prod["product"]}])[0]

    def set_output_quantity(
        self, order_no: str, quantity: Decimal, *, lots: Sequence[str] = ()
    ) -> bool:
        """Set the produced good quantity on the output move(s) of the production's product.

        ``lots``: the serial numbers the floor recorded (one move of 1 unit per serial, the
        rest without a lot), or one ``batch:<number>`` (the batch lot on the whole output).
        Scrap moves (to a waste location) are left alone. Returns False when Tryton already
        states all of this.
        """
        if quantity < 0:
            raise WritebackRefused(order_no, "the output quantity cannot be negative")
        prod = self.production(order_no)
        moves = self.client.read(
            "stock.move",
            list(prod["outputs"]),
            ["id", "product", "quantity", "state", "lot", "to_location", "to_location.type"],
        )
        scrap = self._markers_of("stock.move", [int(m["id"]) for m in moves])
        good = [
            m
            for m in moves
            if m["product"] == prod["product"]
            and m["state"] != "cancelled"
            and _related(m, "to_location", "type") != "lost_found"
            and int(m["id"]) not in scrap
        ]
        if not good:
            raise WritebackRefused(order_no, "the Tryton production has no output move to post")
        batch = len(lots) == 1 and lots[0].startswith(BATCH)
        numbers = [n.removeprefix(BATCH) for n in dict.fromkeys(lots)]
        lot_ids = [self.ensure_lot(order_no, n) for n in numbers]
        want = _split(quantity, lot_ids, batch=batch)
        have = sorted(
            ((Decimal(repr(float(m["quantity"]))), m["lot"]) for m in good),
            key=lambda t: (t[1] is None, t[1] or 0, t[0]),
        )
        if have == sorted(want, key=lambda t: (t[1] is None, t[1] or 0, t[0])):
            return False
        if prod["state"] in ("done", "cancelled") or any(m["state"] == "done" for m in good):
            raise WritebackRefused(
                order_no, f"the Tryton production is {prod['state']}; its output is locked"
            )
        first, rest = good[0], good[1:]
        template = self.client.read(
            "stock.move",
            [int(first["id"])],
            [
                "product",
                "unit",
                "from_location",
                "to_location",
                "company",
                "unit_price",
                "currency",
            ],
        )[0]
        qty0, lot0 = want[0]
        writes: list[Any] = [
            "write",
            [int(first["id"])],
            {"quantity": float(qty0), "lot": lot0},
        ]
        actions: list[Any] = [writes]
        if rest:
            actions.append(["delete", [int(m["id"]) for m in rest]])
        extra = [
            {
                **{k: template[k] for k in ("product", "unit", "from_location", "to_location")},
                "company": template["company"],
                "unit_price": template["unit_price"] or Decimal(0),
                "currency": template["currency"] or self._currency(int(template["company"])),
                "quantity": float(q),
                "lot": lot,
            }
            for q, lot in want[1:]
        ]
        if extra:
            actions.append(["create", extra])
        pid = int(prod["id"])
        self._call(lambda: self.client.write("production", [pid], {"outputs": actions}))
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

    def _resources(self, order_no: str) -> list[str]:
        """Every record floorledger notes on for the order: production, works, cycles, moves."""
        prod = self.client.search_read(
            "production", [("number", "=", order_no)], ["id", "outputs", "works"], limit=1
        )
        if not prod:
            raise WritebackRefused(order_no, "no Tryton production has this number")
        p = prod[0]
        cycles = (
            self.client.search_read(CYCLE, [("work", "in", list(p["works"]))], ["id"])
            if p["works"]
            else []
        )
        return (
            [f"production,{p['id']}"]
            + [f"{WORK},{w}" for w in p["works"]]
            + [f"{CYCLE},{c['id']}" for c in cycles]
            + [f"stock.move,{m}" for m in p["outputs"]]
        )

    def _marked(self, order_no: str, marker: str) -> tuple[str, int] | None:
        """The record of the order that carries ``marker``, if any."""
        notes = self.client.search_read(
            "ir.note",
            [("resource", "in", self._resources(order_no)), ("message", "=", marker)],
            ["id", "resource"],
            order=[("id", "ASC")],
            limit=1,
        )
        if not notes:
            return None
        model, rid = str(notes[0]["resource"]).split(",", 1)
        return model, int(rid)

    def _notes(self, resource: tuple[str, int], marker: str, text: str) -> None:
        """The marker and the human note on a record, in one Tryton transaction."""
        ref = f"{resource[0]},{resource[1]}"
        notes = [{"resource": ref, "message": marker}]
        if text:
            notes.append({"resource": ref, "message": text})
        self.client.create("ir.note", notes)

    def _new_cycle(self, work_id: int, marker: str, fact: FloorFact | None) -> int:
        """A draft cycle on the work carrying ``marker`` (adopting an unmarked draft one)."""
        cycle_id = self._orphan_cycle(work_id)
        values: dict[str, Any] = {}
        if fact is not None and fact.employee is not None:
            values["run_by"] = fact.employee
        if cycle_id is None:
            cycle_id = self.client.create(CYCLE, [{"work": work_id, **values}])[0]
        elif values:
            self.client.write(CYCLE, [cycle_id], values)
        self._notes((CYCLE, cycle_id), marker, fact.text if fact else "")
        return cycle_id

    def _markers(self, cycle_ids: list[int]) -> dict[int, set[str]]:
        """The floorledger markers of these cycles (cycles without one are left out)."""
        return self._markers_of(CYCLE, cycle_ids)

    def _markers_of(self, model: str, ids: list[int]) -> dict[int, set[str]]:
        """The floorledger markers of these records (records without one are left out)."""
        if not ids:
            return {}
        notes = self.client.search_read(
            "ir.note",
            [
                ("resource", "in", [f"{model},{i}" for i in ids]),
                ("message", "like", MARKER_PREFIX + "%"),
            ],
            ["resource", "message"],
        )
        out: dict[int, set[str]] = defaultdict(set)
        for n in notes:
            out[int(str(n["resource"]).split(",", 1)[1])].add(str(n["message"]))
        return dict(out)

    def _marked_cycle(self, order_no: str, marker: str) -> int | None:
        found = self._marked(order_no, marker)
        if found is None or found[0] != CYCLE:
            return None
        return found[1]

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

    def _complete_cycle(
        self,
        order_no: str,
        cycle_id: int,
        duration: dt.timedelta,
        fact: FloorFact | None,
    ) -> None:
        """Drive a cycle draft → running → (duration) → done, from wherever it stands."""
        rows = self.client.read(CYCLE, [cycle_id], ["state", "duration", "done_by"])
        if not rows:
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was deleted")
        state = rows[0]["state"]
        if state == "cancelled":
            raise WritebackRefused(order_no, f"Tryton cycle {cycle_id} was cancelled")
        if state == "draft":
            self._call(lambda: self.client.button(CYCLE, "run", [cycle_id]))
        if state in ("draft", "running"):
            # Tryton only lets a running cycle's duration be written.
            self.client.write(CYCLE, [cycle_id], {"duration": duration})
            self._call(lambda: self.client.button(CYCLE, "do", [cycle_id]))
        if fact is not None and fact.employee is not None and not rows[0]["done_by"]:
            # "Done By" can only be written once the cycle is done.
            self.client.write(CYCLE, [cycle_id], {"done_by": fact.employee})

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
