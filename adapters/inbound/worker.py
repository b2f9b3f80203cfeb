"""The sync worker: every configured integration pulled on its timer, every queue consumed.

``run_once`` does one pass per integration and says what changed; ``run_forever`` runs a
timer thread per polled integration and a consumer thread per AMQP integration until
stopped. A pass that fails on a transient error (the ERP or the store unreachable) is
retried with exponential backoff (tenacity); nothing an integration does can stop the
worker or another integration. Each pass is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_any,
    stop_when_event_set,
    wait_exponential,
)

from adapters.config import (
    AmqpInbound,
    ConfigError,
    FilesInbound,
    Integration,
    IntegrationsConfig,
    RestInbound,
    SqlInbound,
    TrytonInbound,
    ValueMaps,
)
from adapters.inbound import amqp, rest, sql, tryton_source
from adapters.inbound.files import Inbox, total
from adapters.inbound.sniff import Sniffer, default_fetch, running_orders
from adapters.inbound.sync import SourceUnavailable, SyncSummary, open_orders_in_ledger
from adapters.mapping import MappingCheck
from adapters.redact import redact_text
from domain.ledger import Ledger

log = logging.getLogger("floorledger.sync")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def _transient(exc: BaseException) -> bool:
    """Worth retrying soon: anything but a configuration mistake or a programming error."""
    return not isinstance(exc, ConfigError | ValueError | TypeError | AttributeError)


# What a pass did to an order, one log line each (unchanged orders are not logged).
_OUTCOMES = (
    ("released", "released"),
    ("changed", "changed by the ERP"),
    ("conflicts", "conflict raised (a supervisor decides)"),
    ("cancelled", "cancelled by the ERP"),
)


def log_summary(summary: SyncSummary) -> None:
    """Log one pass: each release, change, conflict raised and cancellation on its own info
    line, then the counts; each warning and error at warning level. A pass that found
    nothing new logs its counts at debug level only (an idle worker is quiet)."""
    busy = any(getattr(summary, name) for name, _ in _OUTCOMES)
    busy = busy or bool(summary.not_released or summary.warnings or summary.errors)
    for name, what in _OUTCOMES:
        for order_no in getattr(summary, name):
            log.info("sync %s: order %s %s", summary.integration, order_no, what)
    log.log(logging.INFO if busy else logging.DEBUG, "sync %s", summary.line())
    for order_no, reason in summary.reasons.items():
        log.info("sync %s: order %s not released: %s", summary.integration, order_no, reason)
    for w in summary.warnings:
        log.warning("sync %s: warning: %s", summary.integration, w)
    for e in summary.errors:
        log.warning("sync %s: error: %s", summary.integration, e)


class Worker:
    """Runs the integrations of one configuration against one ledger."""

    def __init__(
        self,
        config: IntegrationsConfig,
        ledger: Ledger,
        *,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        on_pass: Callable[[SyncSummary], None] | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.on_pass = on_pass
        self._sniffers: dict[str, Sniffer] = {}
        self._inboxes: dict[str, Inbox] = {}
        self.sources: dict[str, amqp.AmqpSource] = {}

    def selected(self, name: str | None = None) -> list[Integration]:
        """Every integration, or only the named one (ConfigError when unknown)."""
        return [self.config.get(name)] if name else list(self.config.integrations)

    def _open_orders(self, integration: Integration) -> Callable[[], Iterable[str]] | None:
        if not integration.full_plan:
            return None
        return lambda: open_orders_in_ledger(self.ledger, integration.name)

    def _inbox(self, integration: Integration) -> Inbox:
        inbox = self._inboxes.get(integration.name)
        if inbox is None:
            inbox = Inbox(integration)
            inbox.ensure_dirs()
            inbox.recover()
            self._inboxes[integration.name] = inbox
        return inbox

    def sniffer(self, integration: Integration) -> Sniffer:
        """The mode-A poller of an integration (kept between passes: it remembers the answer)."""
        sniffer = self._sniffers.get(integration.name)
        if sniffer is None:
            sniffer = self._sniffers[integration.name] = Sniffer(integration)
        return sniffer

    def pull(self, integration: Integration) -> SyncSummary:
        """One pass of one integration; raises when its source or the store is unavailable."""
        inbound = integration.inbound
        open_orders = self._open_orders(integration)
        if integration.mode == "A":
            return self.sniffer(integration).poll(self.ledger)
        if isinstance(inbound, FilesInbound):
            inbox = self._inbox(integration)
            return total(inbox.poll(self.ledger, open_orders=open_orders), integration.name)
        if isinstance(inbound, RestInbound):
            return rest.sync(integration, self.ledger, open_orders=open_orders)
        if isinstance(inbound, SqlInbound):
            return sql.sync(integration, self.ledger, open_orders=open_orders)
        if isinstance(inbound, TrytonInbound):
            return tryton_source.sync(integration, self.ledger, open_orders=open_orders)
        source = amqp.AmqpSource(integration, self.ledger)
        try:
            return source.drain()
        finally:
            source.close()

    def guarded_pass(self, integration: Integration) -> SyncSummary:
        """One pass that never raises: a failure is the summary's error."""
        try:
            summary = self.pull(integration)
        except Exception as exc:
            log.exception("sync %s: pass failed", integration.name)
            summary = SyncSummary(integration.name)
            summary.errors.append(_describe(exc))
        self._passed(summary)
        return summary

    def _passed(self, summary: SyncSummary) -> None:
        log_summary(summary)
        if self.on_pass is not None:
            try:
                self.on_pass(summary)
            except Exception:
                log.exception("sync %s: on_pass callback failed", summary.integration)

    def run_once(self, name: str | None = None) -> dict[str, SyncSummary]:
        """One pass of every integration (or the named one), in configuration order."""
        return {i.name: self.guarded_pass(i) for i in self.selected(name)}

    # -- long-running ----------------------------------------------------------------------

    def _retrying(self, stop: threading.Event, limit: float | None) -> Retrying:
        def pause(seconds: float) -> None:
            stop.wait(seconds)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            log.warning("sync: %s; retrying in %.1f s", _describe(exc), wait)

        return Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential(multiplier=self.backoff_first, max=self.backoff_max),
            stop=stop_any(stop_when_event_set(stop), stop_after_delay(limit))
            if limit
            else stop_when_event_set(stop),
            sleep=pause,
            before_sleep=before_sleep,
            reraise=True,
        )

    def poll_loop(self, integration: Integration, stop: threading.Event) -> None:
        """Pass after pass on the integration's timer; failures back off, then retry."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                summary = self._retrying(stop, integration.poll_seconds)(self.pull, integration)
            except Exception as exc:
                if stop.is_set():
                    break
                log.error("sync %s: pass failed: %s", integration.name, _describe(exc))
                summary = SyncSummary(integration.name)
                summary.errors.append(_describe(exc))
            self._passed(summary)
            stop.wait(max(0.0, integration.poll_seconds - (time.monotonic() - started)))

    def consume_loop(self, integration: Integration, stop: threading.Event) -> None:
        """Consume the integration's queue until stopped; reconnect with backoff on errors."""
        source = amqp.AmqpSource(integration, self.ledger)
        self.sources[integration.name] = source
        try:
            while not stop.is_set():
                try:
                    self._retrying(stop, None)(source.consume, stop, on_message=self._passed)
                except Exception as exc:
                    if not stop.is_set():
                        log.error("sync %s: consumer stopped: %s", integration.name, exc)
                        stop.wait(self.backoff_max)
        finally:
            source.close()

    def run_forever(self, stop: threading.Event) -> None:
        """Run every integration until ``stop`` is set; returns when all threads ended."""
        threads = []
        for integ in self.config.integrations:
            consumer = isinstance(integ.inbound, AmqpInbound) and integ.mode != "A"
            target = self.consume_loop if consumer else self.poll_loop
            thread = threading.Thread(
                target=target, args=(integ, stop), name=f"sync-{integ.name}", daemon=True
            )
            threads.append(thread)
        for thread in threads:
            thread.start()
        log.info("sync: %d integration(s) running", len(threads))
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=1.0)
        log.info("sync: stopped")


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, SourceUnavailable | ConfigError):
        return redact_text(str(exc))
    return redact_text(f"{type(exc).__name__}: {exc}")


