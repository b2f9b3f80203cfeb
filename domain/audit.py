"""Audit verification: every stored event's hash chain and version sequence."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from domain.chain import GENESIS, recompute


@dataclass(frozen=True)
class AuditFinding:
    """An event that was altered or is missing."""

    aggregate: str
    version: int
    problem: str


@dataclass
class AuditReport:
    events: int = 0
    aggregates: int = 0
    findings: list[AuditFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_store(
    app: Application[UUID],
    *,
    batch: int = 1000,
    seen: Mapping[UUID, tuple[str, int]] | None = None,
    seen_by: str = "a reader",
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Walk the whole store and check every aggregate's hash chain and version sequence.

    ``seen`` maps aggregate ids to (label, the highest version a reader such as a view
    has seen): events beyond what is stored were removed, which the chain alone cannot
    show when they were an aggregate's last ones. ``progress(position, head)`` is called
    after each batch.
    """
    report = AuditReport()
    heads: dict[UUID | str, tuple[str, int, str]] = {}
    head = app.recorder.max_notification_id() or 0
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, batch)
        if not notifications:
            break
        for n in notifications:
            report.events += 1
            label, last_version, last_hash = heads.get(
                n.originator_id, (str(n.originator_id), 0, GENESIS)
            )
            try:
                event = app.mapper.to_domain_event(n)
            except Exception as exc:  # a row edited by hand may not even decode
                report.findings.append(
                    AuditFinding(label, n.originator_version, f"altered: unreadable ({exc})")
                )
                heads[n.originator_id] = (label, n.originator_version, last_hash)
                continue
            order_no = getattr(event, "order_no", None) or getattr(event, "name", None)
            if order_no and label == str(n.originator_id):
                label = str(order_no)
            _check_event(report, label, last_version, last_hash, event)
            chain_hash = str(getattr(event, "chain_hash", ""))
            heads[n.originator_id] = (label, event.originator_version, chain_hash)
        start = notifications[-1].id + 1
        if progress is not None:
            progress(notifications[-1].id, max(head, notifications[-1].id))
    report.aggregates = len(heads)
    for aggregate_id, (label, version) in (seen or {}).items():
        stored = heads.get(aggregate_id, (label, 0, ""))[1]
        if version > stored:
            missing = (
                f"version {version}"
                if version == stored + 1
                else f"versions {stored + 1}–{version}"
            )
            report.findings.append(
                AuditFinding(label, stored + 1, f"missing: {missing} (seen by {seen_by})")
            )
    return report


def verify_aggregate(app: Application[UUID], oid: UUID, label: str) -> AuditReport | None:
    """Check one aggregate's hash chain and version sequence; None when it has no events."""
    report = AuditReport(aggregates=1)
    last_version, last_hash = 0, GENESIS
    stored = app.events.recorder.select_events(oid)
    if not stored:
        return None
    for s in stored:
        report.events += 1
        try:
            event = app.mapper.to_domain_event(s)
        except Exception as exc:
            report.findings.append(
                AuditFinding(label, s.originator_version, f"altered: unreadable ({exc})")
            )
            last_version = s.originator_version
            continue
        _check_event(report, label, last_version, last_hash, event)
        last_version = event.originator_version
        last_hash = str(getattr(event, "chain_hash", ""))
    return report


def _check_event(
    report: AuditReport, label: str, last_version: int, last_hash: str, event: Any
) -> None:
    version = event.originator_version
    if version != last_version + 1:
        if version <= last_version:
            report.findings.append(AuditFinding(label, version, "out of sequence"))
        else:
            missing = (
                f"version {last_version + 1}"
                if version == last_version + 2
                else f"versions {last_version + 1}–{version - 1}"
            )
            report.findings.append(AuditFinding(label, last_version + 1, f"missing: {missing}"))
            return  # the chain cannot be checked across the gap
    stored_hash = getattr(event, "chain_hash", None)
    if stored_hash is None:
        report.findings.append(AuditFinding(label, version, "altered: no chain hash"))
    elif recompute(last_hash, event) != stored_hash:
        report.findings.append(
            AuditFinding(label, version, "altered: content does not match its chain hash")
        )


__all__ = ["AuditFinding", "AuditReport", "verify_aggregate", "verify_store"]
