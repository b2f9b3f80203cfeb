"""uvicorn's HTTP/1.1 protocols (httptools, and h11 where httptools is missing), answering
oversized request headers with 431 instead of a reset.

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
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


def _refuse_431(protocol: Any, limit: int) -> None:
    """Answer 431 (problem+json), close our side, and drop what the client still sends."""
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
    protocol.transport.write(head + body)
    protocol._discarding = True
    if protocol.transport.can_write_eof():
        protocol.transport.write_eof()
    protocol._linger = protocol.loop.call_later(LINGER_SECONDS, protocol.transport.close)


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
        _refuse_431(self, self.conn._max_incomplete_event_size)


class _HeadersTooLargeError(Exception):
    """Raised from a parser callback: the header block outgrew the limit."""


class FloorledgerHttpToolsProtocol(HttpToolsProtocol):
    """HTTP/1.1 on httptools (llhttp, in C: what uvicorn[standard] picks), with the same 431
    for oversized headers: the bytes of a request's head are counted as they arrive (so a
    header block sent in pieces, or one huge header, is refused before it is kept whole),
    and the parsed request line and headers once more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = int(self.config.h11_max_incomplete_event_size or 16384)
        self._in_head = True
        self._head_bytes = 0
        self._parsed_bytes = 0
        self._too_large = False
        self._discarding = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # the rest of a refused request
        if self._in_head:
            self._head_bytes += len(data)
            # the raw head may carry a little framing beyond the parsed fields
            if self._head_bytes > self._limit + 1024:
                self._too_large = True
                self.send_400_response("request header fields too large")
                return
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._parsed_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._parsed_bytes += n
        if self._parsed_bytes > self._limit:
            self._too_large = True
            raise _HeadersTooLargeError  # the parser answers with HttpParserCallbackError

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        _refuse_431(self, self._limit)
