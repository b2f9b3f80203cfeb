"""Tamper evidence: every stored event carries a hash chaining it to its predecessor."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

GENESIS = "0" * 64


def _tagged(value: Any) -> Any:
    """JSON stand-ins for the non-JSON values events carry, tagged by type."""
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, UUID):
        return {"$uuid": value.hex}
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """One canonical JSON text for a value (sorted keys, tagged decimals, times and ids)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_tagged
    )


def event_hash(prev_hash: str, topic: str, fields: dict[str, Any]) -> str:
    """sha256 over the previous hash, the event's topic and its fields (chain_hash excluded)."""
    body = {k: v for k, v in fields.items() if k != "chain_hash"}
    return hashlib.sha256(canonical_json([prev_hash, topic, body]).encode()).hexdigest()


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def _defaults(event_class: type[Any]) -> dict[str, Any]:
    """The fields of an event class declared with a default (once per class)."""
    found = _DEFAULTS.get(event_class)
    if found is None:
        found = {}
        if dataclasses.is_dataclass(event_class):
            found = {
                f.name: f.default
                for f in dataclasses.fields(event_class)
                if f.default is not dataclasses.MISSING
            }
        _DEFAULTS[event_class] = found
    return found


def hashed_fields(event_class: type[Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The fields an event's hash covers: all of them, except a field declared with a default
    that holds its default. That is how a field is added to an event class (ADR 0011): events
    stored before it decode with the default, and hash as they did when they were written."""
    defaults = _defaults(event_class)
    return {k: v for k, v in fields.items() if not (k in defaults and defaults[k] == v)}


def recompute(prev_hash: str, event: Any) -> str:
    """The hash a stored event should carry, given the hash of the event before it."""
    cls = type(event)
    return event_hash(prev_hash, get_topic(cls), hashed_fields(cls, dict(vars(event))))


class ChainedAggregate(Aggregate):
    """An aggregate whose events each record who, from where, and a hash chained to the last."""

    chain_head = GENESIS

    class Event(Aggregate.Event):
        actor_id: str
        actor_role: str
        source: str
        chain_hash: str

        def mutate(self, aggregate: Any) -> Any:
            agg = super().mutate(aggregate)
            if agg is not None:
                agg.chain_head = self.chain_hash
            return agg

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _create_chained(cls, event_class: type[Any], *, id: UUID, **kwargs: Any) -> Any:
        timestamp = event_class.create_timestamp()
        fields = dict(
            kwargs,
            originator_id=id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=timestamp,
            originator_topic=get_topic(cls),
        )
        chain_hash = event_hash(GENESIS, get_topic(event_class), hashed_fields(event_class, fields))
        return cls._create(event_class, id=id, timestamp=timestamp, chain_hash=chain_hash, **kwargs)

    @classmethod
    def _created_event(cls, event_class: type[Any], *, id: UUID, **kwargs: Any) -> Any:
        """The created event of a new aggregate, chained to GENESIS, without the aggregate:
        what ``Aggregate._create`` builds (a bulk save needs the event only)."""
        timestamp = event_class.create_timestamp()
        kwargs.update(
            originator_id=id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=timestamp,
            originator_topic=get_topic(cls),
        )
        chain_hash = event_hash(GENESIS, get_topic(event_class), kwargs)
        return event_class(chain_hash=chain_hash, **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        timestamp = event_class.create_timestamp()
        fields = dict(
            kwargs,
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=timestamp,
        )
        kwargs["chain_hash"] = event_hash(
            self.chain_head, get_topic(event_class), hashed_fields(event_class, fields)
        )
        super().trigger_event(event_class, timestamp=timestamp, **kwargs)
