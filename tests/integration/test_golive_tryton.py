"""The sandbox against a real Tryton server: it imports, plays the shift, captures the
writeback, and leaves Tryton as it was."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.config import parse_config
from adapters.golive.sandbox import Scenario, Step, run_sandbox
from tests.support.tryton_server import Plant, TrytonSeed, TrytonServer

pytestmark = pytest.mark.tryton
PASSWORD_ENV = "FL_TRYTON_GOLIVE_PASSWORD"


def test_the_sandbox_on_tryton_imports_and_captures_without_writing_to_tryton(
    server: TrytonServer, plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    conn = {
        "url": server.url,
        "database": server.database,
        "user": server.user,
        "password_env": PASSWORD_ENV,
    }
    config = parse_config(
        {
            "integrations": [
                {
                    "name": "tryton",
                    "mode": "D",
                    "inbound": {"transport": "tryton", **conn},
                    "outbound": {
                        "destinations": [{"name": "tryton-wb", "transport": "tryton", **conn}]
                    },
                }
            ]
        }
    )
    with server.client() as c:
        seed = TrytonSeed(c)
        number = seed.released_production(plant, "P-100", 4)
        works_before = seed.works(seed.id_of(number))
    steps = [
        Step(action="start", order=number, at_work_centre=None),
        Step(action="report", order=number, good=Decimal(4)),
        Step(action="complete", order=number),
    ]
    report = run_sandbox(config, Scenario(steps=steps))
    assert number in report.imported["tryton"]["released"]
    assert all(s["ok"] for s in report.steps), report.steps
    assert report.messages["tryton-wb"]["count"] >= 3
    [mapping] = report.mapping
    assert mapping["error"] is None and mapping["orders_seen"] >= 1
    with server.client() as c:
        seed = TrytonSeed(c)
        works_after = seed.works(seed.id_of(number))
        assert works_after == works_before
        assert all(seed.cycles(int(w["id"])) == [] for w in works_after)
