"""API bearer tokens, stored only as SHA-256 hashes in the ledger's own database.

A token has a name (the actor recorded on the events it causes), a role and, for operators,
an optional work-centre scope. The secret is shown once when it is created; the table holds
its hash. Works on the embedded SQLite file and on the ledger's PostgreSQL schema.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from adapters.settings import Settings, own_database
from projections.db import Database, connection_errors

T_TOKENS = "fl_api_tokens"
TOKEN_ROLES = ("operator", "supervisor", "auditor", "integration", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,59}$")
WORK_CENTRE_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")

T = TypeVar("T")

METADATA = sa.MetaData()
TOKENS = sa.Table(
    T_TOKENS,
    METADATA,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("work_centre", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text),
    sa.Column("expires_at", sa.Text),
)
_SELECT = sa.select(
    TOKENS.c.name,
    TOKENS.c.role,
    TOKENS.c.work_centre,
    TOKENS.c.created_at,
    TOKENS.c.revoked_at,
    TOKENS.c.expires_at,
)


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

    def __init__(
        self,
        settings: Settings,
        *,
        cache_seconds: float = 5.0,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.cache_seconds = cache_seconds
        self._owns_database = database is None
        self.database = database or own_database(settings, connect_timeout=2)
        self._cache: dict[str, tuple[ApiToken, float]] = {}
        self._cache_lock = threading.Lock()
        self._ready = False

    # ------------------------------------------------------------------ connections

    def _run(self, fn: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` in one transaction, once more on a fresh connection if it was lost."""
        if not self._ready:
            self.setup()
        for attempt in (1, 2):
            try:
                if write:
                    with self.database.begin() as conn:
                        return fn(conn)
                with self.database.engine.connect() as conn:
                    return fn(conn)
            except connection_errors():
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ public API

    def setup(self) -> None:
        """Create the token table when missing; add ``expires_at`` to a table made before
        tokens could expire."""
        self.database.ensure(METADATA)
        columns = {
            c["name"].lower() for c in sa.inspect(self.database.engine).get_columns(T_TOKENS)
        }
        if "expires_at" not in columns:
            try:
                with self.database.begin() as conn:
                    conn.execute(sa.text(f"ALTER TABLE {T_TOKENS} ADD COLUMN expires_at TEXT"))
            except sa.exc.DBAPIError:
                inspector = sa.inspect(self.database.engine)
                if "expires_at" not in {c["name"].lower() for c in inspector.get_columns(T_TOKENS)}:
                    raise  # else another process added it
        self._ready = True

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
        secret = "flt_" + secrets.token_urlsafe(32)
        exact = datetime.now(UTC)
        now = exact.replace(microsecond=0)
        expires = None
        if expires_in is not None:  # whole seconds, never shorter than asked
            end = exact + expires_in
            end = end.replace(microsecond=0) + (
                timedelta(seconds=1) if end.microsecond else timedelta()
            )
            expires = end.isoformat()
        token = ApiToken(name, role, work_centre, now.isoformat(), None, expires)

        def insert(conn: sa.Connection) -> None:
            taken = conn.execute(sa.select(TOKENS.c.name).where(TOKENS.c.name == name)).first()
            if taken is not None:
                raise TokenError(
                    f"a token named {name!r} already exists (revoked ones keep the name)"
                )
            conn.execute(
                TOKENS.insert().values(
                    name=name,
                    token_hash=hash_secret(secret),
                    role=role,
                    work_centre=work_centre,
                    created_at=token.created_at,
                    expires_at=expires,
                )
            )

        try:
            self._run(insert, write=True)
        except sa.exc.IntegrityError:
            raise TokenError(f"a token named {name!r} already exists") from None
        return token, secret

    def list(self) -> list[ApiToken]:
        """Every token, active and revoked, by name."""
        rows = self._run(lambda conn: conn.execute(_SELECT.order_by(TOKENS.c.name)).all())
        return [ApiToken(*r) for r in rows]

    def revoke(self, name: str) -> bool:
        """Revoke a token by name; False when no active token has that name."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        changed = self._run(
            lambda conn: (
                conn.execute(
                    TOKENS.update()
                    .where(TOKENS.c.name == name, TOKENS.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                ).rowcount
            ),
            write=True,
        )
        with self._cache_lock:
            self._cache = {h: v for h, v in self._cache.items() if v[0].name != name}
        return changed == 1

    def ping(self) -> None:
        """Raise when the database cannot be reached."""
        self._run(lambda conn: conn.execute(sa.text("SELECT 1")).all())

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
        rows = self._run(
            lambda conn: conn.execute(
                _SELECT.where(TOKENS.c.token_hash == digest, TOKENS.c.revoked_at.is_(None))
            ).all()
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
        if self._owns_database:
            self.database.dispose()
