"""The views' names for the own-tables access layer (:mod:`projections.db`).

``ViewStore`` is :class:`projections.db.Database`; the view modules import ``Db`` from here.
"""

from __future__ import annotations

from projections.db import (
    POSTGRES,
    SQLITE,
    Database,
    Db,
    Listener,
    connection_errors,
)

ViewStore = Database

__all__ = ["POSTGRES", "SQLITE", "Database", "Db", "Listener", "ViewStore", "connection_errors"]
