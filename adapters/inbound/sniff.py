"""Mode A, order sniffing: the order currently running on each measuring point, polled.

The ERP (a REST service or an SQL table/view) lists one row per measuring point with the
order (and article) running there; the ``measuring_point`` field mapping names the
column or JSON path, and the work-centre value map translates ERP planning groups to
measuring points. A point that disappears from the answer has no order running. When the
ERP cannot be reached the last known order stays and each point gets one warning per outage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.config import Integration, RestInbound, SqlInbound
from adapters.inbound.parsers import Parsed
from adapters.inbound.sync import SourceUnavailable, SyncSummary, erp_actor
from adapters.mapping import RowError, lookup
from domain.commands import ErpAnswered, RaiseWorkstationWarning, SetActiveOrder
from domain.errors import DomainError
from domain.ledger import Ledger

log = logging.getLogger("floorledger.inbound.sniff")

W_ERP_UNREACHABLE = "erp_unreachable"

Fetch = Callable[[], Sequence[Parsed]]


@dataclass(frozen=True)
class Running:
    """What the ERP says runs on a measuring point."""

    order_no: str | None
    part_no: str | None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def default_fetch(integration: Integration) -> Fetch:
    """How to read the integration's ERP rows (REST or SQL)."""
    if isinstance(integration.inbound, RestInbound):
        from adapters.inbound.rest import fetch_items

        return lambda: fetch_items(integration)
    if isinstance(integration.inbound, SqlInbound):
        from adapters.inbound.sql import fetch_records

        return lambda: fetch_records(integration)
    raise ValueError(
        f"integration {integration.name!r}: order sniffing (mode A) reads a REST or SQL source, "
        f"not {integration.inbound.transport!r}"
    )


def running_orders(
    integration: Integration, items: Sequence[Parsed]
) -> tuple[dict[str, Running], list[RowError]]:
    """The order running on each measuring point, and the rows that name no point."""
    fields, maps = integration.field_map, integration.maps
    points: dict[str, Running] = {}
    first_row: dict[str, int] = {}
    errors: list[RowError] = []
    for item in items:
        if isinstance(item, RowError):
            errors.append(item)
            continue
        raw = _text(lookup(item.data, fields.measuring_point))
        if not raw:
            errors.append(RowError(item.row, fields.measuring_point, None, "is required"))
            continue
        point = maps.work_centres.get(raw, raw)
        if point in points:
            errors.append(
                RowError(
                    item.row,
                    fields.measuring_point,
                    raw,
                    f"appears again (first at row {first_row[point]}); the first row counts",
                )
            )
            continue
        first_row[point] = item.row
        order_no = _text(lookup(item.data, fields.order_no)) or None
        part_no = _text(lookup(item.data, fields.part_no)) or None
        points[point] = Running(order_no, part_no)
    return points, errors


class Sniffer:
    """One mode-A integration's poller; it remembers the last answer between passes."""

    def __init__(self, integration: Integration, *, fetch: Fetch | None = None) -> None:
        self.integration = integration
        self.fetch = fetch or default_fetch(integration)
        self.actor = erp_actor(integration.name)
        self.last: dict[str, Running] = {}
        self.outage = False

    def known_points(self) -> list[str]:
        """Measuring points to warn about in an outage: the last answer's and the mapped ones."""
        return sorted(set(self.last) | set(self.integration.maps.work_centres.values()))

    def poll(self, ledger: Ledger) -> SyncSummary:
        """One pass: record each point's running order; on an outage warn once and keep it."""
        name = self.integration.name
        summary = SyncSummary(name)
        try:
            items = list(self.fetch())
        except SourceUnavailable as exc:
            summary.errors.append(str(exc))
            if not self.outage:
                self.outage = True
                message = (
                    f"the ERP ({name}) did not answer: {exc.reason}; "
                    "the last known order stays active"
                )
                for point in self.known_points():
                    try:
                        ledger.execute_at_workstation(
                            RaiseWorkstationWarning(point, W_ERP_UNREACHABLE, message), self.actor
                        )
                    except DomainError as err:
                        summary.errors.append(f"measuring point {point}: {err}")
                        continue
                    summary.warnings.append(f"measuring point {point}: {W_ERP_UNREACHABLE}")
            return summary
        if self.outage:
            log.info("%s: the ERP answers again", name)
        self.outage = False
        for point in self.known_points():
            # Close the points' open outage warnings (nothing is recorded when none is open;
            # also right after a restart of this worker).
            try:
                ledger.execute_at_workstation(ErpAnswered(point), self.actor)
            except DomainError as err:
                summary.errors.append(f"measuring point {point}: {err}")
        points, errors = running_orders(self.integration, items)
        summary.row_errors.extend(errors)
        summary.errors.extend(str(e) for e in errors)
        for point in sorted(set(self.last) - set(points)):
            points[point] = Running(None, None)
        for point, running in sorted(points.items()):
            try:
                position = ledger.execute_at_workstation(
                    SetActiveOrder(
                        point, running.order_no, part_no=running.part_no, integration=name
                    ),
                    self.actor,
                )
            except DomainError as exc:
                summary.errors.append(f"measuring point {point}: {exc}")
                continue
            label = f"{point}: {running.order_no or '(none)'}"
            (summary.changed if position is not None else summary.unchanged).append(label)
        self.last = {p: r for p, r in points.items() if r.order_no is not None}
        return summary


__all__ = ["W_ERP_UNREACHABLE", "Running", "Sniffer", "default_fetch", "running_orders"]
