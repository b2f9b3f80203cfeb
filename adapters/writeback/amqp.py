"""AMQP 0-9-1 (RabbitMQ) writeback: persistent messages, publisher confirms, mandatory routing.

Each message is published with ``message_id`` and an ``Idempotency-Key`` header set to its
key, and counts as delivered once the broker confirms it. A lost connection or a nack is
transient (the pump publishes again; consumers dedupe by key); a message the broker cannot
route anywhere is refused.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions as px

from adapters.config import secret
from adapters.writeback.base import Outcome, TransientError, Transport
from adapters.writeback.config import AmqpDestination
from adapters.writeback.messages import Message

_CONNECTION_ERRORS = (
    px.AMQPConnectionError,
    px.AMQPChannelError,
    px.StreamLostError,
    ConnectionError,
    OSError,
)


class AmqpTransport(Transport):
    """Publishes messages to the ERP's broker."""

    def __init__(self, config: AmqpDestination, url: str | None = None) -> None:
        self.config = config
        self.batch_size = config.batch_size
        self.url = url or secret(config, "url").get_secret_value()
        self._conn: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.blocked_connection_timeout = 30
        self._conn = pika.BlockingConnection(params)
        ch = self._conn.channel()
        ch.confirm_delivery()
        if self.config.declare_queue:
            ch.queue_declare(self.config.declare_queue, durable=True)
        self._channel = ch
        return ch

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        refused: set[str] = set()
        try:
            ch = self._open()
            for m in messages:
                if m.order_key in refused:
                    outcomes.append(None)  # not published: the order waits behind its refusal
                    continue
                props = pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=m.key,
                    headers={
                        "Idempotency-Key": m.key,
                        "order_no": m.order_no,
                        "sequence": m.version,
                        "kind": m.kind,
                    },
                )
                body = json.dumps(m.to_json(), separators=(",", ":")).encode()
                try:
                    ch.basic_publish(
                        self.config.exchange,
                        self.config.routing_key,
                        body,
                        properties=props,
                        mandatory=True,
                    )
                except px.UnroutableError:
                    outcomes.append(
                        f"unroutable: exchange {self.config.exchange!r}, "
                        f"routing key {self.config.routing_key!r}"
                    )
                    refused.add(m.order_key)
                    continue
                outcomes.append(None)
        except px.NackError as exc:
            raise TransientError(f"the broker did not confirm: {exc}") from exc
        except _CONNECTION_ERRORS as exc:
            self.close()
            raise TransientError(f"broker unavailable: {type(exc).__name__}: {exc}") from exc
        return outcomes

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(Exception):  # the connection is being thrown away
                conn.close()


__all__ = ["AmqpTransport"]
