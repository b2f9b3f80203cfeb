"""Orders pushed by the ERP as messages on an AMQP 0-9-1 queue (RabbitMQ), JSON or B2MML.

A message is acknowledged only after the ledger has committed what it holds. A message
that cannot be read, or holds records or orders the ledger refuses, is a poison message:
its good orders are applied, then it is published (confirmed) to the dead-letter queue with
the reason in its headers and acknowledged. When the ledger itself fails (the store is
down) the message is returned to the queue and the error is raised, so the consumer backs
off and reconnects; redelivery is safe because applying an order twice records nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from adapters.config import AmqpInbound, ConfigError, Integration, secret
from adapters.inbound.parsers import Parsed, parse_b2mml, parse_json_items
from adapters.inbound.sync import SourceUnavailable, SyncSummary, apply_batch
from adapters.mapping import MappingCheck, RowError, map_records
from domain.ledger import Ledger

log = logging.getLogger("floorledger.inbound.amqp")

REASON_HEADER = "x-floorledger-reason"
INTEGRATION_HEADER = "x-floorledger-integration"
QUEUE_HEADER = "x-floorledger-queue"
MAX_REASON = 4000
# Broker problems (pika wraps socket errors) after which the consumer reconnects.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError,)


def amqp_inbound(integration: Integration) -> AmqpInbound:
    """The integration's AMQP settings (refused when it uses another transport)."""
    if not isinstance(integration.inbound, AmqpInbound):
        raise ValueError(f"integration {integration.name!r} does not read a message queue")
    return integration.inbound


def dead_letter_queue(inbound: AmqpInbound) -> str:
    """Where poison messages go: the configured queue or ``<queue>.dead``."""
    return inbound.dead_letter_queue or f"{inbound.queue}.dead"


def parse_message(body: bytes, inbound: AmqpInbound) -> list[Parsed]:
    """The records of one message; an unreadable message is one document error."""
    if inbound.format == "b2mml":
        return list(parse_b2mml(body))
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return [RowError(None, "document", None, f"is not JSON: {exc}")]
    return list(parse_json_items(payload, inbound.items_path))


def connection_parameters(inbound: AmqpInbound) -> pika.URLParameters:
    """Connection parameters from the secret URL, with short timeouts for a quick failover."""
    params = pika.URLParameters(secret(inbound, "url").get_secret_value())
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = 30
    return params


