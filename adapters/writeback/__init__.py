"""ERP writeback: the pump that replays unsent ledger events to each ERP destination."""

from __future__ import annotations

from adapters.writeback.base import Refused, TransientError, Transport
from adapters.writeback.config import Outbound, outbound_of
from adapters.writeback.messages import Message
from adapters.writeback.pump import DestinationPump, Pump
from adapters.writeback.service import DestinationStatus, WritebackError, WritebackService

__all__ = [
    "DestinationPump",
    "DestinationStatus",
    "Message",
    "Outbound",
    "Pump",
    "Refused",
    "TransientError",
    "Transport",
    "WritebackError",
    "WritebackService",
    "outbound_of",
]
