"""Tryton end to end: plan from a real trytond, floor actions over HTTP, writeback into Tryton.

Productions are created and released in Tryton, synced into the ledger, worked on the floor
through the API, and written back by the pump. Tryton must end with the right work states,
cycles (one per floor run, with its duration) and output, exactly once — across a quantity
change and a cancellation made in Tryton mid-flight, a Tryton outage, and a pump replay.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.config import IntegrationsConfig, parse_config
from adapters.inbound import tryton_source
from adapters.inbound.sync import SyncSummary
from adapters.tryton import TrytonClient, TrytonFault
from adapters.writeback.pump import Pump
from adapters.writeback.service import WritebackService
from api.app import create_app
from api.runtime import ApiSettings
from domain import Actor, Ledger
from domain.commands import CompleteOrder
from tests.conftest import Backend
from tests.support.tryton_server import Plant, TrytonSeed, TrytonServer
from tests.support.writeback import write_config

pytestmark = pytest.mark.tryton

DEST = "tryton-wb"
PASSWORD_ENV = "FL_TRYTON_E2E_PASSWORD"
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)


def plant_config(server: TrytonServer, **destination: Any) -> IntegrationsConfig:
    """One Tryton integration in mode D: plan from Tryton, writeback to the same server,
    both as the least-privilege integration user."""
    conn = {
        "url": server.url,
        "database": server.database,
        "user": server.user,
        "password_env": PASSWORD_ENV,
    }
    return parse_config(
        {
            "integrations": [
                {
                    "name": "tryton",
                    "mode": "D",
                    "inbound": {"transport": "tryton", **conn},
                    "outbound": {
                        "poll_seconds": 0.05,
                        "destinations": [
                            {
                                "name": DEST,
                                "transport": "tryton",
                                **conn,
                                "timeout_seconds": 5,
                                **destination,
                                "retry": {
                                    "attempts": 2,
                                    "initial_seconds": 0.01,
                                    "max_seconds": 0.05,
                                },
                            }
                        ],
                    },
                }
            ]
        }
    )


@dataclass
class Floor:
    """The API under test, its ledger, the pump and the plant's Tryton."""

    client: TestClient
    tokens: dict[str, str]
    ledger: Ledger
    config: IntegrationsConfig
    pump: Pump
    seed: TrytonSeed
    plant: Plant

    def post(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.client.post(
            path, json=body or {}, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def get(self, who: str, path: str, **params: Any) -> Any:
        r = self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def act(self, order: str, op: str, action: str, minute: float, **body: Any) -> None:
        """An operator's floor action at T0 + minute."""
        at = (T0 + dt.timedelta(minutes=minute)).isoformat()
        self.post("olga", f"/orders/{order}/operations/{op}/{action}", {"at": at, **body})

    def complete_order(self, order: str, minute: float) -> None:
        """The floor completes the order (over HTTP when the API offers it)."""
        at = T0 + dt.timedelta(minutes=minute)
        paths = {getattr(r, "path", "") for r in self.client.app.routes}  # type: ignore[attr-defined]
        if "/orders/{order_no}/complete" in paths:
            self.post("sven", f"/orders/{order}/complete", {"at": at.isoformat()})
        else:
            self.ledger.execute(CompleteOrder(order, at=at), Actor("sven", "supervisor", "api"))

    def sync(self) -> SyncSummary:
        """One inbound pass: Tryton's plan into the ledger."""
        return tryton_source.sync(self.config.get("tryton"), self.ledger)

    def open_conflicts(self, order: str) -> dict[str, Any]:
        rows = self.get(
            "sven", "/conflicts", open_only=True, order_no=order,
            wait_for_position=self.ledger.position(),
        )  # fmt: skip
        return {r["field"]: r for r in rows}

    def destination(self) -> Any:
        return self.get("sven", f"/writeback/destinations/{DEST}")

    # -- what Tryton holds ------------------------------------------------------------------

    def production(self, number: str) -> dict[str, Any]:
        return self.seed.read_production(self.seed.id_of(number))

    def steps(self, number: str) -> dict[int, list[dict[str, Any]]]:
        """Works of the production by routing step sequence (a re-released step has two)."""
        out: dict[int, list[dict[str, Any]]] = {}
        for w in self.seed.works(self.seed.id_of(number)):
            out.setdefault(int(w["sequence"]), []).append(w)
        return out

    def cycles(self, number: str) -> dict[int, list[tuple[str, float]]]:
        """(state, seconds) of every cycle of each step, in creation order."""
        out: dict[int, list[tuple[str, float]]] = {}
        for seq, works in self.steps(number).items():
            rows = [c for w in works for c in self.seed.cycles(int(w["id"]))]
            rows.sort(key=lambda c: int(c["id"]))
            out[seq] = [
                (c["state"], round(c["duration"].total_seconds(), 1) if c["duration"] else -1.0)
                for c in rows
            ]
        return out

    def output(self, number: str) -> float:
        """The good output: output moves not sent to the lost-and-found (scrap) location."""
        prod = self.production(number)
        moves = self.seed.c.read(
            "stock.move", list(prod["outputs"]), ["quantity", "state", "to_location.type"]
        )
        return sum(
            float(m["quantity"])
            for m in moves
            if m["state"] != "cancelled" and m["to_location."]["type"] != "lost_found"
        )

    def drain(self) -> dict[str, int | str]:
        return self.pump.run_once()


@pytest.fixture
def floor(
    server: TrytonServer,
    plant: Plant,
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Floor]:
    """The API and the pump on a fresh ledger (SQLite, then PostgreSQL), Tryton as the ERP."""
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    cfg = plant_config(server, **getattr(request, "param", {"cycles": "segment"}))
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(write_config(tmp_path / "fl.toml", cfg)))
    settings = ApiSettings(database_url=backend.url, default_integration="tryton")  # type: ignore[arg-type]
    app = create_app(settings)
    with TestClient(app) as client, server.admin_client() as c:
        runtime = app.state.runtime
        tokens = {
            name: runtime.tokens.create(name, role, None)[1]
            for name, role in (("olga", "operator"), ("sven", "supervisor"))
        }
        ledger = runtime.open().ledger
        pump = Pump(ledger, cfg)
        try:
            yield Floor(client, tokens, ledger, cfg, pump, TrytonSeed(c), plant)
        finally:
            pump.close()


def replan(seed: TrytonSeed, number: str, quantity: float) -> None:
    """A planner changes a released (possibly running) production: back to draft, edit,
    release again — Tryton keeps works that have cycles and creates the others anew."""
    pid = seed.id_of(number)
    if seed.read_production(pid)["state"] in ("assigned", "running"):
        seed.c.button("production", "wait", [pid])
    seed.requantify(pid, quantity)


def test_a_tryton_production_is_worked_on_the_floor_and_written_back_exactly_once(
    floor: Floor, server: TrytonServer
) -> None:
    seed, plant = floor.seed, floor.plant
    a = seed.released_production(plant, "P-100", 10)  # worked straight through
    b = seed.released_production(plant, "P-200", 8)  # quantity changed while running
    c = seed.released_production(plant, "P-100", 5, routing="2-step")  # cancelled while running
    first = floor.sync()
    assert {a, b, c} <= set(first.released)

    # -- the floor starts; Tryton sees the production running and a running cycle per work
    for order in (a, b, c):
        floor.act(order, "10", "start", 0)
    assert isinstance(floor.drain()[DEST], int)
    assert floor.production(a)["state"] == "running"
    assert floor.steps(a)[10][0]["state"] == "running"
    assert floor.cycles(a)[10] == [("running", -1.0)]

    # -- A: pause, resume, complete; the other operations; the order completes
    floor.act(a, "10", "quantities", 4, good=10)
    floor.act(a, "10", "pause", 5, reason_code="tooling")
    floor.drain()
    assert floor.cycles(a)[10] == [("done", 300.0)]
    floor.act(a, "10", "resume", 7)
    floor.act(a, "10", "complete", 17)
    floor.act(a, "20", "start", 18)
    floor.act(a, "20", "quantities", 19, good=10)
    floor.act(a, "20", "complete", 20)
    floor.act(a, "30", "start", 21)
    floor.act(a, "30", "results", 21.5, passed=True, serial="SN-1")
    floor.act(a, "30", "quantities", 22, good=9, scrap=1, scrap_reason="burr")
    floor.act(a, "30", "complete", 22)
    floor.complete_order(a, 23)

    # -- B: the planner raises the quantity of the running order in Tryton
    replan(seed, b, 12)
    assert len(floor.steps(b)[10]) == 2  # Tryton kept the worked step and made a new one
    summary = floor.sync()
    assert b in summary.conflicts
    conflict = floor.open_conflicts(b)["quantity"]
    assert (conflict["erp_value"], conflict["floor_value"]) == ("12", "8")
    status_b = floor.get("olga", f"/orders/{b}/status", wait_for_position=floor.ledger.position())
    assert status_b["open_conflicts"] == 1 and float(status_b["quantity"]) == 8
    floor.post("sven", f"/conflicts/{b}/quantity/resolution", {"resolution": "accept_erp"})
    assert floor.open_conflicts(b) == {}
    floor.act(b, "10", "pause", 2, reason_code="material")
    floor.act(b, "10", "resume", 3)
    floor.act(b, "10", "complete", 6)
    floor.act(b, "20", "start", 7)
    floor.act(b, "20", "quantities", 9, good=12)
    floor.act(b, "20", "complete", 9)
    floor.act(b, "30", "start", 10)
    floor.act(b, "30", "quantities", 11, good=12)
    floor.act(b, "30", "complete", 11)
    floor.complete_order(b, 12)

    # -- C: cancelled in Tryton while running on the floor: a conflict; the floor goes on
    seed.cancel(seed.id_of(c))
    assert c in floor.sync().conflicts
    assert floor.open_conflicts(c)["status"]["erp_value"] == "cancelled"
    floor.act(c, "10", "pause", 4, reason_code="cancelled")
    floor.act(c, "20", "start", 5)  # recorded, but Tryton will not take it
    floor.drain()

    assert floor.production(a)["state"] == "done"
    assert {w[0]["state"] for w in floor.steps(a).values()} == {"done"}
    assert floor.cycles(a) == {
        10: [("done", 300.0), ("done", 600.0)],
        20: [("done", 120.0)],
        30: [("done", 60.0)],
    }
    assert floor.output(a) == 9.0  # the good quantity of the last operation

    assert floor.production(b)["state"] == "done" and floor.output(b) == 12.0
    b_cycles = floor.cycles(b)
    # step 10 ran twice: across the change (on the kept work), then on the new work
    assert b_cycles[10] == [("done", 120.0), ("done", 180.0)]
    assert [len(w["cycles"]) for w in floor.steps(b)[10]] == [1, 1]
    assert b_cycles[20] == [("done", 120.0)] and b_cycles[30] == [("done", 60.0)]
    assert {w["state"] for ws in floor.steps(b).values() for w in ws} == {"done"}

    # C: the open run's time reached Tryton; the start after the cancellation is parked
    assert floor.production(c)["state"] == "cancelled"
    assert floor.cycles(c)[10] == [("done", 240.0)]
    (parked,) = floor.destination()["parked"]
    assert parked["order_no"] == c and "cancelled" in parked["reason"]
    floor.post("sven", f"/conflicts/{c}/status/resolution", {"resolution": "accept_erp"})
    floor.post("sven", f"/writeback/destinations/{DEST}/parked/{c}/skip")
    floor.drain()
    status = floor.destination()
    assert status["parked"] == [] and status["backlog"] == 0 and status["last_error"] is None

    # -- D: Tryton goes down mid-flight; the floor keeps recording; the backlog drains once
    before_d = floor.ledger.position()
    d = seed.released_production(plant, "P-200", 4, routing="2-step")
    assert d in floor.sync().released
    floor.act(d, "10", "start", 30)
    floor.drain()
    server.stop()
    try:
        floor.act(d, "10", "pause", 31, reason_code="break")
        floor.act(d, "10", "resume", 33)
        floor.act(d, "10", "quantities", 34, good=4)
        floor.act(d, "10", "complete", 35)
        floor.act(d, "20", "start", 36)
        floor.act(d, "20", "quantities", 38, good=4)
        floor.act(d, "20", "complete", 38)
        floor.complete_order(d, 39)
        assert str(floor.drain()[DEST]).startswith("error")
        status = floor.destination()
        assert status["backlog"] >= 8 and "TrytonUnavailable" in (status["last_error"] or "")
        assert status["parked"] == []
    finally:
        server.start()
    # a crash between creating a cycle and marking it left an unmarked draft cycle behind
    (work20,) = floor.steps(d)[20]
    seed.c.create("production.work.cycle", [{"work": int(work20["id"])}])
    floor.pump.get(DEST).next_attempt = 0.0
    floor.drain()
    assert floor.destination()["backlog"] == 0
    expected = {
        a: floor.cycles(a),
        b: floor.cycles(b),
        c: floor.cycles(c),
        d: {10: [("done", 60.0), ("done", 120.0)], 20: [("done", 120.0)]},
    }
    assert floor.cycles(d) == expected[d]
    assert floor.production(d)["state"] == "done" and floor.output(d) == 4.0

    # -- the pump "crashes" after sending D's messages but before recording its position
    svc = WritebackService(floor.ledger, floor.config)
    try:
        svc.replay(DEST, before_d + 1)
        assert floor.destination()["backlog"] == 9  # D's floor events, sent again
        floor.drain()
        assert floor.destination()["backlog"] == 0 and floor.destination()["parked"] == []
        assert {o: floor.cycles(o) for o in expected} == expected

        # -- a supervisor replays everything: nothing doubles; Tryton refuses C's start again,
        # -- and the supervisor's recorded skip of that message (an event in the replayed log)
        # -- applies again: nothing is parked, nothing waits
        svc.replay(DEST, 1)
        floor.drain()
        assert floor.destination()["parked"] == [] and floor.destination()["backlog"] == 0
    finally:
        svc.close()
    assert {o: floor.cycles(o) for o in expected} == expected
    assert (floor.output(a), floor.output(b), floor.output(d)) == (9.0, 12.0, 4.0)
    assert {floor.production(o)["state"] for o in (a, b, d)} == {"done"}


# -- what an ERP team signs off: least privilege, one cycle per run, who and when, scrap, lots,
# -- reservations, ERP-side closing, sessions ---------------------------------------------

RUN = {"cycles": "run", "employees": {"olga": "Olga Meyer", "sven": "Sven Berg"}}


def notes(seed: TrytonSeed, model: str, rid: int) -> list[str]:
    """The ir.note messages on a Tryton record, oldest first (markers left out)."""
    rows = seed.c.search_read(
        "ir.note", [("resource", "=", f"{model},{rid}")], ["id", "message"], order=[("id", "ASC")]
    )
    return [str(r["message"]) for r in rows if not str(r["message"]).startswith("floorledger:")]


def tryton_records(seed: TrytonSeed, number: str) -> dict[str, Any]:
    """What Tryton holds for a production: works, cycles (duration, operator, notes), moves
    (incl. scrap and lots) and the production's notes — as an ERP user would look at it."""
    pid = seed.id_of(number)
    prod = seed.c.read("production", [pid], ["number", "state", "quantity", "outputs"])[0]
    works = []
    for w in seed.works(pid):
        cycles = seed.c.search_read(
            "production.work.cycle",
            [("work", "=", int(w["id"]))],
            ["id", "state", "duration", "run_by.party.name", "done_by.party.name"],
            order=[("id", "ASC")],
        )
        works.append(
            {
                "sequence": w["sequence"],
                "operation": w["operation."]["name"],
                "work_center": w["work_center."]["name"],
                "state": w["state"],
                "cycles": [
                    {
                        "state": c["state"],
                        "seconds": c["duration"].total_seconds() if c["duration"] else None,
                        "run_by": ((c.get("run_by.") or {}).get("party.") or {}).get("name"),
                        "done_by": ((c.get("done_by.") or {}).get("party.") or {}).get("name"),
                        "notes": notes(seed, "production.work.cycle", int(c["id"])),
                    }
                    for c in cycles
                ],
                "notes": notes(seed, "production.work", int(w["id"])),
            }
        )
    moves = seed.c.read(
        "stock.move",
        list(prod["outputs"]),
        ["id", "quantity", "state", "to_location.name", "lot.number"],
    )
    return {
        "number": prod["number"],
        "state": prod["state"],
        "quantity": prod["quantity"],
        "works": works,
        "outputs": [
            {
                "quantity": m["quantity"],
                "state": m["state"],
                "to": m["to_location."]["name"],
                "lot": (m.get("lot.") or {}).get("number"),
                "notes": notes(seed, "stock.move", int(m["id"])),
            }
            for m in moves
        ],
        "notes": notes(seed, "production", pid),
    }


def open_warnings(floor: Floor, order: str) -> set[str]:
    rows = floor.get(
        "sven", "/warnings", order_no=order, relevant_only=True,
        wait_for_position=floor.ledger.position(),
    )  # fmt: skip
    return {r["code"] for r in rows}


def test_the_connector_logs_in_as_a_user_with_only_the_production_and_stock_groups(
    server: TrytonServer, plant: Plant
) -> None:
    with server.admin_client() as admin:
        (user,) = admin.search_read(
            "res.user", [("login", "=", server.user)], ["login", "groups.name"]
        )
    assert server.user != server.admin_user
    assert sorted(g["name"] for g in user["groups."]) == ["Production", "Stock"]
    with server.client() as c:
        assert c.search_read("production", [], ["id"], limit=1) is not None
        with pytest.raises(TrytonFault) as refused:
            c.create("res.user", [{"name": "x", "login": "x"}])
    assert refused.value.is_user_error


@pytest.mark.parametrize("floor", [RUN], indirect=True)
def test_an_order_worked_with_pauses_scrap_and_serials_reaches_tryton_with_operator_times_and_lots(
    floor: Floor, tmp_path: Path
) -> None:
    seed, plant = floor.seed, floor.plant
    n = seed.released_production(plant, "P-100", 3, routing="2-step")
    over = seed.released_production(plant, "P-200", 2, routing="2-step")
    assert {n, over} <= set(floor.sync().released)

    floor.act(n, "10", "start", 0)
    floor.act(n, "10", "pause", 5, reason_code="tooling")
    floor.act(n, "10", "resume", 7)
    floor.act(n, "10", "quantities", 9, good=3, scrap=1, scrap_reason="burr")
    floor.act(n, "10", "complete", 10)
    floor.act(n, "20", "start", 11)
    floor.act(n, "20", "results", 12, passed=True, serial="SN-1")
    floor.act(n, "20", "results", 12.5, passed=True, serial="SN-2")
    floor.act(n, "20", "quantities", 13, good=2)
    floor.act(n, "20", "complete", 14)
    floor.complete_order(n, 15)
    for op in ("10", "20"):
        floor.act(over, op, "start", 20)
        floor.act(over, op, "quantities", 21, good=3)
        floor.act(over, op, "complete", 22)
    floor.complete_order(over, 23)
    floor.drain()
    assert [p["reason"] for p in floor.destination()["parked"]] == []
    assert floor.destination()["backlog"] == 0

    rec = tryton_records(seed, n)
    (tmp_path / "tryton-records.json").write_text(json.dumps(rec, indent=1, default=str))
    if os.environ.get("FLOORLEDGER_TRYTON_DUMP"):
        Path(os.environ["FLOORLEDGER_TRYTON_DUMP"]).write_text(
            json.dumps(rec, indent=1, default=str)
        )
    assert rec["state"] == "done"
    cut, assemble = rec["works"]
    # one cycle per operation run: 5 + 3 minutes worked, the 2-minute pause left out
    (cycle,) = cut["cycles"]
    assert (cycle["state"], cycle["seconds"]) == ("done", 480.0)
    assert (cycle["run_by"], cycle["done_by"]) == ("Olga Meyer", "Olga Meyer")
    assert [t.split(" UTC")[0].split(": ", 1)[1] for t in cycle["notes"]] == [
        f"started {(T0).strftime('%Y-%m-%d %H:%M:%S')}",
        f"paused (reason: tooling) {(T0 + dt.timedelta(minutes=5)).strftime('%Y-%m-%d %H:%M:%S')}",
        f"resumed {(T0 + dt.timedelta(minutes=7)).strftime('%Y-%m-%d %H:%M:%S')}",
        f"completed {(T0 + dt.timedelta(minutes=10)).strftime('%Y-%m-%d %H:%M:%S')}",
    ]
    assert all(t.endswith("by olga (operator)") for t in cycle["notes"])
    assert [(c["seconds"], c["run_by"]) for c in assemble["cycles"]] == [(180.0, "Olga Meyer")]
    # good output split into one move per serial; scrap its own move to the waste location
    good = sorted((o["lot"], o["quantity"]) for o in rec["outputs"] if o["to"] != "Lost and Found")
    assert good == [("SN-1", 1.0), ("SN-2", 1.0)]
    (scrap,) = [o for o in rec["outputs"] if o["to"] == "Lost and Found"]
    assert scrap["quantity"] == 1.0 and scrap["state"] == "done"
    assert scrap["notes"][0].startswith("Scrap: 1 (reason: burr)")
    assert any("passed; serial SN-1" in t for t in rec["notes"])

    over_rec = tryton_records(seed, over)
    assert [o["quantity"] for o in over_rec["outputs"]] == [3.0]
    assert any(t.startswith("Over-production: 3 good against 2 planned") for t in over_rec["notes"])


@pytest.mark.parametrize("floor", [RUN], indirect=True)
def test_a_refused_start_leaves_no_reservation_behind(floor: Floor) -> None:
    seed, plant = floor.seed, floor.plant
    steel = seed.component(f"STEEL-{secrets.token_hex(3)}", "Steel", plant.unit)
    seed.stock(plant, steel, 673)
    pid = seed.production(plant, "P-100", 1200, routing="2-step", inputs=[(steel, 1200)])
    n = seed.release(pid)
    floor.sync()

    floor.act(n, "10", "start", 0)
    floor.drain()

    (parked,) = floor.destination()["parked"]
    assert parked["order_no"] == n and "could not reserve" in parked["reason"]
    prod = seed.c.read("production", [pid], ["state", "inputs"])[0]
    moves = seed.c.read("stock.move", list(prod["inputs"]), ["state", "quantity"])
    assert prod["state"] == "waiting"
    assert {m["state"] for m in moves} == {"draft"}  # nothing stays reserved
    assert sum(m["quantity"] for m in moves) == 1200.0


@pytest.mark.parametrize("floor", [RUN], indirect=True)
def test_a_production_closed_in_tryton_while_paused_is_warned_and_one_skip_clears_its_writeback(
    floor: Floor,
) -> None:
    seed, plant = floor.seed, floor.plant
    n = seed.released_production(plant, "P-200", 2, routing="2-step")
    floor.sync()
    floor.act(n, "10", "start", 0)
    floor.act(n, "10", "pause", 3, reason_code="material")
    floor.drain()
    # the planner closes the production in Tryton: times both works, stops them, done
    pid = seed.id_of(n)
    w10, w20 = (int(w["id"]) for w in seed.works(pid))
    seed.c.button("production.work", "start", [w20])
    seed.c.button("production.work", "stop", [w10, w20])
    seed.c.button("production", "do", [pid])

    summary = floor.sync()
    assert any("closed_in_erp" in w for w in summary.warnings)
    assert "closed_in_erp" in open_warnings(floor, n)
    assert not any("closed_in_erp" in w for w in floor.sync().warnings)  # warned once

    floor.act(n, "10", "resume", 5)
    floor.act(n, "10", "complete", 8)
    floor.act(n, "20", "start", 9)
    floor.act(n, "20", "complete", 10)
    floor.complete_order(n, 11)
    floor.drain()
    (parked,) = floor.destination()["parked"]
    assert parked["order_no"] == n and "done" in parked["reason"]
    # the floor completed the order; the parked message is still a warning
    assert "writeback_parked" in open_warnings(floor, n)

    floor.post("sven", f"/writeback/destinations/{DEST}/parked/{n}/skip")
    floor.drain()
    status = floor.destination()
    assert status["parked"] == [] and status["backlog"] == 0
    assert "writeback_parked" not in open_warnings(floor, n)


def test_a_production_taken_back_reset_to_draft_and_released_again_is_warned_and_cleared(
    floor: Floor,
) -> None:
    seed, plant = floor.seed, floor.plant
    n = seed.released_production(plant, "P-100", 4, routing="2-step")
    floor.sync()
    floor.act(n, "10", "start", 0)
    floor.drain()
    floor.sync()  # a poll sees it running
    pid = seed.id_of(n)
    seed.c.button("production", "wait", [pid])  # the planner takes it back from running
    assert any("state_changed_in_erp" in w for w in floor.sync().warnings)
    seed.reset_to_draft(pid)
    floor.sync()
    assert "not_released_in_erp" in open_warnings(floor, n)

    seed.release(pid)
    summary = floor.sync()

    assert any("released_in_erp" in w for w in summary.warnings)
    assert open_warnings(floor, n) == {"state_changed_in_erp"}


@pytest.mark.parametrize("floor", [RUN], indirect=True)
def test_a_session_lost_in_the_middle_of_a_drain_is_retried_not_parked(
    floor: Floor, server: TrytonServer
) -> None:
    seed, plant = floor.seed, floor.plant
    orders = [seed.released_production(plant, "P-100", 1, routing="2-step") for _ in range(2)]
    floor.sync()
    transport = floor.pump.get(DEST).transport
    lost = LosesSession(every=7)
    transport._client = TrytonClient(  # type: ignore[attr-defined]
        server.url, server.database, server.user, server.password, transport=lost
    )
    for order in orders:
        floor.act(order, "10", "start", 0)
        floor.act(order, "10", "pause", 1, reason_code="break")
        floor.act(order, "10", "resume", 2)
        floor.act(order, "10", "complete", 3)
    floor.drain()
    # the session-sweeping sync of the same user in between (one session per process)
    floor.sync()
    floor.drain()

    assert lost.logged_out >= 2
    status = floor.destination()
    assert status["parked"] == [] and status["backlog"] == 0
    for order in orders:
        (cycle,) = tryton_records(seed, order)["works"][0]["cycles"]
        assert (cycle["state"], cycle["seconds"]) == ("done", 120.0)  # 1 + 1 minutes run


class LosesSession(httpx.HTTPTransport):
    """Ends the caller's Tryton session before every n-th model call (as an expiry or another
    process's session sweep does), so the call meets a dead session mid-drain."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self.calls = 0
        self.logged_out = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        auth = request.headers.get("Authorization")
        if auth and str(body.get("method", "")).startswith("model."):
            self.calls += 1
            if self.calls % self.every == 0:
                logout = httpx.Request(
                    "POST",
                    request.url,
                    headers={"Authorization": auth, "Content-Type": "application/json"},
                    content=json.dumps({"id": 0, "method": "common.db.logout", "params": []}),
                )
                super().handle_request(logout).read()
                self.logged_out += 1
        return super().handle_request(request)


def test_history_and_verification_name_the_tryton_integration_when_none_is_given(
    server: TrytonServer,
    plant: Plant,
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    cfg = plant_config(server)
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(write_config(tmp_path / "fl.toml", cfg)))
    app = create_app(ApiSettings(database_url=backend.url, default_integration="erp"))  # type: ignore[arg-type]
    with TestClient(app) as client, server.admin_client() as c:
        runtime = app.state.runtime
        token = runtime.tokens.create("ada", "auditor", None)[1]
        ledger = runtime.open().ledger
        number = TrytonSeed(c).released_production(plant, "P-100", 1, routing="2-step")
        tryton_source.sync(cfg.get("tryton"), ledger)
        for path in (f"/orders/{number}/history", f"/orders/{number}/verification"):
            r = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            assert r.json()["integration"] == "tryton"


def test_a_work_timed_in_tryton_by_hand_is_warned_once(floor: Floor) -> None:
    seed, plant = floor.seed, floor.plant
    n = seed.released_production(plant, "P-100", 2, routing="2-step")
    floor.sync()
    floor.act(n, "10", "start", 0)
    floor.drain()  # floorledger's own cycle on work 10: no warning for it
    assert not any("work_changed_in_erp" in w for w in floor.sync().warnings)

    w20 = int(seed.works(seed.id_of(n))[1]["id"])
    seed.c.button("production.work", "start", [w20])  # someone times Assemble in Tryton

    assert any("work_changed_in_erp" in w for w in floor.sync().warnings)
    assert not any("work_changed_in_erp" in w for w in floor.sync().warnings)
    assert "work_changed_in_erp" in open_warnings(floor, n)
