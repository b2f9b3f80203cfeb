"""Operators and shared work-centre terminals, in the ledger's own database.

An operator has a name (the actor recorded on the events they cause), a badge number and/or
a PIN; both are stored only as scrypt hashes. A terminal is signed in once by a supervisor,
is scoped to one or more work centres, and holds at most one signed-on operator; the
browser keeps only the terminal's random secret (in an HttpOnly cookie), the table its hash.
An operator idle longer than the terminal's limit is signed off on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.settings import Settings, own_database
from adapters.tokens import NAME_PATTERN, WORK_CENTRE_PATTERN, hash_secret
from projections.db import Database, Db

T_OPERATORS = "fl_operators"
T_TERMINALS = "fl_terminals"
BADGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,63}$")
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
# scrypt cost: ~20 ms per check on a small server, a brute force of a 4-digit PIN's hash
# (without the terminal) costs minutes instead of microseconds.
_N, _R, _P = 2**14, 8, 1
_BADGE_SALT = b"floorledger-badge-v1"
MAX_FAILED_SIGN_ONS = 5
LOCKOUT = timedelta(minutes=5)  # badges are looked up by hash, so the salt is fixed


class TerminalError(ValueError):
    """An operator or terminal cannot be created, changed or signed on as asked."""


def _scrypt(value: str, salt: bytes) -> str:
    digest = hashlib.scrypt(value.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return digest.hex()


def hash_pin(pin: str) -> str:
    """The stored form of a PIN: a random salt and its scrypt hash."""
    salt = secrets.token_bytes(16)
    return f"scrypt${salt.hex()}${_scrypt(pin, salt)}"


def pin_matches(pin: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_hex, digest = stored.split("$", 2)
    return hmac.compare_digest(_scrypt(pin, bytes.fromhex(salt_hex)), digest)


def hash_badge(badge: str) -> str:
    """The stored (and looked-up) form of a badge number."""
    return _scrypt(badge.strip(), _BADGE_SALT)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Operator:
    """An operator who can sign on at a terminal."""

    name: str
    has_badge: bool
    has_pin: bool
    created_at: str
    removed_at: str | None = None


@dataclass(frozen=True)
class Terminal:
    """A shared terminal: its work centres and who is signed on there now."""

    terminal_id: str
    name: str
    work_centres: tuple[str, ...]
    signed_in_by: str
    created_at: str
    operator: str | None
    operator_since: str | None
    last_activity: str | None
    idle_minutes: float

    def idle_deadline(self) -> datetime | None:
        """When the signed-on operator is signed off if nothing happens before."""
        if self.operator is None or self.last_activity is None:
            return None
        return datetime.fromisoformat(self.last_activity) + timedelta(minutes=self.idle_minutes)


def parse_work_centres(text: str) -> tuple[str, ...]:
    """'SAW-1, LASER-1' as a tuple; each one checked."""
    wcs = tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    if not wcs:
        raise TerminalError("name at least one work centre, e.g. 'SAW-1' or 'SAW-1, LASER-1'")
    for wc in wcs:
        if not WORK_CENTRE_PATTERN.match(wc):
            raise TerminalError(f"work centre {wc!r} must be 1-60 printable characters")
    return wcs


class TerminalStore:
    """The operator and terminal tables, in floorledger's own database (projections.db)."""

    def __init__(
        self,
        settings: Settings,
        *,
        idle_minutes: float = 15.0,
        clock: Callable[[], datetime] = _now,
        database: Database | None = None,
    ) -> None:
        self._owns_database = database is None
        self.database = database or own_database(settings, connect_timeout=2)
        self.idle_minutes = idle_minutes
        self.clock = clock
        self._ready = False
        self._failures: dict[str, list[datetime]] = {}  # terminal -> recent failed sign-ons
        self._failures_lock = threading.Lock()

    def _q(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._ensure()
        rows: list[tuple[Any, ...]] = self._run(lambda db: db.query(sql, params))
        return rows

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        self._ensure()
        return int(self._run(lambda db: db.execute(sql, params).rowcount))

    def _run(self, fn: Callable[[Db], Any]) -> Any:
        """``fn`` in one short transaction on a pooled connection."""
        with self.database.begin() as conn:
            return fn(Db(self.database.dialect, conn))

    def setup(self) -> None:
        """Create the tables when missing."""
        self._run(
            lambda db: db.execute(
                f"CREATE TABLE IF NOT EXISTS {T_OPERATORS} (name TEXT PRIMARY KEY, "
                "badge_hash TEXT UNIQUE, pin_hash TEXT, created_at TEXT NOT NULL, removed_at TEXT)"
            )
        )
        self._run(
            lambda db: db.execute(
                f"CREATE TABLE IF NOT EXISTS {T_TERMINALS} (terminal_id TEXT PRIMARY KEY, "
                "secret_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, work_centres TEXT NOT NULL, "
                "signed_in_by TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT, "
                "operator TEXT, operator_since TEXT, last_activity TEXT)"
            )
        )
        self._ready = True

    def _ensure(self) -> None:
        if not self._ready:
            self.setup()

    def close(self) -> None:
        if self._owns_database:
            self.database.dispose()

    # ------------------------------------------------------------------ operators

    def add_operator(self, name: str, *, badge: str | None = None, pin: str | None = None) -> None:
        """Add an operator who signs on with a badge number, a PIN, or either."""
        if not NAME_PATTERN.match(name):
            raise TerminalError(
                f"operator name {name!r} must be 1-60 letters, digits, '.', '_', '-' or '@', "
                "starting with a letter or digit"
            )
        if badge is None and pin is None:
            raise TerminalError("give the operator a badge number, a PIN, or both")
        if badge is not None and not BADGE_PATTERN.match(badge.strip()):
            raise TerminalError(f"badge {badge!r} must be 3-64 letters, digits, '.', '_' or '-'")
        if pin is not None and not PIN_PATTERN.match(pin):
            raise TerminalError("the PIN must be 4-12 digits")
        badge_hash = hash_badge(badge) if badge is not None else None
        if self._q(f"SELECT name FROM {T_OPERATORS} WHERE name = ?", (name,)):
            raise TerminalError(f"an operator named {name!r} already exists")
        if badge_hash and self._q(
            f"SELECT name FROM {T_OPERATORS} WHERE badge_hash = ?", (badge_hash,)
        ):
            raise TerminalError(f"badge {badge!r} already belongs to another operator")
        self._x(
            f"INSERT INTO {T_OPERATORS} (name, badge_hash, pin_hash, created_at) "
            "VALUES (?, ?, ?, ?)",
            (name, badge_hash, hash_pin(pin) if pin else None, _iso(self.clock())),
        )

    def operators(self, *, include_removed: bool = False) -> list[Operator]:
        """Operators by name."""
        where = "" if include_removed else " WHERE removed_at IS NULL"
        rows = self._q(
            f"SELECT name, badge_hash, pin_hash, created_at, removed_at FROM {T_OPERATORS}"
            f"{where} ORDER BY name"
        )
        return [Operator(r[0], r[1] is not None, r[2] is not None, r[3], r[4]) for r in rows]

    def remove_operator(self, name: str) -> bool:
        """Remove an operator (their name stays in the history); signs them off everywhere."""
        changed = self._x(
            f"UPDATE {T_OPERATORS} SET removed_at = ?, badge_hash = NULL, pin_hash = NULL "
            "WHERE name = ? AND removed_at IS NULL",
            (_iso(self.clock()), name),
        )
        self._x(
            f"UPDATE {T_TERMINALS} SET operator = NULL, operator_since = NULL WHERE operator = ?",
            (name,),
        )
        return changed == 1

    # ------------------------------------------------------------------ terminals

    def sign_in_terminal(
        self, name: str, work_centres: tuple[str, ...], supervisor: str
    ) -> tuple[Terminal, str]:
        """A supervisor signs a terminal in; returns it and its secret (for the cookie)."""
        name = name.strip()
        if not name or len(name) > 60 or not WORK_CENTRE_PATTERN.match(name):
            raise TerminalError(f"terminal name {name!r} must be 1-60 printable characters")
        if not work_centres:
            raise TerminalError("name at least one work centre")
        secret = "flterm_" + secrets.token_urlsafe(32)
        terminal_id = secrets.token_hex(8)
        self._x(
            f"INSERT INTO {T_TERMINALS} (terminal_id, secret_hash, name, work_centres, "
            "signed_in_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (terminal_id, hash_secret(secret), name, "\n".join(work_centres), supervisor,
             _iso(self.clock())),
        )  # fmt: skip
        terminal = self._terminal_by("terminal_id", terminal_id)
        assert terminal is not None
        return terminal, secret

    def _terminal_by(self, column: str, value: str) -> Terminal | None:
        rows = self._q(
            "SELECT terminal_id, name, work_centres, signed_in_by, created_at, operator, "
            f"operator_since, last_activity FROM {T_TERMINALS} "
            f"WHERE {column} = ? AND revoked_at IS NULL",
            (value,),
        )
        if not rows:
            return None
        r = rows[0]
        return Terminal(
            r[0], r[1], tuple(str(r[2]).split("\n")), r[3], r[4], r[5], r[6], r[7],
            self.idle_minutes,
        )  # fmt: skip

    def terminal(self, secret: str) -> Terminal | None:
        """The signed-in terminal with this secret; an idle operator is signed off first."""
        terminal = self._terminal_by("secret_hash", hash_secret(secret))
        if terminal is None:
            return None
        deadline = terminal.idle_deadline()
        if deadline is not None and self.clock() >= deadline:
            self._x(
                f"UPDATE {T_TERMINALS} SET operator = NULL, operator_since = NULL "
                "WHERE terminal_id = ? AND last_activity = ?",
                (terminal.terminal_id, terminal.last_activity),
            )
            return self._terminal_by("terminal_id", terminal.terminal_id)
        return terminal

    def terminals(self) -> list[Terminal]:
        """Every signed-in terminal and who is signed on there."""
        ids = self._q(f"SELECT terminal_id FROM {T_TERMINALS} WHERE revoked_at IS NULL")
        found = [self._terminal_by("terminal_id", str(r[0])) for r in ids]
        return sorted((t for t in found if t is not None), key=lambda t: t.name)

    def sign_out_terminal(self, terminal_id: str) -> None:
        """The terminal is signed out: its cookie no longer works."""
        self._x(
            f"UPDATE {T_TERMINALS} SET revoked_at = ?, operator = NULL WHERE terminal_id = ?",
            (_iso(self.clock()), terminal_id),
        )

    def sign_on(
        self,
        terminal_id: str,
        *,
        badge: str | None = None,
        name: str | None = None,
        pin: str | None = None,
    ) -> str:
        """Sign an operator on at a terminal by badge, or by name and PIN; returns the name."""
        self._check_tries(terminal_id)
        operator: str | None = None
        if badge:
            rows = self._q(
                f"SELECT name FROM {T_OPERATORS} WHERE badge_hash = ? AND removed_at IS NULL",
                (hash_badge(badge),),
            )
            operator = str(rows[0][0]) if rows else None
        elif name and pin:
            rows = self._q(
                f"SELECT name, pin_hash FROM {T_OPERATORS} WHERE name = ? AND removed_at IS NULL",
                (name,),
            )
            if rows and pin_matches(pin, rows[0][1]):
                operator = str(rows[0][0])
        else:
            raise TerminalError("scan or type your badge, or choose your name and type your PIN")
        if operator is None:
            with self._failures_lock:
                self._failures.setdefault(terminal_id, []).append(self.clock())
            raise TerminalError("badge or PIN not recognised; try again or ask your supervisor")
        with self._failures_lock:
            self._failures.pop(terminal_id, None)
        now = _iso(self.clock())
        self._x(
            f"UPDATE {T_TERMINALS} SET operator = ?, operator_since = ?, last_activity = ? "
            "WHERE terminal_id = ?",
            (operator, now, now, terminal_id),
        )
        return operator

    def _check_tries(self, terminal_id: str) -> None:
        """At most MAX_FAILED_SIGN_ONS wrong badges or PINs per terminal within the lockout
        window (a 4-digit PIN cannot be guessed at the terminal)."""
        since = self.clock() - LOCKOUT
        with self._failures_lock:
            recent = [t for t in self._failures.get(terminal_id, []) if t > since]
            self._failures[terminal_id] = recent
        if len(recent) >= MAX_FAILED_SIGN_ONS:
            raise TerminalError(
                f"{len(recent)} wrong badges or PINs in a row: wait "
                f"{int(LOCKOUT.total_seconds() // 60)} minutes or ask your supervisor"
            )

    def sign_off(self, terminal_id: str) -> None:
        """The operator signs off the terminal."""
        self._x(
            f"UPDATE {T_TERMINALS} SET operator = NULL, operator_since = NULL "
            "WHERE terminal_id = ?",
            (terminal_id,),
        )

    def touch(self, terminal_id: str) -> None:
        """The signed-on operator did something: the idle clock starts again."""
        self._x(
            f"UPDATE {T_TERMINALS} SET last_activity = ? "
            "WHERE terminal_id = ? AND operator IS NOT NULL",
            (_iso(self.clock()), terminal_id),
        )


__all__ = [
    "Operator",
    "Terminal",
    "TerminalError",
    "TerminalStore",
    "hash_badge",
    "hash_pin",
    "parse_work_centres",
    "pin_matches",
]
