"""Outbound (writeback) configuration: the ERP destinations each integration pushes to.

``Integration.outbound`` holds the TOML table as a plain dict; :func:`outbound_of` validates
it into these models, with errors naming the key path and the offending value, e.g.::

    [integrations.outbound]
    flush_seconds = 30

    [[integrations.outbound.destinations]]
    name = "erp-rest"
    transport = "rest"
    url = "https://erp.example/api/floor-events"
    batch_url = "https://erp.example/api/floor-events/batch"
    auth = { type = "bearer", token_env = "ERP_TOKEN" }
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from adapters.config import (
    NAME_PATTERN,
    Auth,
    ConfigError,
    Integration,
    IntegrationsConfig,
    NoAuth,
    ServiceUrl,
    _Model,
    _problems,
    _SecretRefs,
    no_secret_headers,
)

_TAG = re.compile(r"(destinations\[\d+\])\.(?:rest|sql|files|amqp|tryton)\b")

# Message kinds the pump can send (see adapters.writeback.messages).
Kind = Literal["order_status", "operation_status", "production_result", "quality_result", "report"]
AUTOMATIC_KINDS: tuple[Kind, ...] = (
    "order_status",
    "operation_status",
    "production_result",
    "quality_result",
)
REPORT_KINDS: tuple[Kind, ...] = ("report",)


class Retry(_Model):
    """How transient failures are retried: exponential backoff with jitter, capped."""

    attempts: int = Field(default=3, ge=1, le=20)
    initial_seconds: float = Field(default=0.2, gt=0, le=60)
    max_seconds: float = Field(default=30.0, gt=0, le=3600)


class _Destination(_Model):
    name: str = Field(min_length=1, max_length=60, pattern=NAME_PATTERN)
    kinds: list[Kind] | None = None
    batch_size: int = Field(default=500, ge=1, le=10_000)
    retry: Retry = Retry()

    @property
    def batching(self) -> bool:
        """Whether the transport takes several messages in one delivery."""
        return True


class RestDestination(_Destination):
    """A REST/JSON web service: one endpoint per message, optionally one for batches."""

    transport: Literal["rest"]
    url: ServiceUrl
    batch_url: ServiceUrl | None = None
    auth: Auth = NoAuth()
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    headers: Annotated[dict[str, str], AfterValidator(no_secret_headers)] = Field(
        default_factory=dict
    )

    @property
    def batching(self) -> bool:
        return self.batch_url is not None


class SqlDestination(_Destination, _SecretRefs):
    """An ERP interface table written through SQLAlchemy Core (URL held as a secret)."""

    _secrets = ("url",)
    transport: Literal["sql"]
    url_env: str | None = None
    url_file: Path | None = None
    table: str = Field(default="floorledger_writeback", min_length=1, max_length=60)
    db_schema: str | None = Field(default=None, alias="schema")
    create_table: bool = True


class FilesDestination(_Destination):
    """Files dropped into an outbox: CSV, XLSX or B2MML V0600 ProductionPerformance XML."""

    transport: Literal["files"]
    outbox: Path
    format: Literal["csv", "xlsx", "b2mml"]
    prefix: str = Field(default="floorledger", min_length=1, max_length=60, pattern=NAME_PATTERN)
    delimiter: str = Field(default=",", min_length=1, max_length=1)


class AmqpDestination(_Destination, _SecretRefs):
    """An AMQP 0-9-1 broker (RabbitMQ): persistent messages with publisher confirms."""

    _secrets = ("url",)
    transport: Literal["amqp"]
    url_env: str | None = None
    url_file: Path | None = None
    exchange: str = ""
    routing_key: str = Field(min_length=1)
    declare_queue: str | None = None


class TrytonDestination(_Destination, _SecretRefs):
    """A Tryton server: timing, output quantity and production state written back."""

    _secrets = ("password",)
    transport: Literal["tryton"]
    url: ServiceUrl
    database: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password_env: str | None = None
    password_file: Path | None = None
    batch_size: int = Field(default=1, ge=1, le=1)
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    # accept Tryton's confirmation warnings (e.g. output quantity off the BOM) when completing
    accept_warnings: bool = False
    # force the reservation of input materials Tryton cannot assign when work starts
    force_assign: bool = False
    # one Tryton work cycle per operation run (start → complete, pauses inside) or one per
    # start/stop segment (every pause closes a cycle, every resume opens one)
    cycles: Literal["run", "segment"] = "run"
    # when the production goes to Tryton's running state (its inputs are consumed):
    # at the floor's first start, or only when the floor completes the order
    start_production: Literal["first_start", "completion"] = "first_start"
    # floor actor id → Tryton employee (company.employee id, or the employee's party name);
    # the employee becomes the cycle's "Run By" / "Done By"
    employees: dict[str, int | str] = Field(default_factory=dict)
    # floor scrap reason code → Tryton location (id or name) the scrap goes to; unmapped
    # reasons go to the production warehouse's first waste location
    scrap_locations: dict[str, int | str] = Field(default_factory=dict)


AnyDestination = (
    RestDestination | SqlDestination | FilesDestination | AmqpDestination | TrytonDestination
)
Destination = Annotated[
    RestDestination | SqlDestination | FilesDestination | AmqpDestination | TrytonDestination,
    Field(discriminator="transport"),
]


class Outbound(_Model):
    """The writeback of one integration: its destinations and how often leftovers are pushed."""

    flush_seconds: float = Field(default=30, gt=0, le=86_400)
    poll_seconds: float = Field(default=0.5, gt=0, le=3600)
    scan_size: int = Field(default=2000, ge=1, le=50_000)
    destinations: list[Destination] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Outbound:
        seen: set[str] = set()
        for i, d in enumerate(self.destinations):
            if d.name in seen:
                raise ValueError(f"destinations[{i}].name: {d.name!r} is used twice")
            seen.add(d.name)
        return self


def outbound_of(integration: Integration) -> Outbound | None:
    """The validated outbound configuration of an integration (None when it has none)."""
    if integration.outbound is None:
        return None
    try:
        return Outbound.model_validate(integration.outbound)
    except ValidationError as exc:
        prefix = f"integrations[{integration.name}].outbound"
        raise ConfigError([prefix + "." + _TAG.sub(r"\1", p) for p in _problems(exc)]) from None


def kinds_for(integration: Integration, destination: _Destination) -> tuple[Kind, ...]:
    """Which message kinds a destination receives: configured, or the mode's default."""
    if destination.kinds is not None:
        return tuple(destination.kinds)
    if integration.mode == "D":
        return AUTOMATIC_KINDS
    if integration.mode == "E":
        return REPORT_KINDS
    return ()


def sends(integration: Integration) -> bool:
    """Whether the integration's mode sends anything at all (D and E do; A, B and C do not)."""
    return integration.mode in ("D", "E")


def destinations(config: IntegrationsConfig) -> list[tuple[Integration, AnyDestination]]:
    """Every destination of every integration, names checked unique across the plant."""
    out: list[tuple[Integration, AnyDestination]] = []
    seen: dict[str, str] = {}
    for integ in config.integrations:
        ob = outbound_of(integ)
        if ob is None:
            continue
        for d in ob.destinations:
            if d.name in seen:
                raise ConfigError(
                    [
                        f"integrations[{integ.name}].outbound.destinations: name {d.name!r} "
                        f"is already used by integration {seen[d.name]!r}"
                    ]
                )
            seen[d.name] = integ.name
            out.append((integ, d))
    return out


__all__ = [
    "AUTOMATIC_KINDS",
    "REPORT_KINDS",
    "AmqpDestination",
    "AnyDestination",
    "Destination",
    "FilesDestination",
    "Kind",
    "Outbound",
    "RestDestination",
    "Retry",
    "SqlDestination",
    "TrytonDestination",
    "destinations",
    "kinds_for",
    "outbound_of",
    "sends",
]
