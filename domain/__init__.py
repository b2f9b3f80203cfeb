"""The floorledger domain: aggregates, events, value objects, errors and the Ledger application.

Pure: it imports the standard library and ``eventsourcing`` only.
"""

from __future__ import annotations

from domain.errors import (
    ConcurrencyError,
    ConflictNotFoundError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    OperationStateError,
    OrderNotFoundError,
    OrderStateError,
    RowNotFoundError,
)
from domain.ledger import AuditFinding, AuditReport, CommandOutcome, HistoryEntry, Ledger
from domain.state import OperationState, OrderState
from domain.values import Actor, ErpOperation, ErpOrder, order_id_for, workstation_id_for
from domain.workorder import Resolution, WorkOrder
from domain.workstation import Workstation

__all__ = [
    "Actor",
    "AuditFinding",
    "AuditReport",
    "CommandOutcome",
    "ConcurrencyError",
    "ConflictNotFoundError",
    "DomainError",
    "ErpOperation",
    "ErpOrder",
    "HistoryEntry",
    "IdempotencyKeyReusedError",
    "InvalidValueError",
    "Ledger",
    "OperationState",
    "OperationStateError",
    "OrderNotFoundError",
    "OrderState",
    "OrderStateError",
    "Resolution",
    "RowNotFoundError",
    "WorkOrder",
    "Workstation",
    "order_id_for",
    "workstation_id_for",
]