class AmqpSource:
    """One integration's order queue: drained in a pass, or consumed until stopped."""

    def __init__(
        self,
        integration: Integration,
        ledger: Ledger | None,
    ) -> None:
        self.integration = integration
        self.inbound = amqp_inbound(integration)
        self.ledger = ledger
        self.dead_letters = dead_letter_queue(self.inbound)
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None

    # -- connection ---------------------------------------------------------------------

    def connect(self) -> BlockingChannel:
        """Open the connection and a confirming channel; declare the queue and dead letters."""
        if self.channel is not None and self.channel.is_open:
            return self.channel
        self.close()
        try:
            params = connection_parameters(self.inbound)
        except ConfigError as exc:
            raise SourceUnavailable(self.integration.name, str(exc)) from exc
        try:
            self.connection = pika.BlockingConnection(params)
            channel = self.connection.channel()
            channel.confirm_delivery()
            channel.basic_qos(prefetch_count=self.inbound.prefetch)
            channel.queue_declare(self.inbound.queue, durable=True)
            channel.queue_declare(self.dead_letters, durable=True)
        except CONNECTION_ERRORS as exc:
            self.close()
            raise SourceUnavailable(self.integration.name, f"{type(exc).__name__}: {exc}") from exc
        self.channel = channel
        return channel

    def close(self) -> None:
        """Close the connection; unacknowledged messages go back to the queue."""
        conn, self.connection, self.channel = self.connection, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except CONNECTION_ERRORS as exc:
                log.debug("closing the AMQP connection: %s", exc)

    # -- messages -----------------------------------------------------------------------

    def handle(
        self,
        channel: BlockingChannel,
        method: Basic.Deliver | Basic.GetOk,
        properties: BasicProperties,
        body: bytes,
    ) -> SyncSummary:
        """Apply one message, then acknowledge it (dead-lettering it first if it is poison)."""
        name = self.integration.name
        if self.ledger is None:
            raise RuntimeError("this AMQP source was opened without a ledger (peek only)")
        result = map_records(
            parse_message(body, self.inbound), self.integration.field_map, self.integration.maps
        )
        try:
            summary = apply_batch(
                self.integration, self.ledger, result.orders, errors=result.errors, full_plan=False
            )
        except Exception:
            if channel.is_open:
                channel.basic_nack(method.delivery_tag, requeue=True)
            raise
        if summary.errors:
            reason = "; ".join(summary.errors)
            self.dead_letter(channel, properties, body, reason)
            log.warning("%s: message %s dead-lettered: %s", name, method.delivery_tag, reason)
        channel.basic_ack(method.delivery_tag)
        return summary

    def dead_letter(
        self, channel: BlockingChannel, properties: BasicProperties, body: bytes, reason: str
    ) -> None:
        """Publish a poison message, unchanged, to the dead-letter queue with the reason."""
        headers = dict(properties.headers or {})
        headers[REASON_HEADER] = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON] + "…"
        headers[INTEGRATION_HEADER] = self.integration.name
        headers[QUEUE_HEADER] = self.inbound.queue
        channel.basic_publish(
            exchange="",
            routing_key=self.dead_letters,
            body=body,
            properties=BasicProperties(
                content_type=properties.content_type,
                content_encoding=properties.content_encoding,
                message_id=properties.message_id,
                correlation_id=properties.correlation_id,
                timestamp=properties.timestamp,
                type=properties.type,
                headers=headers,
                delivery_mode=pika.DeliveryMode.Persistent,
            ),
            mandatory=True,
        )

    def drain(self, *, max_messages: int | None = None) -> SyncSummary:
        """One pass: apply every message waiting in the queue now."""
        summary = SyncSummary(self.integration.name)
        channel = self.connect()
        handled = 0
        try:
            while max_messages is None or handled < max_messages:
                method, properties, body = channel.basic_get(self.inbound.queue, auto_ack=False)
                if method is None:
                    break
                summary.merge(self.handle(channel, method, properties, body))
                handled += 1
        except CONNECTION_ERRORS as exc:
            self.close()
            raise SourceUnavailable(self.integration.name, f"{type(exc).__name__}: {exc}") from exc
        return summary

    def consume(
        self,
        stop: threading.Event,
        *,
        on_message: Callable[[SyncSummary], None] | None = None,
        idle_seconds: float = 0.5,
    ) -> None:
        """Apply messages as they arrive until ``stop`` is set; connection errors are raised."""
        channel = self.connect()
        try:
            for method, properties, body in channel.consume(
                self.inbound.queue, inactivity_timeout=idle_seconds
            ):
                if method is not None:
                    summary = self.handle(channel, method, properties, body)
                    if on_message is not None:
                        on_message(summary)
                if stop.is_set():
                    break
            if channel.is_open:
                channel.cancel()
        except BaseException:
            self.close()  # unacknowledged messages return to the queue
            raise

    def peek(self, check: MappingCheck, *, limit: int = 1000) -> int:
        """Map up to ``limit`` waiting messages for the mapping check and leave them queued."""
        channel = self.connect()
        seen = 0
        try:
            while seen < limit:
                method, _, body = channel.basic_get(self.inbound.queue, auto_ack=False)
                if method is None:
                    break
                map_records(
                    parse_message(body, self.inbound),
                    self.integration.field_map,
                    self.integration.maps,
                    check=check,
                )
                seen += 1
        finally:
            self.close()  # unacknowledged messages return to the queue
        return seen


def peek(integration: Integration, check: MappingCheck, *, limit: int = 1000) -> int:
    """Map up to ``limit`` waiting messages for the mapping check; they stay in the queue."""
    return AmqpSource(integration, None).peek(check, limit=limit)


__all__ = [
    "CONNECTION_ERRORS",
    "INTEGRATION_HEADER",
    "QUEUE_HEADER",
    "REASON_HEADER",
    "AmqpSource",
    "amqp_inbound",
    "connection_parameters",
    "dead_letter_queue",
    "parse_message",
    "peek",
]
