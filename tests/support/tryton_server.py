"""A throwaway Tryton server for tests, and helpers that seed it like a planner would.

``TrytonServer.create()`` builds a fresh SQLite database with the production, routing and
work modules (about 15 s), ``start()`` runs ``trytond`` on a free loopback port, and
``stop()`` / ``restart()`` let a test simulate an ERP outage and its recovery.

``TrytonSeed`` talks JSON-RPC (through ``adapters.tryton.client``) to set up a company,
products, work centres, a routing and productions, and to move productions through their
states (release, reset to draft, change quantity, cancel).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.tryton.client import TrytonClient

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MODULES = ("production_work", "production_routing", "stock_lot")

# The Tryton groups the integration user gets: the least the connector needs (docs/tryton.md).
INTEGRATION_GROUPS = ("Production", "Stock")


class TrytonUnavailableForTests(RuntimeError):
    """trytond could not be installed or started on this machine."""


def _bin_dir() -> Path:
    """Where trytond and trytond-admin are: FLOORLEDGER_TRYTOND_BIN, else this venv's bin."""
    override = os.environ.get("FLOORLEDGER_TRYTOND_BIN")
    return Path(override) if override else Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TrytonServer:
    """One trytond process serving one throwaway database on 127.0.0.1."""

    workdir: Path
    database: str = "floorledger"
    user: str = "floorledger"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The server's base URL; the database's JSON-RPC endpoint is url/<db>/rpc/."""
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "trytond.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "trytond.log"

    def _write_config(self) -> None:
        (self.workdir / "db").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[database]\n"
            "uri = sqlite://\n"
            f"path = {self.workdir / 'db'}\n"
            "list = False\n"
            "[web]\n"
            f"listen = {self.host}:{self.port}\n"
            "[session]\n"
            "timeout = 3600\n"
            "max_attempt = 100\n"
            "[password]\n"
            "length = 8\n"
        )

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TRYTONPASSFILE"] = str(self.workdir / "admin.pass")
        env.pop("TRYTOND_CONFIG", None)
        return env

    @classmethod
    def create(cls, workdir: Path, database: str = "floorledger") -> TrytonServer:
        """Install a fresh database with the production modules (no server yet)."""
        server = cls(workdir=workdir, database=database)
        server._write_config()
        (workdir / "admin.pass").write_text(server.admin_password)
        (workdir / "db" / f"{database}.sqlite").touch()
        admin = _bin_dir() / "trytond-admin"
        if not admin.exists():
            raise TrytonUnavailableForTests(f"{admin} is not installed")
        cmd = [
            str(admin),
            "-c",
            str(server.config_path),
            "-d",
            database,
            "--all",
            "-u",
            *MODULES,
            "--activate-dependencies",
            "--email",
            "admin@example.com",
        ]
        with open(workdir / "trytond-admin.log", "wb") as out:
            done = subprocess.run(
                cmd, env=server._env(), stdout=out, stderr=subprocess.STDOUT, timeout=240
            )
        if done.returncode != 0:
            tail = (workdir / "trytond-admin.log").read_text(errors="replace")[-2000:]
            raise TrytonUnavailableForTests(f"trytond-admin failed:\n{tail}")
        return server

    def start(self, timeout: float = 30.0) -> None:
        """Run trytond and wait until it answers JSON-RPC."""
        if self.running:
            return
        trytond = _bin_dir() / "trytond"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [str(trytond), "-c", str(self.config_path), "-d", self.database],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise TrytonUnavailableForTests(f"trytond exited early:\n{tail}")
            if self.answers():
                return
            time.sleep(0.2)
        self.stop()
        raise TrytonUnavailableForTests(f"trytond did not answer on {self.url} in {timeout}s")

    def answers(self) -> bool:
        """True when the server answers a JSON-RPC request."""
        try:
            r = httpx.post(
                f"{self.url}/rpc/",
                json={"id": 0, "method": "common.server.version", "params": []},
                timeout=1.0,
            )
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (an ERP outage); the database is kept."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Start the server again on the same port and database (recovery after an outage)."""
        self.stop()
        self.start()

    def client(self, **kw: Any) -> TrytonClient:
        """A JSON-RPC client logged in as the least-privilege integration user."""
        return TrytonClient(self.url, self.database, self.user, self.password, **kw)

    def admin_client(self, **kw: Any) -> TrytonClient:
        """A JSON-RPC client logged in as admin: for seeding and planner actions only."""
        return TrytonClient(self.url, self.database, self.admin_user, self.admin_password, **kw)

    def create_integration_user(self, groups: Sequence[str] = INTEGRATION_GROUPS) -> int:
        """The user floorledger logs in as: only ``groups``, working for the company."""
        with self.admin_client() as admin:
            seed = TrytonSeed(admin)
            company, _ = seed.company()
            group_ids = [
                int(r["id"])
                for r in admin.search_read("res.group", [("name", "in", list(groups))], ["id"])
            ]
            if len(group_ids) != len(groups):
                raise TrytonUnavailableForTests(f"Tryton lacks one of the groups {groups}")
            found = admin.search_read("res.user", [("login", "=", self.user)], ["id"])
            values: dict[str, Any] = {
                "groups": [["add", group_ids]],
                "companies": [["add", [company]]],
                "company": company,
                "password": self.password,
            }
            if found:
                user_id = int(found[0]["id"])
                admin.write("res.user", [user_id], values)
                return user_id
            values.update(name="floorledger integration", login=self.user)
            return admin.create("res.user", [values])[0]


