"""Tokens may be given a lifetime: stored, enforced by the API, shown by `token list`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from adapters.tokens import T_TOKENS, TokenStore
from api.app import create_app
from tests.conftest import Backend
from tests.e2e.conftest import api_settings
from tests.e2e.test_api_auth import run_cli


def test_a_token_created_to_expire_is_refused_once_its_lifetime_is_over(backend: Backend) -> None:
    app = create_app(api_settings(backend.url, token_cache_seconds=5))
    with TestClient(app) as client:
        tokens = app.state.runtime.tokens
        token, secret = tokens.create("temp", "operator", expires_in=timedelta(seconds=3))
        _, lasting = tokens.create("perm", "operator")
        auth = {"Authorization": f"Bearer {secret}"}
        assert client.get("/warnings", headers=auth).status_code == 200  # now cached too
        deadline = time.monotonic() + 15
        while client.get("/warnings", headers=auth).status_code == 200:
            assert time.monotonic() < deadline, "the token never expired"
            time.sleep(0.2)
        assert client.get("/warnings", headers=auth).status_code == 401
        assert datetime.now(UTC) >= datetime.fromisoformat(token.expires_at or "")
        assert client.get("/warnings", headers={"Authorization": f"Bearer {lasting}"}).is_success
        listed = {t.name: t for t in tokens.list()}
        assert listed["temp"].expires_at == token.expires_at and not listed["temp"].active
        assert listed["perm"].expires_at is None and listed["perm"].active


def test_token_create_expires_in_is_stored_and_listed_and_a_bad_lifetime_is_named(
    backend: Backend,
) -> None:
    created = run_cli(backend, "create", "--name", "shift", "--role", "operator",
                      "--expires-in", "8h")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "expires" in created.stderr
    (shift,) = json.loads(run_cli(backend, "list", "--json").stdout)
    until = datetime.fromisoformat(shift["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=7, minutes=59) < until <= timedelta(hours=8)
    table = run_cli(backend, "list")
    assert "expires" in table.stdout
    bad = run_cli(backend, "create", "--name", "x", "--role", "operator", "--expires-in", "8x")
    assert bad.returncode == 1
    assert "'8x'" in bad.stderr and "expires-in" in bad.stderr
    assert [t["name"] for t in json.loads(run_cli(backend, "list", "--json").stdout)] == ["shift"]


def test_a_token_table_from_before_expiry_gains_the_column_and_its_tokens_keep_working(
    backend: Backend,
) -> None:
    from adapters.tokens import hash_secret

    store = TokenStore(backend.settings, cache_seconds=0)
    try:
        with store.database.begin() as conn:
            conn.execute(
                sa.text(
                    f"CREATE TABLE {T_TOKENS} (name TEXT PRIMARY KEY, "
                    "token_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, work_centre TEXT, "
                    "created_at TEXT NOT NULL, revoked_at TEXT)"
                )
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {T_TOKENS} (name, token_hash, role, created_at) "
                    "VALUES (:n, :h, :r, :c)"
                ),
                {
                    "n": "old",
                    "h": hash_secret("flt_old-secret"),
                    "r": "auditor",
                    "c": "2026-01-01T00:00:00+00:00",
                },
            )
        store.setup()
        found = store.authenticate("flt_old-secret")
        assert found is not None and found.name == "old" and found.expires_at is None
        store.create("new", "operator", expires_in=timedelta(hours=1))
        assert [t.name for t in store.list()] == ["new", "old"]
    finally:
        store.close()


@pytest.mark.parametrize("bad", ["", "8", "0h", "-1h", "h", "1.5h", "8 hours"])
def test_a_lifetime_must_be_a_positive_whole_number_with_a_unit(bad: str) -> None:
    from adapters.tokens import TokenError, parse_duration

    with pytest.raises(TokenError, match="expires-in"):
        parse_duration(bad)
