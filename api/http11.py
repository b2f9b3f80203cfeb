"""uvicorn's h11 protocol, answering oversized request headers with 431 instead of a reset.

h11 refuses a request whose header block outgrows ``h11_max_incomplete_event_size`` and hints
431 (Request Header Fields Too Large); uvicorn answers every such refusal with 400 and closes
the socket at once, with the rest of the client's request still unread, so the client sees
"connection reset" instead of any answer. Here the hint is honoured and the connection is
closed gracefully: the answer is sent, our side shuts down its writes, and whatever the client
still sends is read and dropped until it closes (at most :data:`LINGER_SECONDS`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

LINGER_SECONDS = 5.0


class _Connection(h11.Connection):
    """An h11 connection remembering the status hint of the last protocol error."""

    error_status_hint: int | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.error_status_hint = exc.error_status_hint
            raise
        # h11 only measures a header block still incomplete after a read; one that arrived
        # whole in a single read is measured here, so the limit holds either way.
        if isinstance(event, h11.Request):
            size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
            if size > self._max_incomplete_event_size:
                self.error_status_hint = 431
                raise h11.RemoteProtocolError("request header fields too large", 431)
        return event


class FloorledgerH11Protocol(H11Protocol):
    """HTTP/1.1 for ``floorledger serve`` and ``run``: 431 for oversized headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn: _Connection = _Connection(h11.SERVER, self.conn._max_incomplete_event_size)
        self._discarding = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # the rest of a refused request
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self.conn.error_status_hint != 431:
            super().send_400_response(msg)
            return
        limit = self.conn._max_incomplete_event_size
        body = json.dumps(
            {
                "type": "/problems/request-header-fields-too-large",
                "title": "Request Header Fields Too Large",
                "status": 431,
                "detail": f"the request's header fields exceed {limit} bytes "
                "(FLOORLEDGER_MAX_HEADER_BYTES)",
            }
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n"
            b"x-content-type-options: nosniff\r\n\r\n"
        )
        self.transport.write(head + body)
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