def tryton_server_session(
    base_dir: Path | None = None,
) -> Iterator[TrytonServer]:
    """Generator for a session fixture: a running server; skips (or fails in CI) if impossible.

    Use as::

        @pytest.fixture(scope="session")
        def tryton_server() -> Iterator[TrytonServer]:
            yield from tryton_server_session()
    """
    workdir = Path(tempfile.mkdtemp(prefix="floorledger-tryton-", dir=base_dir))
    server: TrytonServer | None = None
    try:
        try:
            server = TrytonServer.create(workdir)
            server.start()
            server.create_integration_user()
        except (TrytonUnavailableForTests, OSError, subprocess.SubprocessError) as exc:
            message = f"Tryton server could not be started: {exc}"
            if IN_CI:
                pytest.fail(message + " (CI requires it)")
            pytest.skip(message)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- seeding -------------------------------------------------------------------------------


@dataclass
class Plant:
    """The master data a planner has set up: ids of the records the tests use."""

    company: int
    currency: int
    unit: int
    warehouse: int
    storage: int
    production_location: int
    work_centres: dict[str, int]
    operations: dict[str, int]
    products: dict[str, int]
    boms: dict[str, int]
    routings: dict[str, int]
    employees: dict[str, int] = field(default_factory=dict)
    waste: int | None = None
    components: dict[str, int] = field(default_factory=dict)


