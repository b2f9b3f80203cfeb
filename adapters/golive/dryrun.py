"""Dry runs: what a sync pass or a writeback pass would do, with nothing recorded or sent.

A dry sync reads the ERP the way the mapping check does (inbox files are read where they
lie, never claimed or moved) and applies what it read with the shared import semantics
(``apply_batch``) to a :class:`DryRunLedger`: the real domain decisions run on copies of
the stored orders, and their events are shown instead of saved. A dry writeback builds the
messages a destination's backlog would send, from its current position, without sending
them or moving the position.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from adapters.config import FilesInbound, Integration, RestInbound, SqlInbound, TrytonInbound
from adapters.golive.ledger_port import DryRunLedger, PendingEvent
from adapters.inbound.files import Inbox, is_temporary
from adapters.inbound.sync import SyncSummary, apply_batch, apply_mapping, open_orders_in_ledger
from adapters.mapping import MappingCheck, MappingResult
from domain.ledger import Ledger


class DryRunUnsupported(Exception):
    """The integration's source cannot be read without consuming it."""


@dataclass
class DrySync:
    """What one integration's sync pass would do."""

    integration: str
    summary: SyncSummary
    events: list[PendingEvent] = field(default_factory=list)
    check: MappingCheck | None = None

    def changes(self) -> list[dict[str, Any]]:
        """Every field change that would apply: order, field, old, new."""
        out = []
        for e in self.events:
            if e.event == "ChangedInErp":
                for c in e.details["changes"]:
                    out.append({"order_no": e.order_no, **_plain(c)})
        return out

    def conflicts(self) -> list[dict[str, Any]]:
        """Every conflict that would be raised: order, field, ERP value, floor value."""
        return [
            {"order_no": e.order_no, **_plain(e.details)}
            for e in self.events
            if e.event == "ConflictRaised"
        ]

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "integration": self.integration,
            "counts": s.counts(),
            "released": s.released,
            "changed": self.changes(),
            "conflicts": self.conflicts(),
            "cancelled": s.cancelled,
            "not_released": s.not_released,
            "warnings": s.warnings,
            "errors": s.errors,
        }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | None) else str(v) for k, v in d.items()
    }


def inbox_files(inbound: FilesInbound) -> list[Path]:
    """The plan files a sync pass would import: the inbox's (and any left in processing)."""
    found: list[Path] = []
    for folder in (inbound.inbox, inbound.processing_dir):
        if folder.is_dir():
            found.extend(
                p for p in folder.glob(inbound.pattern) if p.is_file() and not is_temporary(p.name)
            )
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def read_plan(
    integration: Integration, check: MappingCheck | None = None
) -> list[MappingResult] | tuple[Any, Any]:
    """What the ERP delivers now, read without consuming it (one result per inbox file)."""
    inbound = integration.inbound
    if integration.mode == "A":
        raise DryRunUnsupported(
            f"{integration.name}: order sniffing (mode A) has no dry run; "
            "use `floorledger mapping check`"
        )
    if isinstance(inbound, FilesInbound):
        inbox = Inbox(integration)
        return [inbox.read(p, check=check) for p in inbox_files(inbound)]
    if isinstance(inbound, RestInbound):
        from adapters.inbound import rest

        return [rest.read(integration, check=check)]
    if isinstance(inbound, SqlInbound):
        from adapters.inbound import sql

        return [sql.read(integration, check=check)]
    if isinstance(inbound, TrytonInbound):
        from adapters.inbound import tryton_source

        plan = tryton_source.fetch_plan(integration)
        return plan, tryton_source.mapped_plan(integration, plan, check=check)
    raise DryRunUnsupported(
        f"{integration.name}: a message queue cannot be read without consuming it; "
        "use `floorledger mapping check` (it peeks and leaves the messages queued)"
    )


def dry_sync(integration: Integration, ledger: Ledger) -> DrySync:
    """What one sync pass of the integration would do now; nothing is recorded or moved."""
    dry = DryRunLedger(ledger)
    as_ledger = cast(Ledger, dry)  # it answers every Ledger method the import semantics call
    check = MappingCheck(integration.maps)
    open_orders: Callable[[], Iterable[str]] | None = None
    if integration.full_plan:
        open_orders = lambda: open_orders_in_ledger(as_ledger, integration.name)  # noqa: E731
    read = read_plan(integration, check)
    summary = SyncSummary(integration.name)
    if isinstance(read, tuple):
        plan, (orders, errors) = read
        summary = apply_batch(
            integration,
            as_ledger,
            orders,
            cancelled=sorted(plan.cancelled),
            errors=errors,
            open_orders=open_orders,
            bulk=True,
        )
    else:
        bulk = not isinstance(integration.inbound, FilesInbound)
        for result in read:
            summary.merge(
                apply_mapping(integration, as_ledger, result, open_orders=open_orders, bulk=bulk)
            )
    return DrySync(integration.name, summary, dry.pending, check)


# ---------------------------------------------------------------------------- writeback


@dataclass
class DryWriteback:
    """The messages one destination's backlog would send now."""

    destination: str
    position: int
    head: int
    messages: list[Any] = field(default_factory=list)

    def to_json(self, samples: int | None = None) -> dict[str, Any]:
        shown = self.messages if samples is None else self.messages[:samples]
        by_kind: dict[str, int] = {}
        for m in self.messages:
            by_kind[m.kind] = by_kind.get(m.kind, 0) + 1
        return {
            "destination": self.destination,
            "position": self.position,
            "head": self.head,
            "count": len(self.messages),
            "by_kind": by_kind,
            "messages": [m.to_json() for m in shown],
        }


def dry_writeback(ledger: Ledger, config: Any, destination: str) -> DryWriteback:
    """Build the destination's messages from its position to the ledger's head; send none,
    move nothing. Orders parked at the destination are shown as they would be held."""
    from adapters.writeback.pump import Pump

    pump = Pump(ledger, config, [destination])
    try:
        if destination in pump.skipped:
            raise KeyError(f"{destination}: {pump.skipped[destination]}")
        dp = pump.get(destination)
        start = pump.state.position(destination)
        head = int(ledger.recorder.max_notification_id() or 0)
        out = DryWriteback(destination, start, head)
        at = start
        while at < head:
            notes = ledger.recorder.select_notifications(at + 1, dp.outbound.scan_size)
            if not notes:
                break
            out.messages.extend(dp.messages(notes))
            at = int(notes[-1].id)
        return out
    finally:
        for p in pump.pumps.values():
            p.close()
        pump.state.close()


def write_messages(result: DryWriteback, folder: Path) -> list[Path]:
    """Each message as a JSON file in ``folder/<destination>/`` (position-ordered names)."""
    target = folder / result.destination
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in result.messages:
        path = target / f"{m.position:010d}-{m.version:04d}-{m.kind}.json"
        path.write_text(
            json.dumps(m.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


__all__ = [
    "DryRunUnsupported",
    "DrySync",
    "DryWriteback",
    "dry_sync",
    "dry_writeback",
    "inbox_files",
    "read_plan",
    "write_messages",
]
