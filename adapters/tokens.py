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
from datetime import UTC, datetime
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
)
_SELECT = sa.select(
    TOKENS.c.name, TOKENS.c.role, TOKENS.c.work_centre, TOKENS.c.created_at, TOKENS.c.revoked_at
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

    @property
    def active(self) -> bool:
        return self.revoked_at is None


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

    # ------------------------------------------------------------------ connections

    def _run(self, fn: Callable[[sa.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` in one transaction, once more on a fresh connection if it was lost."""
        self.database.ensure(METADATA)
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
        """Create the token table when missing."""
        self.database.ensure(METADATA)

    def create(self, name: str, role: str, work_centre: str | None = None) -> tuple[ApiToken, str]:
        """Create a token; returns it with its secret (shown once, never stored)."""
        _check(name, role, work_centre)
        secret = "flt_" + secrets.token_urlsafe(32)
        token = ApiToken(name, role, work_centre, datetime.now(UTC).isoformat(timespec="seconds"))

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
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def authenticate(self, secret: str) -> ApiToken | None:
        """The active token with this secret, or None (verified tokens are cached briefly)."""
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        rows = self._run(
            lambda conn: conn.execute(
                _SELECT.where(TOKENS.c.token_hash == digest, TOKENS.c.revoked_at.is_(None))
            ).all()
        )
        found = [ApiToken(*r) for r in rows]
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