class TrytonSeed:
    """Planner actions over JSON-RPC: master data and the production life cycle."""

    def __init__(self, client: TrytonClient) -> None:
        self.c = client

    # master data -------------------------------------------------------------------------

    def company(self, name: str = "Floorledger Test Works") -> tuple[int, int]:
        """The company (created once) with its EUR currency; the admin user works for it."""
        found = self.c.search_read("company.company", [], ["id", "currency"], limit=1)
        if found:
            return int(found[0]["id"]), int(found[0]["currency"])
        currency = self.c.create(
            "currency.currency",
            [
                {
                    "name": "Euro",
                    "code": "EUR",
                    "symbol": "€",
                    "rounding": Decimal("0.01"),
                    "digits": 2,
                }
            ],
        )[0]
        party = self.c.create("party.party", [{"name": name}])[0]
        company = self.c.create("company.company", [{"party": party, "currency": currency}])[0]
        user_id = self.c.user_id
        assert user_id is not None
        self.c.write("res.user", [user_id], {"companies": [["add", [company]]], "company": company})
        self.c.refresh_context()
        return company, currency

    def unit(self, symbol: str = "u") -> int:
        """The unit of measure with this symbol (Tryton's 'Unit' is 'u')."""
        rows = self.c.search_read("product.uom", [("symbol", "=", symbol)], ["id"], limit=1)
        return int(rows[0]["id"])

    def warehouse(self) -> tuple[int, int, int]:
        """The default warehouse, its storage location and its production location."""
        rows = self.c.search_read(
            "stock.location",
            [("type", "=", "warehouse")],
            ["id", "storage_location", "production_location"],
            limit=1,
        )
        wh = rows[0]
        return int(wh["id"]), int(wh["storage_location"]), int(wh["production_location"])

    def product(self, code: str, name: str, unit: int) -> int:
        """A producible goods product whose code is the floor's part number."""
        template = self.c.create(
            "product.template",
            [
                {
                    "name": name,
                    "type": "goods",
                    "default_uom": unit,
                    "producible": True,
                    "list_price": Decimal("10"),
                    "code": code,
                    "products": [["create", [{}]]],
                }
            ],
        )[0]
        rows = self.c.search_read("product.product", [("template", "=", template)], ["id"])
        return int(rows[0]["id"])

    def work_centre_category(self, name: str) -> int:
        """A kind of work centre (e.g. saws); operations name the kind they need."""
        return self.c.create("production.work.center.category", [{"name": name}])[0]

    def work_centre(
        self,
        name: str,
        company: int,
        warehouse: int,
        *,
        parent: int | None = None,
        category: int | None = None,
    ) -> int:
        """A work centre (machine or cell) in the warehouse, optionally inside a line."""
        values: dict[str, Any] = {"name": name, "company": company, "warehouse": warehouse}
        if parent is not None:
            values["parent"] = parent
        if category is not None:
            values["category"] = category
        return self.c.create("production.work.center", [values])[0]

    def operation(self, name: str, category: int | None = None) -> int:
        """A routing operation (what is done at a step) needing a kind of work centre."""
        values: dict[str, Any] = {"name": name}
        if category is not None:
            values["work_center_category"] = category
        return self.c.create("production.routing.operation", [values])[0]

    def bom(self, name: str, product: int, unit: int) -> int:
        """A bill of materials that makes one of the product."""
        return self.c.create(
            "production.bom",
            [
                {
                    "name": name,
                    "outputs": [["create", [{"product": product, "unit": unit, "quantity": 1.0}]]],
                }
            ],
        )[0]

    def routing(self, name: str, operations: Sequence[int], boms: Sequence[int]) -> int:
        """A routing whose steps are the operations in order (sequence 10, 20, 30, …)."""
        steps = [{"operation": op, "sequence": 10 * (i + 1)} for i, op in enumerate(operations)]
        return self.c.create(
            "production.routing",
            [
                {
                    "name": name,
                    "steps": [["create", steps]],
                    "boms": [["add", list(boms)]],
                }
            ],
        )[0]

    def plant(self) -> Plant:
        """A plant: company, two products with BOMs, a line of three work centres, routings.

        Each operation needs its own kind of work centre, so Tryton gives each work of a
        production on LINE-1 the line's machine of that kind (Cut → SAW-01, Mill → MILL-02,
        Assemble → ASSY-03).
        """
        company, currency = self.company()
        unit = self.unit()
        warehouse, storage, production_location = self.warehouse()
        line = self.work_centre("LINE-1", company, warehouse)
        centres = {"LINE-1": line}
        operations = {}
        for op, centre in (("Cut", "SAW-01"), ("Mill", "MILL-02"), ("Assemble", "ASSY-03")):
            category = self.work_centre_category(centre.split("-")[0])
            centres[centre] = self.work_centre(
                centre, company, warehouse, parent=line, category=category
            )
            operations[op] = self.operation(op, category)
        products = {
            "P-100": self.product("P-100", "Bracket", unit),
            "P-200": self.product("P-200", "Housing", unit),
        }
        boms = {code: self.bom(f"BOM {code}", pid, unit) for code, pid in products.items()}
        employees = {name: self.employee(name, company) for name in ("Olga Meyer", "Sven Berg")}
        waste = self.waste_location(warehouse)
        routings = {
            "3-step": self.routing(
                "Cut-Mill-Assemble", list(operations.values()), list(boms.values())
            ),
            "2-step": self.routing(
                "Cut-Assemble", [operations["Cut"], operations["Assemble"]], list(boms.values())
            ),
        }
        return Plant(
            company=company,
            currency=currency,
            unit=unit,
            warehouse=warehouse,
            storage=storage,
            production_location=production_location,
            work_centres=centres,
            operations=operations,
            products=products,
            boms=boms,
            routings=routings,
            employees=employees,
            waste=waste,
        )

    def employee(self, name: str, company: int) -> int:
        """An employee of the company (an operator the floor maps to Tryton)."""
        party = self.c.create("party.party", [{"name": name}])[0]
        return self.c.create("company.employee", [{"party": party, "company": company}])[0]

    def waste_location(self, warehouse: int) -> int:
        """Make the warehouse's lost-and-found location its waste location (for scrap)."""
        row = self.c.read("stock.location", [warehouse], ["lost_found_location"])[0]
        lost = int(row["lost_found_location"])
        self.c.write("stock.location", [warehouse], {"waste_locations": [["add", [lost]]]})
        return lost

    def component(self, code: str, name: str, unit: int) -> int:
        """A purchasable component (an input material) with no stock."""
        template = self.c.create(
            "product.template",
            [
                {
                    "name": name,
                    "type": "goods",
                    "default_uom": unit,
                    "list_price": Decimal("1"),
                    "code": code,
                    "products": [["create", [{}]]],
                }
            ],
        )[0]
        rows = self.c.search_read("product.product", [("template", "=", template)], ["id"])
        return int(rows[0]["id"])

    def stock(self, plant: Plant, product: int, quantity: float) -> None:
        """Receive ``quantity`` of a product into storage (a done move from lost-and-found)."""
        lost = self.c.read("stock.location", [plant.warehouse], ["lost_found_location"])[0]
        move = self.c.create(
            "stock.move",
            [
                {
                    "product": product,
                    "unit": plant.unit,
                    "quantity": float(quantity),
                    "from_location": int(lost["lost_found_location"]),
                    "to_location": plant.storage,
                    "company": plant.company,
                }
            ],
        )[0]
        self.c.button("stock.move", "do", [move])

    # productions -------------------------------------------------------------------------

    def production(
        self,
        plant: Plant,
        part_no: str,
        quantity: float,
        *,
        routing: str = "3-step",
        work_centre: str = "LINE-1",
        planned_date: dt.date | None = None,
        reference: str | None = None,
        inputs: Sequence[tuple[int, float]] = (),
    ) -> int:
        """A draft production of the part with its routing, BOM, output and input moves."""
        product = plant.products[part_no]
        planned = planned_date or (dt.date.today() + dt.timedelta(days=7))
        values: dict[str, Any] = {
            "product": product,
            "bom": plant.boms[part_no],
            "routing": plant.routings[routing],
            "work_center": plant.work_centres[work_centre],
            "unit": plant.unit,
            "quantity": float(quantity),
            "planned_date": planned,
            "planned_start_date": planned,
            "company": plant.company,
            "warehouse": plant.warehouse,
            "location": plant.production_location,
            "outputs": [["create", [self._output(plant, product, quantity, planned)]]],
        }
        if inputs:
            values["inputs"] = [
                [
                    "create",
                    [
                        {
                            "product": p,
                            "unit": plant.unit,
                            "quantity": float(q),
                            "from_location": plant.storage,
                            "to_location": plant.production_location,
                            "company": plant.company,
                            "planned_date": planned,
                        }
                        for p, q in inputs
                    ],
                ]
            ]
        if reference:
            values["reference"] = reference
        return self.c.create("production", [values])[0]

    @staticmethod
    def _output(plant: Plant, product: int, quantity: float, planned: dt.date) -> dict[str, Any]:
        return {
            "product": product,
            "unit": plant.unit,
            "quantity": float(quantity),
            "from_location": plant.production_location,
            "to_location": plant.storage,
            "company": plant.company,
            "unit_price": Decimal(0),
            "currency": plant.currency,
            "planned_date": planned,
        }

    def release(self, production: int) -> str:
        """Release the production (draft → waiting); Tryton numbers it and creates its works."""
        self.c.button("production", "wait", [production])
        return self.number(production)

    def released_production(self, plant: Plant, part_no: str, quantity: float, **kw: Any) -> str:
        """Create and release a production; returns its number."""
        return self.release(self.production(plant, part_no, quantity, **kw))

    def number(self, production: int) -> str:
        """The production's number (the ERP order number)."""
        return str(self.c.read("production", [production], ["number"])[0]["number"])

    def id_of(self, number: str) -> int:
        """The id of the production with this number."""
        rows = self.c.search_read("production", [("number", "=", number)], ["id"], limit=1)
        return int(rows[0]["id"])

    def reset_to_draft(self, production: int) -> None:
        """Take a released production back to draft (Tryton unlocks quantity and routing)."""
        self.c.button("production", "draft", [production])

    def change_quantity(self, production: int, quantity: float) -> None:
        """Change a draft production's quantity, its output move following."""
        row = self.c.read("production", [production], ["outputs"])[0]
        self.c.write(
            "production",
            [production],
            {
                "quantity": float(quantity),
                "outputs": [["write", list(row["outputs"]), {"quantity": float(quantity)}]],
            },
        )

    def requantify(self, production: int, quantity: float) -> None:
        """What a planner does to change a released order: draft, edit, release again."""
        self.reset_to_draft(production)
        self.change_quantity(production, quantity)
        self.release(production)

    def cancel(self, production: int) -> None:
        """Cancel the production in the ERP."""
        self.c.button("production", "cancel", [production])

    def run(self, production: int) -> None:
        """Reserve materials and start the production (waiting → assigned → running)."""
        self.c.button("production", "assign_try", [production])
        self.c.button("production", "run", [production])

    # read back ---------------------------------------------------------------------------

    def read_production(self, production: int) -> dict[str, Any]:
        """The production's state, quantity, works and output moves."""
        return self.c.read(
            "production",
            [production],
            ["number", "state", "quantity", "works", "outputs", "routing", "work_center"],
        )[0]

    def works(self, production: int) -> list[dict[str, Any]]:
        """The production's works (one per routing step) in sequence."""
        return self.c.search_read(
            "production.work",
            [("production", "=", production)],
            ["id", "sequence", "operation.name", "work_center.name", "state", "cycles"],
            order=[("sequence", "ASC"), ("id", "ASC")],
        )

    def cycles(self, work: int) -> list[dict[str, Any]]:
        """A work's timed cycles."""
        return self.c.search_read(
            "production.work.cycle",
            [("work", "=", work)],
            ["id", "state", "duration"],
            order=[("id", "ASC")],
        )
