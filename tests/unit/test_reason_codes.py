"""Reason codes as master data: the integration file's tables and a CSV, labels, unknown codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import ConfigError, parse_config
from adapters.reasons import catalogue, read_csv

BASE = {
    "name": "erp",
    "mode": "C",
    "inbound": {"transport": "files", "format": "csv", "inbox": "in", "archive": "a", "error": "e"},
}


def test_reasons_come_from_the_file_and_a_csv_row_replaces_a_label(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("kind,code,label\nscrap,BURR,Burr (deburr by hand)\n")
    config = parse_config(
        {
            "integrations": [
                dict(
                    BASE,
                    reasons={
                        "stop": {"MAT": "Waiting for material"},
                        "scrap": {"BURR": "Burr"},
                        "csv": str(tmp_path / "r.csv"),
                    },
                )
            ]
        }
    )
    reasons = catalogue(config)
    assert reasons.label("erp", "scrap", "BURR") == "Burr (deburr by hand)"
    assert reasons.label("erp", "stop", "MAT") == "Waiting for material"
    assert reasons.label("erp", "stop", "NEW") == "NEW"  # unknown: shown as sent
    assert not reasons.is_known("erp", "stop", "NEW")
    assert reasons.is_known("other", "stop", "ANY")  # an integration listing none knows all


def test_a_bad_reason_csv_row_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("stop,MAT,Material\npause,X,Nope\nscrap\n")
    with pytest.raises(ConfigError) as err:
        read_csv(path)
    text = str(err.value)
    assert "row 2: kind 'pause' must be stop or scrap" in text
    assert "row 3" in text and "kind,code,label" in text


def test_an_unknown_key_under_reasons_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"integrations": [dict(BASE, reasons={"stops": {}})]})
    assert "integrations[0].reasons.stops" in str(err.value)
