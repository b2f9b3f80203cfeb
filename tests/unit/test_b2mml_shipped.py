"""floorledger validates B2MML with the MESA schemas it ships, whatever is beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

import adapters
from adapters.inbound.parsers import B2MML_DIR_ENV, b2mml_schema_dir


def test_the_shipped_mesa_schemas_and_licence_are_used_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(B2MML_DIR_ENV, raising=False)
    folder = b2mml_schema_dir()
    assert folder == Path(adapters.__file__).parent / "b2mml" / "V0600"
    assert (folder / "B2MML-V0600-ProductionPerformance.xsd").is_file()
    licence = (folder.parent / "LICENSE").read_text()
    assert "MESA International" in licence


def test_an_explicit_schema_folder_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(B2MML_DIR_ENV, str(tmp_path))
    assert b2mml_schema_dir() == tmp_path
