"""What the ERP last stated for each order, remembered so an unchanged re-poll costs little.

A plan poll restates every open order; almost all are unchanged. Receiving an unchanged
order records nothing, but finding that out loads the order. This memory holds, per order,
a fingerprint of the last ERP statement the ledger received for it; it is valid only while
the order has recorded no event since, which is checked against the store's notification
log (shared by every process): each call first reads the notifications recorded since the
previous call and forgets every order they touch. So a fingerprint that matches means the
ledger would record nothing for that order, whatever other processes did meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

# Reading more notifications than this to bring the memory up to date costs more than it
# saves: the memory is dropped instead (the next poll checks every order the full way).
MAX_CATCH_UP = 50_000
_PAGE = 5_000


class ErpSeen:
    """Fingerprints of the ERP's last statement per order id, invalidated by any new event."""

    def __init__(self, recorder: Any, max_orders: int = 1_000_000) -> None:
        self._recorder = recorder
        self._max_orders = max_orders
        self._seen: dict[UUID, str] = {}
        self._position: int | None = None
        self._lock = threading.Lock()

    def _catch_up(self) -> None:
        head = self._recorder.max_notification_id() or 0
        start = self._position
        if start is None or head - start > MAX_CATCH_UP:
            self._seen.clear()
            self._position = head
            return
        while start < head:
            page = self._recorder.select_notifications(
                start, _PAGE, stop=head, inclusive_of_start=False
            )
            if not page:
                break
            for n in page:
                self._seen.pop(n.originator_id, None)
            start = page[-1].id
        self._position = head

    def unchanged(self, fingerprints: Mapping[UUID, str]) -> set[UUID]:
        """The order ids whose fingerprint equals the ERP statement last received for them,
        with no event recorded on them since."""
        with self._lock:
            self._catch_up()
            seen = self._seen
            return {oid for oid, fp in fingerprints.items() if seen.get(oid) == fp}

    def remember(self, fingerprints: Mapping[UUID, str]) -> None:
        """The ledger has just received these ERP statements (applied or found unchanged)."""
        with self._lock:
            if self._position is None:
                return  # not caught up yet: nothing is known to be valid
            if len(self._seen) + len(fingerprints) > self._max_orders:
                self._seen.clear()
            self._seen.update(fingerprints)
