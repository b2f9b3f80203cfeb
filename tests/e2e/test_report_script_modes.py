"""The report script holds only rows of integrations in mode C or E: mode D writes back by
itself, so office staff must not key its rows a second time (issue #18)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import Backend
from tests.e2e.conftest import Api, an_erp_order, api_on

TOML = """
[[integrations]]
name = "{name}"
mode = "{mode}"

[integrations.inbound]
transport = "files"
format = "csv"
inbox = "{tmp}/{name}/in"
archive = "{tmp}/{name}/archive"
error = "{tmp}/{name}/error"
"""

TIMES = {"started_at": "2026-01-05T08:00:00Z", "ended_at": "2026-01-05T09:00:00Z", "good": "1"}


@pytest.fixture
def plant(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, int]]:
    """Integrations by hand (C), triggered (E) and automatic (D), one report on each."""
    config = tmp_path / "plant.toml"
    config.write_text("".join(TOML.format(name=n, mode=m, tmp=tmp_path) for n, m in MODES.items()))
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(config))
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", backend.url)
    with api_on(backend.url) as api:
        position = 0
        for name in MODES:
            pushed = api.post("erp-push", f"/erp/orders?integration={name}", an_erp_order(name))
            assert pushed.status_code == 200, pushed.text
            sent = api.post("olga", f"/orders/{name}/operations/10/reports", TIMES)
            assert sent.status_code == 200, sent.text
            position = sent.json()["position"]
        yield api, position


MODES = {"by-hand": "C", "triggered": "E", "automatic": "D"}


def test_the_report_script_route_leaves_out_mode_d_rows(plant: tuple[Api, int]) -> None:
    api, position = plant
    rows = api.get("sven", "/report-script", wait_for_position=position).json()
    assert sorted(r["integration"] for r in rows) == ["by-hand", "triggered"]
    listed = api.get("sven", "/report-script.csv", wait_for_position=position).text
    assert "automatic" not in listed and "by-hand" in listed


def test_the_report_script_command_leaves_out_mode_d_rows(plant: tuple[Api, int]) -> None:
    result = CliRunner().invoke(app, ["report-script", "--out", "-"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["integration"] for r in rows) == ["by-hand", "triggered"]
