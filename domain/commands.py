"""Commands: what a person or a system asks the ledger to do, as frozen dataclasses.

A command names its target (an order number, with the integration optional; or a measuring
point) and carries its arguments. It decides nothing: the ledger hands it to one aggregate
method (see ``domain.ledger.HANDLERS``). Its idempotency fingerprint is derived from it here,
in one place: the class name and every field that takes part in the command's equality.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

from domain.chain import canonical_json
from domain.values import ErpOrder

# A field added to a command after requests were fingerprinted: left out of the fingerprint
# while it holds its default, so a keyed request repeated across the upgrade is the same one.
ADDED_LATER = "added_later"


@dataclass(frozen=True)
class Command:
    """A request to the ledger. Two commands are the same request when they compare equal."""


@dataclass(frozen=True)
class OrderCommand(Command):
    """A command on one works order; without an integration, the default one (or the one
    integration that holds the order number)."""

    order_no: str
    _: KW_ONLY
    integration: str | None = None


@dataclass(frozen=True)
class WorkstationCommand(Command):
    """A command on one measuring point (mode A)."""

    workstation: str


# ---------------------------------------------------------------------- ERP


@dataclass(frozen=True)
class ReceiveErpOrder(Command):
    """The ERP states a released order: release it, apply a change, or raise conflicts."""

    order: ErpOrder
    _: KW_ONLY
    integration: str | None = None

    @property
    def order_no(self) -> str:
        return self.order.order_no


@dataclass(frozen=True)
class CancelInErp(OrderCommand):
    """The ERP cancelled the order: cancel it on the floor, or raise a conflict if started."""

    reason: str = ""


@dataclass(frozen=True)
class RaiseWarning(OrderCommand):
    """Record an integration warning on an order."""

    code: str
    message: str
    reference: str = ""


# ---------------------------------------------------------------------- floor


@dataclass(frozen=True)
class StartOperation(OrderCommand):
    """An operator starts an operation."""

    op_id: str
    at: datetime | None = None


@dataclass(frozen=True)
class PauseOperation(OrderCommand):
    """An operator pauses a running operation with a stop reason."""

    op_id: str
    reason_code: str
    at: datetime | None = None


@dataclass(frozen=True)
class ResumeOperation(OrderCommand):
    """An operator resumes a paused operation."""

    op_id: str
    at: datetime | None = None


@dataclass(frozen=True)
class CompleteOperation(OrderCommand):
    """An operator completes an operation."""

    op_id: str
    at: datetime | None = None


@dataclass(frozen=True)
class ReportQuantity(OrderCommand):
    """An operator reports good, scrap and rework quantities."""

    op_id: str
    good: Any = 0
    scrap: Any = 0
    scrap_reason: str | None = None
    rework: Any = 0
    unit: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class RecordResult(OrderCommand):
    """An operator records a result, serial or batch."""

    op_id: str
    passed: bool | None = None
    characteristic: str = ""
    measured_value: Any = None
    unit: str = ""
    serial: str = ""
    batch: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class CompleteOrder(OrderCommand):
    """The floor completes the order."""

    at: datetime | None = None


@dataclass(frozen=True)
class SubmitReport(OrderCommand):
    """An operator submits a report of times and amounts for the ERP."""

    op_id: str
    started_at: datetime
    ended_at: datetime
    good: Any = 0
    scrap: Mapping[str, Any] | None = None
    rework: Any = 0
    note: str = ""
    report_id: str | None = None


# ---------------------------------------------------------------------- office


@dataclass(frozen=True)
class MarkRowKeyed(OrderCommand):
    """A planner marks a report-script row as keyed into the ERP."""

    row_id: str


@dataclass(frozen=True)
class DecideWriteback(OrderCommand):
    """A supervisor retries or skips a message the ERP refused (recorded on the order), with
    a note saying why (required for a skip, optional for a retry).

    The parked message's key and the ERP's reason are filled in by the server from the
    pump's state, not asked for: they take no part in the command's equality (a repeated
    request after the message left the parked list is still the same request).
    """

    destination: str
    decision: str
    note: str = field(default="", metadata={ADDED_LATER: "#15"})
    message_key: str = field(default="", compare=False)
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class TriggerReport(OrderCommand):
    """Send a submitted report to the ERP now (mode E); the pump delivers it."""

    report_id: str


@dataclass(frozen=True)
class ResolveConflict(OrderCommand):
    """A supervisor resolves the open conflict on a field of an order."""

    field_name: str
    resolution: str
    note: str = ""


@dataclass(frozen=True)
class AcknowledgeWarning(OrderCommand):
    """A supervisor acknowledges a still-relevant warning on an order (raised at
    ``warning_version``), with a note: it stops counting as open."""

    warning_version: int
    note: str = ""


# ---------------------------------------------------------------------- measuring points


@dataclass(frozen=True)
class SetActiveOrder(WorkstationCommand):
    """Record the order running on a measuring point (None: nothing runs)."""

    order_no: str | None
    part_no: str | None = None
    integration: str | None = None


@dataclass(frozen=True)
class RaiseWorkstationWarning(WorkstationCommand):
    """A warning about a measuring point (for example: the ERP did not answer)."""

    code: str
    message: str


@dataclass(frozen=True)
class ErpAnswered(WorkstationCommand):
    """The ERP answered for this measuring point: its open warnings no longer apply."""


# ---------------------------------------------------------------------- the fingerprint


def _plain(value: Any) -> Any:
    """A JSON-able stand-in: dataclasses by their compared fields, mappings as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare and not (ADDED_LATER in f.metadata and getattr(value, f.name) == f.default)
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def fingerprint(command: Command, integration: str | None = None) -> str:
    """What makes two keyed requests the same: sha256 over the command's class name and every
    field that takes part in its equality; ``integration`` is the one the command ran on
    (so naming the default integration or leaving it out is the same request)."""
    body = _plain(command)
    if integration is not None:
        body["integration"] = integration
    text = canonical_json([type(command).__name__, body])
    return hashlib.sha256(text.encode()).hexdigest()


ORDER_COMMANDS: tuple[type[Command], ...] = (
    ReceiveErpOrder,
    CancelInErp,
    RaiseWarning,
    StartOperation,
    PauseOperation,
    ResumeOperation,
    CompleteOperation,
    ReportQuantity,
    RecordResult,
    CompleteOrder,
    SubmitReport,
    MarkRowKeyed,
    DecideWriteback,
    TriggerReport,
    ResolveConflict,
    AcknowledgeWarning,
)

__all__ = [
    "ORDER_COMMANDS",
    "AcknowledgeWarning",
    "CancelInErp",
    "Command",
    "CompleteOperation",
    "CompleteOrder",
    "DecideWriteback",
    "ErpAnswered",
    "MarkRowKeyed",
    "OrderCommand",
    "PauseOperation",
    "RaiseWarning",
    "RaiseWorkstationWarning",
    "ReceiveErpOrder",
    "RecordResult",
    "ReportQuantity",
    "ResolveConflict",
    "ResumeOperation",
    "SetActiveOrder",
    "StartOperation",
    "SubmitReport",
    "TriggerReport",
    "WorkstationCommand",
]
