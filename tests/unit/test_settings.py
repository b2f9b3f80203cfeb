"""Settings: the store URL is checked, and its password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.settings import Settings, build_ledger, store_env


def test_the_password_is_hidden_wherever_the_url_is_shown() -> None:
    s = Settings(database_url="postgresql://floor:s3cret@db:5433/plant?schema=a")  # type: ignore[arg-type]
    assert s.redacted_url() == "postgresql://floor:***@db:5433/plant?schema=a"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


def test_a_sqlite_url_is_shown_as_given() -> None:
    assert Settings(database_url="sqlite:///var/fl.db").redacted_url() == "sqlite:///var/fl.db"  # type: ignore[arg-type]


def test_a_postgres_url_becomes_the_event_store_settings() -> None:
    env = store_env(
        Settings(database_url="postgresql://floor:pw@db:5433/plant?schema=a", pg_pool_size=7)
    )  # type: ignore[arg-type]
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db",
        "5433",
        "plant",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_SCHEMA"]) == (
        "floor",
        "pw",
        "a",
    )
    assert env["POSTGRES_POOL_SIZE"] == "7"


def test_an_unsupported_scheme_is_refused_naming_the_variable_and_the_scheme() -> None:
    with pytest.raises(ValidationError, match="FLOORLEDGER_DATABASE_URL scheme 'mysql'"):
        Settings(database_url="mysql://x@y/z")  # type: ignore[arg-type]


def test_an_aggregate_cache_size_of_zero_turns_the_cache_off(tmp_path: Path) -> None:
    """FLOORLEDGER_AGGREGATE_CACHE_SIZE=0 keeps no order in memory between commands."""
    off = build_ledger(
        Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", aggregate_cache_size=0)
    )
    small = build_ledger(
        Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", aggregate_cache_size=3)
    )
    try:
        assert off.repository.cache is None
        assert small.repository.cache is not None and small.repository.cache.maxsize == 3
    finally:
        off.close()
        small.close()


def test_the_window_of_floor_times_reaches_the_ledger_and_a_bad_value_is_named(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    url = f"sqlite:///{tmp_path / 'w.db'}"
    ledger = build_ledger(Settings(database_url=url, max_backdate_hours="6"))  # type: ignore[arg-type]
    try:
        assert ledger.floor_times.max_backdate == timedelta(hours=6)
    finally:
        ledger.close()
    assert Settings(max_backdate_hours=" OFF ").max_backdate_hours == "off"
    with pytest.raises(ValidationError, match="FLOORLEDGER_MAX_BACKDATE_HOURS"):
        Settings(max_backdate_hours="a day")


def test_the_view_cache_bound_is_read_from_its_variable_and_a_negative_one_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOORLEDGER_VIEW_CACHE_ORDERS", "250")
    assert Settings().view_cache_orders == 250
    monkeypatch.setenv("FLOORLEDGER_VIEW_CACHE_ORDERS", "-1")
    with pytest.raises(ValidationError, match="view_cache_orders"):
        Settings()
