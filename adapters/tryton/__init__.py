"""The Tryton ERP connector: JSON-RPC client, plan import and execution writeback."""

from __future__ import annotations

from adapters.tryton.client import (
    TrytonAuthError,
    TrytonClient,
    TrytonError,
    TrytonFault,
    TrytonUnavailable,
)
from adapters.tryton.inbound import RELEASED_STATES, TrytonPlan, read_plan
from adapters.tryton.outbound import TrytonWriteback, WritebackRefused

__all__ = [
    "RELEASED_STATES",
    "TrytonAuthError",
    "TrytonClient",
    "TrytonError",
    "TrytonFault",
    "TrytonPlan",
    "TrytonUnavailable",
    "TrytonWriteback",
    "WritebackRefused",
    "read_plan",
]
