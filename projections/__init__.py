"""Read models built from the ledger's notification log: plan, status, report script,
conflicts, warnings and events by actor, each tracked in the same transaction as its rows."""

from __future__ import annotations

from projections.conflicts import ConflictRow, ConflictsView
from projections.events_index import EventsIndexView, IndexedEvent
from projections.plan import ActiveOrder, PlanEntry, PlanView, WorkCentrePlan
from projections.reader import ViewReader
from projections.runner import RebuildResult, ViewRunner, default_views
from projections.script import ScriptFilter, ScriptRow, ScriptView
from projections.status import OperationStatus, OrderStatus, OrderSummary, StatusView
from projections.store import Db, ViewStore
from projections.warnings_view import WarningRow, WarningsView

__all__ = [
    "ActiveOrder",
    "ConflictRow",
    "ConflictsView",
    "Db",
    "EventsIndexView",
    "IndexedEvent",
    "OperationStatus",
    "OrderStatus",
    "OrderSummary",
    "PlanEntry",
    "PlanView",
    "RebuildResult",
    "ScriptFilter",
    "ScriptRow",
    "ScriptView",
    "StatusView",
    "ViewReader",
    "ViewRunner",
    "ViewStore",
    "WarningRow",
    "WarningsView",
    "WorkCentrePlan",
    "default_views",
]
