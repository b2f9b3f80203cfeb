"""What the terminal page shows, read from the views and the order's history (no writes:
every action goes through the JSON API, see ``api/static/terminal.js``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.reasons import ReasonCatalogue
from adapters.terminals import Terminal
from api.pages.formatting import dec as _d
from api.pages.formatting import num
from domain import Ledger, OrderNotFoundError
from projections import ViewReader

CANCELLED_ORDERS_SHOWN = 20
HISTORY_SHOWN = 8
OPEN_STATES = ("not_started", "running", "paused")

WARNING_LABELS = {
    "over_quantity": "Over quantity",
    "unknown_operation": "Off routing",
    "order_cancelled": "Cancelled order",
    "order_completed": "Completed order",
    "unknown_reason_code": "Unknown reason code",
    "backdated": "Back-dated time",
}


@dataclass
class QueueItem:
    """An operation waiting at (or running on) one of the terminal's work centres."""

    integration: str
    order_no: str
    op_id: str
    op_name: str
    work_centre: str
    part_no: str
    description: str
    quantity: Decimal
    unit: str
    due_date: str | None
    priority: int
    op_state: str
    setup_time: Decimal
    run_time_per_unit: Decimal
    good: Decimal
    cancelled: bool = False
    conflicted: bool = False
    selected: bool = False

    @property
    def key(self) -> str:
        return f"{self.integration}/{self.order_no}/{self.op_id}"

    @property
    def standard_minutes(self) -> Decimal:
        return self.setup_time + self.run_time_per_unit * self.quantity


@dataclass
class Alert:
    """What the supervisor must know, shown where the operator sees it (never a block)."""

    kind: str  # cancelled, conflict, warning
    text: str


@dataclass
class ReportDraft:
    """Times and amounts captured since the operation's last report (to confirm or adjust)."""

    started_at: datetime | None
    ended_at: datetime
    good: Decimal
    scrap: dict[str, Decimal]
    rework: Decimal
    last_report_at: datetime | None


@dataclass
class HistoryLine:
    when: datetime
    actor: str
    summary: str


@dataclass
class Panel:
    """The selected operation: its order, progress, timer, alerts and recent history."""

    item: QueueItem
    order_state: str
    mode: str | None
    state: str
    run_seconds: float
    running_since: str | None
    standard_minutes: Decimal
    good: Decimal
    scrap: dict[str, Decimal]
    scrap_labels: dict[str, str]
    rework: Decimal
    quantity: Decimal
    unit: str
    pause_reason: str | None
    alerts: list[Alert] = field(default_factory=list)
    history: list[HistoryLine] = field(default_factory=list)
    report: ReportDraft | None = None

    @property
    def scrap_total(self) -> Decimal:
        return sum(self.scrap.values(), Decimal(0))

    @property
    def reports(self) -> bool:
        """Whether the operator reports to the ERP by hand (modes C and E)."""
        return self.mode in ("C", "E")


def queue(reader: ViewReader, terminal: Terminal) -> list[QueueItem]:
    """The released orders' operations at the terminal's work centres, in working order
    (due date, priority), with cancelled orders' open operations and conflicts flagged."""
    open_conflicts = reader.conflicts(open_only=True)
    conflicted = {(c.integration, c.order_no) for c in open_conflicts if not _cancels(c)}
    cancelling = {(c.integration, c.order_no) for c in open_conflicts if _cancels(c)}
    items: list[QueueItem] = []
    for wc in terminal.work_centres:
        for e in reader.plan(wc).entries:
            if e.op_state == "completed":
                continue
            items.append(
                QueueItem(
                    e.integration,
                    e.order_no,
                    e.op_id,
                    e.op_name,
                    wc,
                    e.part_no,
                    e.description,
                    e.quantity,
                    e.unit,
                    e.due_date,
                    e.priority,
                    e.op_state,
                    e.setup_time,
                    e.run_time_per_unit,
                    e.good,
                    cancelled=(e.integration, e.order_no) in cancelling,
                    conflicted=(e.integration, e.order_no) in conflicted,
                )
            )
    for summary in reader.orders(state="cancelled", limit=CANCELLED_ORDERS_SHOWN):
        status = reader.status(summary.order_no, summary.integration)
        if status is None:
            continue
        for op in status.operations:
            if op.work_centre in terminal.work_centres and op.state in ("running", "paused"):
                items.append(
                    QueueItem(
                        status.integration,
                        status.order_no,
                        op.op_id,
                        op.name,
                        op.work_centre,
                        status.part_no,
                        status.description,
                        status.quantity,
                        status.unit,
                        status.due_date,
                        status.priority,
                        op.state,
                        Decimal(0),
                        Decimal(0),
                        op.good,
                        cancelled=True,
                        conflicted=(status.integration, status.order_no) in conflicted,
                    )
                )
    items.sort(key=lambda i: (i.due_date is None, i.due_date or "", i.priority, i.order_no))
    return items


def _cancels(conflict: Any) -> bool:
    """Whether a conflict is the ERP cancelling an order the floor has started."""
    return conflict.field == "status" and str(conflict.erp_value) == "cancelled"


