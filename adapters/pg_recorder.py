"""The PostgreSQL event recorder: the library's, with its events sent as binary arrays.

eventsourcing's ``PostgresApplicationRecorder`` inserts a batch of events in one statement,
``unnest`` over an array of a composite type; psycopg writes that array as text, quoting each
field of each row in Python (about half the cost of saving a batch of released orders). This
recorder sends the four columns as four binary arrays instead — the same table, the same
statement shape (one ``INSERT … SELECT … FROM unnest(…) RETURNING notification_id`` after the
library's ``LOCK TABLE … IN EXCLUSIVE MODE`` and ``NOTIFY``), so the notification log, its
ordering and the unique (id, version) constraint are exactly the library's.

Chosen by ``APPLICATION_RECORDER_TOPIC`` in :func:`adapters.settings.store_env`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

TOPIC = "adapters.pg_recorder:BinaryArrayRecorder"


class BinaryArrayRecorder(PostgresApplicationRecorder):
    """``PostgresApplicationRecorder`` whose inserts send binary column arrays."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} AS t ("
            "originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        text_ids = self.datastore.originator_id_type == "text"
        curs.row_factory = tuple_row  # type: ignore[assignment]  # ids only: no dict per row
        curs.execute(
            self.insert_columns_statement,
            (
                [str(e.originator_id) if text_ids else e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )

    def _fetch_ids_after_insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if curs.row_factory is not tuple_row:  # type: ignore[comparison-overlap]
            return super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        ids = [row[0] for row in cast("list[tuple[int]]", curs.fetchall())]
        if len(ids) != len(stored_events):
            msg = (
                f"Couldn't get all notification IDs (got {len(ids)}, expected {len(stored_events)})"
            )
            raise ProgrammingError(msg)
        return ids
