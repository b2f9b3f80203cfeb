"""The picture of an order's time, drawn on the server as SVG: per operation, bars for its
running and paused periods on one time axis, the pause reason in each bar's title and in the
legend, and the actual run time beside the standard. The periods come from the recorded
events (their floor times), so the picture shows exactly what the audit trail holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from api.pages.formatting import minutes

RUN, PAUSE = "run", "pause"
WIDTH, LABEL_W, SIDE_W, ROW_H, TOP = 1000, 150, 230, 34, 28
RUN_FILL, PAUSE_FILL = "#1a6b32", "#8a4700"  # WCAG AA against white and as text colour


@dataclass(frozen=True)
class Period:
    """One running or paused stretch of an operation."""

    op_id: str
    kind: str  # run or pause
    start: datetime
    end: datetime
    open: bool  # still running or paused now
    reason: str = ""


def periods(entries: list[Any], now: datetime) -> list[Period]:
    """Running and paused periods per operation from the order's history entries."""
    out: list[Period] = []
    current: dict[str, tuple[str, datetime, str]] = {}
    for e in entries:
        op = (e.details or {}).get("op_id")
        if op is None:
            continue
        at = e.occurred_at or e.recorded_at
        name = e.event
        if name in ("OperationPaused", "OperationResumed", "OperationCompleted") and op in current:
            kind, since, reason = current.pop(op)
            out.append(Period(str(op), kind, since, at, False, reason))
        if name in ("OperationStarted", "OperationResumed"):
            current[op] = (RUN, at, "")
        elif name == "OperationPaused":
            current[op] = (PAUSE, at, str(e.details.get("reason_code") or ""))
    for op, (kind, since, reason) in current.items():
        out.append(Period(str(op), kind, since, max(now, since), True, reason))
    return out


def _x(at: datetime, t0: datetime, span: float) -> float:
    return LABEL_W + (at - t0).total_seconds() / span * (WIDTH - LABEL_W - SIDE_W)


def svg(
    ops: list[Any], found: list[Period], reason_labels: dict[str, str], now: datetime
) -> Markup:
    """The SVG picture (safe markup): one row per operation of ``ops`` (OperationStatus)."""
    rows = [o.op_id for o in ops] + sorted({p.op_id for p in found} - {o.op_id for o in ops})
    by_op = {o.op_id: o for o in ops}
    height = TOP + ROW_H * max(1, len(rows)) + 64
    t0 = min((p.start for p in found), default=now)
    t1 = max((p.end for p in found), default=now + timedelta(minutes=1))
    span = max((t1 - t0).total_seconds(), 60.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-labelledby="tl-title" data-start="{t0.isoformat()}" data-seconds="{span:.0f}">',
        '<title id="tl-title">Running and paused periods per operation</title>',
    ]
    # the time axis: five ticks, local times
    for i in range(5):
        at = t0 + timedelta(seconds=span * i / 4)
        x = _x(at, t0, span)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{TOP + ROW_H * len(rows)}" '
            'stroke="#b8c0c8" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{TOP - 10}" font-size="12" fill="#1a1a1a" '
            f'text-anchor="middle">{at.astimezone().strftime("%H:%M:%S")}</text>'
        )
    for i, op_id in enumerate(rows):
        y = TOP + i * ROW_H
        op = by_op.get(op_id)
        name = f"{op_id} {op.name}" if op is not None and op.name else op_id
        parts.append(
            f'<text x="4" y="{y + 21}" font-size="14" fill="#1a1a1a">{escape(name[:20])}</text>'
        )
        for p in (p for p in found if p.op_id == op_id):
            x0, x1 = _x(p.start, t0, span), _x(p.end, t0, span)
            fill = RUN_FILL if p.kind == RUN else PAUSE_FILL
            label = reason_labels.get(p.reason, p.reason)
            what = "running" if p.kind == RUN else f"paused: {label}"
            until = "now" if p.open else p.end.astimezone().strftime("%H:%M:%S")
            tip = f"{op_id} {what}, {p.start.astimezone().strftime('%H:%M:%S')}–{until}"
            parts.append(
                f'<rect class="bar bar-{p.kind}" data-op="{escape(op_id)}" data-kind="{p.kind}" '
                f'data-reason="{escape(p.reason)}" data-start="{p.start.isoformat()}" '
                f'data-end="{p.end.isoformat()}" data-open="{str(p.open).lower()}" '
                f'x="{x0:.1f}" y="{y + 6}" width="{max(x1 - x0, 2.0):.1f}" height="{ROW_H - 12}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
        if op is not None:
            actual = Decimal(str(op.run_seconds)) / 60
            side = f"actual {minutes(actual)} min · standard {minutes(op.standard_minutes)} min"
            parts.append(
                f'<text class="actual" data-op="{escape(op_id)}" x="{WIDTH - SIDE_W + 10}" '
                f'y="{y + 21}" font-size="13" fill="#1a1a1a">{escape(side)}</text>'
            )
    # the legend: what the colours mean, and every pause reason shown
    ly = TOP + ROW_H * len(rows) + 22
    parts.append(
        f'<rect x="{LABEL_W}" y="{ly - 11}" width="14" height="14" fill="{RUN_FILL}"/>'
        f'<text x="{LABEL_W + 20}" y="{ly + 1}" font-size="13" fill="#1a1a1a">running</text>'
        f'<rect x="{LABEL_W + 100}" y="{ly - 11}" width="14" height="14" fill="{PAUSE_FILL}"/>'
        f'<text x="{LABEL_W + 120}" y="{ly + 1}" font-size="13" fill="#1a1a1a">paused</text>'
    )
    reasons = sorted({p.reason for p in found if p.kind == PAUSE and p.reason})
    if reasons:
        text = "Pause reasons: " + "; ".join(f"{r} = {reason_labels.get(r, r)}" for r in reasons)
        parts.append(
            f'<text class="legend-reasons" x="{LABEL_W}" y="{ly + 24}" font-size="13" '
            f'fill="#1a1a1a">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
