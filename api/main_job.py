"""The main job: the HTTP API with the sync and writeback workers in one process."""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from adapters.config import FilesInbound, IntegrationsConfig, load_config
from adapters.settings import build_ledger
from adapters.tokens import TokenStore
from api.runtime import ApiSettings
from domain import Ledger

log = logging.getLogger("floorledger.run")

EXAMPLE_CONFIG = Path("examples/file-drop/floorledger.toml")


@dataclass
class MainJob:
    """Everything `floorledger run` starts beside the API, and how to stop it."""

    settings: ApiSettings
    config: IntegrationsConfig | None
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    ledgers: list[Ledger] = field(default_factory=list)

    def start_workers(self) -> None:
        """The sync worker (ERP → floor) and the writeback pump (floor → ERP), as threads."""
        if self.config is None or not self.config.integrations:
            return
        from adapters.inbound.worker import run_forever as sync_forever
        from adapters.writeback.pump import Pump

        config = self.config
        sync_ledger = build_ledger(self.settings)
        pump_ledger = build_ledger(self.settings)
        self.ledgers += [sync_ledger, pump_ledger]
        pump = Pump(pump_ledger, config)

        def sync() -> None:
            sync_forever(config, sync_ledger, self.stop)

        def writeback() -> None:
            try:
                pump.run_forever(self.stop)
            finally:
                pump.close()

        for name, target in (("floorledger-sync", sync), ("floorledger-writeback", writeback)):
            t = threading.Thread(target=_logged(target), name=name, daemon=True)
            t.start()
            self.threads.append(t)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        for ledger in self.ledgers:
            ledger.close()


def log_to_console(level: int = logging.INFO) -> None:
    """The workers' lines (``floorledger.*``: releases, changes, conflicts raised, orders
    parked and retried) on the console, one line each, with the time and the worker."""
    root = logging.getLogger("floorledger")
    if any(getattr(h, "_floorledger_console", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    handler._floorledger_console = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def _logged(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("%s stopped", threading.current_thread().name)

    return run


def resolve_config(explicit: Path | None) -> Path | None:
    """The integration file: --config, else $FLOORLEDGER_CONFIG, else the shipped example."""
    if explicit is not None:
        return explicit
    env = os.environ.get("FLOORLEDGER_CONFIG")
    if env:
        return Path(env)
    return EXAMPLE_CONFIG if EXAMPLE_CONFIG.is_file() else None


def prepare_folders(config: IntegrationsConfig, seed: Path | None) -> list[str]:
    """Create every file-drop folder; on a first run copy the seed plans into each inbox.

    Returns the names of the plan files it copied.
    """
    from adapters.writeback.config import FilesDestination, outbound_of

    copied: list[str] = []
    for integ in config.integrations:
        inbound = integ.inbound
        if isinstance(inbound, FilesInbound):
            for d in (inbound.inbox, inbound.archive, inbound.error):
                d.mkdir(parents=True, exist_ok=True)
            marker = inbound.inbox / ".seeded"
            if seed is not None and seed.is_dir() and not marker.exists():
                for plan in sorted(seed.glob(inbound.pattern)):
                    shutil.copy2(plan, inbound.inbox / plan.name)
                    copied.append(plan.name)
                marker.write_text("the example plans were copied here once\n")
        outbound = outbound_of(integ)
        for dest in outbound.destinations if outbound else ():
            if isinstance(dest, FilesDestination):
                dest.outbox.mkdir(parents=True, exist_ok=True)
    return copied


RUN_TOKEN_PREFIX = "run."
_LEGACY_RUN_NAME = re.compile(r"^(operator|supervisor)-\d{8}-\d{6}$")  # before the run. tag


def is_run_token(token_name: str, name: str) -> bool:
    """Whether a token is one a `floorledger run` minted as ``name`` (this or an older run)."""
    if token_name.startswith(f"{RUN_TOKEN_PREFIX}{name}-"):
        return True
    m = _LEGACY_RUN_NAME.match(token_name)
    return m is not None and m.group(1) == name


def operator_token(settings: ApiSettings, name: str, role: str) -> str:
    """Revoke the tokens earlier runs minted as ``name``, then mint a fresh one.

    The new token is named ``run.<name>-<time>`` (names are never reused, revoked or not), so
    live tokens do not pile up with every restart.
    """
    tokens = TokenStore(settings, cache_seconds=0)
    try:
        tokens.setup()
        for old in tokens.list():
            if old.active and is_run_token(old.name, name):
                tokens.revoke(old.name)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        taken = {t.name for t in tokens.list()}
        token_name, n = f"{RUN_TOKEN_PREFIX}{name}-{stamp}", 1
        while token_name in taken:  # two starts within one second
            n += 1
            token_name = f"{RUN_TOKEN_PREFIX}{name}-{stamp}-{n}"
        _, secret = tokens.create(token_name, role)
        return secret
    finally:
        tokens.close()


def load(config_path: Path | None) -> IntegrationsConfig | None:
    if config_path is None:
        return None
    os.environ["FLOORLEDGER_CONFIG"] = str(config_path)  # the API's writeback routes read it
    return load_config(config_path)


DEMO_OPERATOR = ("anna", "1001", "1234")


def demo_operator_for(settings: ApiSettings, *, create: bool) -> str | None:
    """The demo operator to try the terminal with (added with the demo order): how to sign on
    as them, or None when there is none."""
    from adapters.terminals import TerminalStore

    name, badge, pin = DEMO_OPERATOR
    store = TerminalStore(settings)
    try:
        store.setup()
        if create and name not in {o.name for o in store.operators(include_removed=True)}:
            store.add_operator(name, badge=badge, pin=pin)
        if name not in {o.name for o in store.operators()}:
            return None
        return f"{name}: badge {badge} or PIN {pin}"
    finally:
        store.close()
