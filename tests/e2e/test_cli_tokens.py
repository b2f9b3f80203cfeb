"""``token create --work-centre`` warns about a work centre no integration knows (issue #18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app


def test_a_token_for_an_unknown_work_centre_is_created_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.delenv("FLOORLEDGER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no example configuration here: only the demo's work centres
    cli = CliRunner()
    assert cli.invoke(app, ["demo"]).exit_code == 0
    typo = cli.invoke(
        app, ["token", "create", "--name", "lena", "--role", "operator", "--work-centre", "COAT1"]
    )
    assert typo.exit_code == 0, typo.output
    assert typo.stdout.startswith("flt_")  # the token is still created and shown
    assert "warning: no integration knows work centre 'COAT1'" in typo.stderr
    assert "COAT-1" in typo.stderr  # the known ones are listed
    known = cli.invoke(
        app, ["token", "create", "--name", "olga", "--role", "operator", "--work-centre", "COAT-1"]
    )
    assert known.exit_code == 0 and "warning" not in known.stderr
