"""API bearer tokens, stored only as SHA-256 hashes in the ledger's own database.

A token has a name (the actor recorded on the events it causes), a role and, for operators,
an optional work-centre scope. The secret is shown once when it is created; the table holds
its hash. Works on the embedded SQLite file and on the ledger's PostgreSQL schema.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from adapters.settings import Settings, store_env

T_TOKENS = "fl_api_tokens"
_COLUMNS = "name, role, work_centre, created_at, revoked_at, expires_at"
TOKEN_ROLES = ("operator", "supervisor", "auditor", "integration", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,59}$")
WORK_CENTRE_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")

T = TypeVar("T")


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiToken:
    """A token's identity: who it acts as, in which role, within which work centre."""

    name: str
    role: str
    work_centre: str | None
    created_at: str
    revoked_at: str | None = None
    expires_at: str | None = None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and not self.expired()

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return datetime.fromisoformat(self.expires_at) <= (now or datetime.now(UTC))


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``8h`` or ``7d`` as a duration (a token's lifetime)."""
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) == 0:
        raise TokenError(
            f"expires-in {text!r} must be a positive whole number with a unit: "
            "s, m, h or d (e.g. 8h)"
        )
    return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def hash_secret(secret: str) -> str:
    """The stored form of a token secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _check(name: str, role: str, work_centre: str | None) -> None:
    if not NAME_PATTERN.match(name):
        raise TokenError(
            f"token name {name!r} must be 1-60 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    if role not in TOKEN_ROLES:
        raise TokenError(f"role {role!r} must be one of {', '.join(TOKEN_ROLES)}")
    if work_centre is not None:
        if role != "operator":
            raise TokenError("only operator tokens can be scoped to a work centre")
        if not WORK_CENTRE_PATTERN.match(work_centre) or not work_centre.strip():
            raise TokenError(f"work centre {work_centre!r} must be 1-60 printable characters")


class TokenStore:
    """The token table in the ledger's database, with a short-lived cache of verified tokens."""

    def __init__(self, settings: Settings, *, cache_seconds: float = 5.0) -> None:
        self.settings = settings
        self.cache_seconds = cache_seconds
        self._env = store_env(settings)
        self._postgres = settings.is_postgres
        self._local = threading.local()
        self._cache: dict[str, tuple[ApiToken, float]] = {}
        self._cache_lock = threading.Lock()
        self._ready = False
        self._all: list[Any] = []

    # ------------------------------------------------------------------ connections

    def _connect(self) -> Any:
        if not self._postgres:
            path = self._env["SQLITE_DBNAME"]
            conn = sqlite3.connect(
                path,
                uri=path.startswith("file:"),
                isolation_level=None,
                check_same_thread=False,
                timeout=float(self._env.get("SQLITE_LOCK_TIMEOUT", "10")),
            )
            return conn
        import psycopg

        schema = self._env.get("POSTGRES_SCHEMA", "public")
        return psycopg.connect(
            host=self._env["POSTGRES_HOST"],
            port=int(self._env["POSTGRES_PORT"]),
            dbname=self._env["POSTGRES_DBNAME"],
            user=self._env["POSTGRES_USER"],
            password=self._env["POSTGRES_PASSWORD"] or None,
            connect_timeout=min(2, int(self._env.get("POSTGRES_CONNECT_TIMEOUT", "5"))),
            options=f"-c search_path={schema}",
            autocommit=True,
        )

    def _run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` on this thread's connection, reopening it once if it was lost."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._connect()
                self._local.conn = conn
                with self._cache_lock:
                    self._all.append(conn)
            try:
                return fn(conn)
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                self._local.conn = None
                with suppress(Exception):
                    conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def run(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.cursor()
            try:
                cur.execute(self._sql(sql), params)
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()

        return self._run(run)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        def run(conn: Any) -> int:
            cur = conn.cursor()
            try:
                cur.execute(self._sql(sql), params)
                return int(cur.rowcount)
            finally:
                cur.close()

        return self._run(run)

    # ------------------------------------------------------------------ public API

    def setup(self) -> None:
        """Create the token table when missing."""
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {T_TOKENS} (name TEXT PRIMARY KEY, "
            "token_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, work_centre TEXT, "
            "created_at TEXT NOT NULL, revoked_at TEXT, expires_at TEXT)"
        )
        if "expires_at" not in self._columns():  # a table made before tokens could expire
            try:
                self._execute(f"ALTER TABLE {T_TOKENS} ADD COLUMN expires_at TEXT")
            except Exception:
                if "expires_at" not in self._columns():  # else another process added it
                    raise
        self._ready = True

    def _columns(self) -> set[str]:
        sql = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = current_schema()"
            if self._postgres
            else "SELECT name FROM pragma_table_info(?)"
        )
        return {str(r[0]).lower() for r in self._query(sql, (T_TOKENS,))}

    def _ensure(self) -> None:
        if not self._ready:
            self.setup()

    def create(
        self,
        name: str,
        role: str,
        work_centre: str | None = None,
        *,
        expires_in: timedelta | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token, valid for ``expires_in`` when given, else until revoked; returns it
        with its secret (shown once, never stored)."""
        _check(name, role, work_centre)
        if expires_in is not None and expires_in <= timedelta(0):
            raise TokenError(f"expires-in {expires_in} must be positive")
        self._ensure()
        secret = "flt_" + secrets.token_urlsafe(32)
        now = datetime.now(UTC).replace(microsecond=0)
        expires = (now + expires_in).isoformat() if expires_in is not None else None
        token = ApiToken(name, role, work_centre, now.isoformat(), None, expires)
        if self._query(f"SELECT name FROM {T_TOKENS} WHERE name = ?", (name,)):
            raise TokenError(f"a token named {name!r} already exists (revoked ones keep the name)")
        try:
            self._execute(
                f"INSERT INTO {T_TOKENS} "
                "(name, token_hash, role, work_centre, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, hash_secret(secret), role, work_centre, token.created_at, expires),
            )
        except Exception as exc:
            if type(exc).__name__ in ("IntegrityError", "UniqueViolation"):
                raise TokenError(f"a token named {name!r} already exists") from None
            raise
        return token, secret

    def list(self) -> list[ApiToken]:
        """Every token, active and revoked, by name."""
        self._ensure()
        rows = self._query(f"SELECT {_COLUMNS} FROM {T_TOKENS} ORDER BY name")
        return [ApiToken(*r) for r in rows]

    def revoke(self, name: str) -> bool:
        """Revoke a token by name; False when no active token has that name."""
        self._ensure()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        changed = self._execute(
            f"UPDATE {T_TOKENS} SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (now, name),
        )
        with self._cache_lock:
            self._cache = {h: v for h, v in self._cache.items() if v[0].name != name}
        return changed == 1

    def ping(self) -> None:
        """Raise when the database cannot be reached."""
        self._query("SELECT 1")

    def cached(self, secret: str) -> ApiToken | None:
        """The token with this secret if it was verified moments ago (no I/O), else None."""
        hit = self._cache.get(hash_secret(secret))
        if hit is not None and hit[1] > time.monotonic() and not hit[0].expired():
            return hit[0]
        return None

    def authenticate(self, secret: str) -> ApiToken | None:
        """The active token with this secret, or None (verified tokens are cached briefly)."""
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now and not hit[0].expired():
            return hit[0]
        self._ensure()
        rows = self._query(
            f"SELECT {_COLUMNS} FROM {T_TOKENS} WHERE token_hash = ? AND revoked_at IS NULL",
            (digest,),
        )
        found = [t for t in (ApiToken(*r) for r in rows) if not t.expired()]
        if not found:
            return None
        if self.cache_seconds > 0:
            with self._cache_lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (found[0], now + self.cache_seconds)
        return found[0]

    def close(self) -> None:
        """Close every connection the store opened."""
        with self._cache_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(Exception):
                conn.close()
        self._local = threading.local()


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
