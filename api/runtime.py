"""What one running API process holds: settings, the Ledger, the views, the token store.

The store is opened when the app starts; when it is unreachable then, the app still starts
(not ready) and each request tries again, at most once a second, so service resumes on its
own when the database comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from adapters.settings import Settings, own_database, store_env
from adapters.terminals import TerminalStore
from adapters.tokens import TokenStore
from api.metrics import Metrics
from domain import Ledger
from projections import ViewReader, ViewRunner
from projections.db import Database

log = logging.getLogger("floorledger.api")

STORE_TIMEOUT_SECONDS = 2


class ApiSettings(Settings):
    """Settings of the HTTP API (FLOORLEDGER_* environment variables, like the ledger's)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    token_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    max_read_wait_seconds: float = Field(default=10.0, gt=0, le=120)
    reopen_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    follow_views: bool = Field(default=True, description="run the projection runner in-process")
    threads: int = Field(
        default=100, ge=1, le=1000, description="worker threads for requests that block"
    )
    command_deadline_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="a write request is answered within this (else 503 store-unavailable)",
    )
    # transport security (api/security.py)
    ssl_certfile: Path | None = Field(default=None, description="serve HTTPS with this PEM cert")
    ssl_keyfile: Path | None = Field(default=None, description="the certificate's private key")
    max_header_bytes: int = Field(default=16384, ge=1024, le=1_048_576)
    auth_failures_allowed: int = Field(default=10, ge=0, le=100_000, description="0: off")
    auth_failure_window_seconds: float = Field(default=60.0, gt=0, le=86_400)
    terminal_idle_minutes: float = Field(
        default=15.0, gt=0, le=24 * 60, description="sign an idle operator off a terminal"
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies: always, never, or (unset) when over HTTPS"
    )


class StoreUnavailableError(Exception):
    """The event store cannot be reached; nothing was recorded."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"the store is unreachable: {detail}")


class ViewsBehindError(Exception):
    """The views did not reach the asked ledger position within the wait."""

    def __init__(self, position: int, timeout: float) -> None:
        self.position = position
        self.timeout = timeout
        super().__init__(f"the views did not reach ledger position {position} within {timeout}s")


@dataclass
class Services:
    """The opened store: the Ledger, the runner that keeps the views current, the view reader."""

    ledger: Ledger
    runner: ViewRunner
    reader: ViewReader
    stop: threading.Event = field(default_factory=threading.Event)
    follower: threading.Thread | None = None

    def follow(self) -> None:
        """Keep the views current in a daemon thread, restarting the runner if it fails."""
        self.follower = threading.Thread(
            target=self._follow, name="floorledger-api-views", daemon=True
        )
        self.follower.start()

    def _follow(self) -> None:
        while not self.stop.is_set():
            try:
                self.runner.run_forever(self.stop)
            except Exception:
                # e.g. another process's runner wrote the same batch first: the failed batch
                # was rolled back, so following again from the recorded positions is safe
                log.warning("the view runner failed; restarting it", exc_info=True)
                self.stop.wait(0.2)

    def close(self) -> None:
        self.stop.set()
        self.runner.wake()
        if self.follower is not None:
            self.follower.join(10)
        self.runner.close()
        self.reader.close()
        self.ledger.close()


@dataclass
class Runtime:
    """The state of one API process."""

    settings: ApiSettings
    metrics: Metrics
    tokens: TokenStore
    terminals: TerminalStore
    # floorledger's own tables (tokens, terminals, views), one pool for all of them, so the
    # process holds at most the ledger's pool, this pool and the views' reader connections
    # (each bounded by FLOORLEDGER_PG_POOL_SIZE + FLOORLEDGER_PG_MAX_OVERFLOW) and the view
    # runner's own two or three.
    own: Database | None = None
    _services: Services | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_try: float = 0.0
    _last_error: str = ""
    _down: bool = False

    @classmethod
    def create(cls, settings: ApiSettings) -> Runtime:
        own = own_database(settings, connect_timeout=STORE_TIMEOUT_SECONDS)
        tokens = TokenStore(settings, cache_seconds=settings.token_cache_seconds, database=own)
        terminals = TerminalStore(
            settings, idle_minutes=settings.terminal_idle_minutes, database=own
        )
        return cls(
            settings=settings, metrics=Metrics(), tokens=tokens, terminals=terminals, own=own
        )

    def open(self) -> Services:
        """The opened services, opening the store first if needed (StoreUnavailableError)."""
        services = self._services
        if services is not None:
            return services
        with self._lock:
            if self._services is not None:
                return self._services
            now = time.monotonic()
            if now < self._next_try:
                raise StoreUnavailableError(self._last_error or "not opened yet")
            try:
                self._services = self._open()
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
                self._next_try = now + self.settings.reopen_interval_seconds
                log.warning("cannot open the store %s: %s", self.settings.redacted_url(), exc)
                raise StoreUnavailableError(self._last_error) from None
            return self._services

    def mark_down(self, detail: str) -> None:
        """A request met an unreachable store: later ones check it quickly before trying."""
        self._down = True
        self._last_error = detail[:300]
        self._next_try = time.monotonic() + self.settings.reopen_interval_seconds

    @property
    def down(self) -> bool:
        return self._down

    def check_store(self) -> None:
        """When the store was found down: a quick ping, at most once per reopen interval, so
        requests fail fast (503) instead of waiting out the store's own retries."""
        if not self._down:
            return
        with self._lock:
            if not self._down:
                return
            now = time.monotonic()
            if now < self._next_try:
                raise StoreUnavailableError(self._last_error or "unreachable")
            try:
                self.tokens.ping()
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
                self._next_try = now + self.settings.reopen_interval_seconds
                raise StoreUnavailableError(self._last_error) from None
            self._down = False

    def _open(self) -> Services:
        env = store_env(self.settings)
        if self.settings.is_postgres:
            # fail within seconds when the server is gone (the library retries each call)
            env["POSTGRES_CONNECT_TIMEOUT"] = str(STORE_TIMEOUT_SECONDS)
        locate = _ViewLocator()  # an order named without integration
        ledger = Ledger(
            env=env, default_integration=self.settings.default_integration, locate=locate
        )
        try:
            self.tokens.setup()
            self.terminals.setup()
            runner = ViewRunner(
                ledger, store=self.own, cache_orders=self.settings.view_cache_orders
            )
            runner.setup()
            reader = ViewReader(self.own) if self.own is not None else ViewReader.for_ledger(ledger)
        except BaseException:
            ledger.close()
            raise
        locate.views = (runner, reader)
        services = Services(ledger, runner, reader)
        if self.settings.follow_views:
            services.follow()
        self.metrics.attach(ledger, runner)
        return services

    @property
    def opened(self) -> bool:
        return self._services is not None

    def close(self) -> None:
        """Stop the runner and close every connection."""
        with self._lock:
            services, self._services = self._services, None
        if services is not None:
            services.close()
        self.tokens.close()
        self.terminals.close()
        if self.own is not None:
            self.own.dispose()


class _ViewLocator:
    """Which integrations hold an order number: the views, first brought up to the ledger's
    head (briefly), so an order released a moment ago is found too."""

    def __init__(self) -> None:
        self.views: tuple[ViewRunner, ViewReader] | None = None  # once the views are open

    def __call__(self, ledger: Ledger, order_no: str) -> list[str]:
        if self.views is None:
            return []
        runner, reader = self.views
        runner.wait_until(ledger.position(), timeout=1.0)
        return reader.integrations_of(order_no)