def run_once(
    config: IntegrationsConfig, ledger: Ledger, integration: str | None = None
) -> dict[str, SyncSummary]:
    """One pass of every configured integration (or the named one): what changed in each."""
    return Worker(config, ledger).run_once(integration)


def run_forever(
    config: IntegrationsConfig, ledger: Ledger, stop_event: threading.Event, **kw: Any
) -> None:
    """Run every integration (timers and queue consumers) until ``stop_event`` is set."""
    Worker(config, ledger, **kw).run_forever(stop_event)


# ---------------------------------------------------------------------------- mapping check


def check_integration(integration: Integration) -> MappingCheck:
    """Read what the ERP currently delivers (without importing it) and collect the values
    the maps do not cover."""
    check = MappingCheck(integration.maps)
    inbound = integration.inbound
    if integration.mode == "A":
        unmapped = integration.model_copy(update={"maps": ValueMaps()})
        points, _ = running_orders(unmapped, default_fetch(integration)())
        for point, running in points.items():
            check.orders_seen += 1
            check.see("work_centre", point, running.order_no or "")
        return check
    if isinstance(inbound, RestInbound):
        rest.read(integration, check=check)
    elif isinstance(inbound, SqlInbound):
        sql.read(integration, check=check)
    elif isinstance(inbound, FilesInbound):
        inbox = Inbox(integration)
        for path in _inbox_files(inbox):
            inbox.read(path, check=check)
    elif isinstance(inbound, TrytonInbound):
        tryton_source.mapped_plan(integration, tryton_source.fetch_plan(integration), check=check)
    else:
        amqp.peek(integration, check)
    return check


def _inbox_files(inbox: Inbox) -> list[Path]:
    folder = inbox.config.inbox
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not inbox.skipped(p.name))


__all__ = [
    "BACKOFF_MAX",
    "Worker",
    "check_integration",
    "log_summary",
    "run_forever",
    "run_once",
]