def pick(items: list[QueueItem], wanted: str | None) -> QueueItem | None:
    """The operation asked for, else the first running or paused one."""
    for item in items:
        if wanted and item.key == wanted:
            return item
    if wanted:
        return None
    for item in items:
        if item.op_state in ("running", "paused"):
            return item
    return None


def panel(
    reader: ViewReader,
    ledger: Ledger,
    reasons: ReasonCatalogue,
    mode: str | None,
    item: QueueItem,
) -> Panel | None:
    """The selected operation's panel; None when the order is gone."""
    status = reader.status(item.order_no, item.integration)
    if status is None:
        return None
    op = next((o for o in status.operations if o.op_id == item.op_id), None)
    if op is None:
        return None
    integ = item.integration
    alerts: list[Alert] = []
    if status.state == "cancelled":
        alerts.append(
            Alert("cancelled", "ERP cancelled this order — what you record is kept, with a warning")
        )
    for c in reader.conflicts(open_only=True, integration=integ, order_no=item.order_no):
        if _cancels(c):
            alerts.append(Alert("cancelled", "ERP cancelled this order — supervisor reviewing"))
            continue
        shown = num(c.erp_value) if c.field == "quantity" else c.erp_value
        alerts.append(
            Alert("conflict", f"ERP changed the {c.field} to {shown} — supervisor reviewing")
        )
    for w in reader.warnings(True, integration=integ, order_no=item.order_no, limit=5):
        label = WARNING_LABELS.get(w.code, w.code.replace("_", " "))
        alerts.append(Alert("warning", f"{label}: {w.message}"))
    try:
        entries = ledger.history(item.order_no, integration=integ)
    except OrderNotFoundError:
        entries = []
    mine = [e for e in entries if e.details.get("op_id") == item.op_id]
    pause_reason = None
    for e in mine:
        if e.event == "OperationPaused":
            pause_reason = reasons.label(integ, "stop", str(e.details.get("reason_code", "")))
    history = [
        HistoryLine(e.occurred_at or e.recorded_at, e.actor_id, describe(e, reasons, integ))
        for e in reversed(mine[-HISTORY_SHOWN:])
    ]
    scrap = {k: _d(v) for k, v in op.scrap.items()}
    return Panel(
        item=item,
        order_state=status.state,
        mode=mode,
        state=op.state,
        run_seconds=op.run_seconds,
        running_since=op.running_since,
        standard_minutes=_d(op.standard_minutes),
        good=_d(op.good),
        scrap=scrap,
        scrap_labels={k: reasons.label(integ, "scrap", k) for k in scrap},
        rework=_d(op.rework),
        quantity=_d(status.quantity),
        unit=status.unit,
        pause_reason=pause_reason if op.state == "paused" else None,
        alerts=alerts,
        history=history,
        report=report_draft(mine) if mode in ("C", "E") else None,
    )


def describe(entry: Any, reasons: ReasonCatalogue, integration: str) -> str:
    """What happened, as the operator reads it: reasons by label."""
    d = entry.details
    if entry.event == "OperationPaused":
        return f"paused: {reasons.label(integration, 'stop', str(d.get('reason_code')))}"
    if entry.event == "QuantityReported":
        parts = [f"good {num(d.get('good'))}"] if _d(d.get("good")) else []
        if _d(d.get("scrap")):
            label = reasons.label(integration, "scrap", str(d.get("scrap_reason") or ""))
            parts.append(f"scrap {num(d.get('scrap'))} ({label})")
        if _d(d.get("rework")):
            parts.append(f"rework {num(d.get('rework'))}")
        return "reported " + ", ".join(parts)
    if entry.event == "ReportSubmitted":
        scrap = ", ".join(
            f"{reasons.label(integration, 'scrap', k)} {num(v)}"
            for k, v in (d.get("scrap") or {}).items()
        )
        return f"report {d.get('report_id')}: good {num(d.get('good'))}" + (
            f", scrap {scrap}" if scrap else ""
        )
    return str(entry.summary)


def report_draft(entries: list[Any]) -> ReportDraft:
    """Amounts captured on the operation minus those already reported; times from the end of
    the last report (or the first start) to now."""
    good, rework = Decimal(0), Decimal(0)
    scrap: dict[str, Decimal] = {}
    started: datetime | None = None
    last_report: datetime | None = None
    for e in entries:
        d = e.details
        if e.event == "OperationStarted" and started is None:
            started = e.occurred_at or e.recorded_at
        elif e.event == "QuantityReported":
            good += _d(d.get("good"))
            rework += _d(d.get("rework"))
            if _d(d.get("scrap")):
                reason = str(d.get("scrap_reason") or "")
                scrap[reason] = scrap.get(reason, Decimal(0)) + _d(d.get("scrap"))
        elif e.event == "ReportSubmitted":
            good -= _d(d.get("good"))
            rework -= _d(d.get("rework"))
            for reason, q in (d.get("scrap") or {}).items():
                scrap[reason] = scrap.get(reason, Decimal(0)) - _d(q)
            started = last_report = d.get("ended_at")
    return ReportDraft(
        started_at=started,
        ended_at=datetime.now(UTC).replace(microsecond=0),
        good=max(good, Decimal(0)),
        scrap={k: v for k, v in scrap.items() if v > 0},
        rework=max(rework, Decimal(0)),
        last_report_at=last_report,
    )
