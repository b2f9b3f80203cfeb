"""Request (XCreate) and response (XPublic) bodies of the HTTP API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from domain import CommandOutcome, ErpOperation, ErpOrder
from domain.commands import Command
from domain.ledger import HistoryEntry

C = TypeVar("C", bound=Command)

# Printable text: no control characters (the ledger refuses them, so the schema says so).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970 and 9000")
    return value


def _date_in_range(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("must be between 1970 and 9000")
    return value


def text_field(max_length: int, *, min_length: int = 0, description: str = "") -> Any:
    return Field(
        min_length=min_length,
        max_length=max_length,
        pattern=PRINTABLE,
        description=description or None,
    )


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
Day = Annotated[date, AfterValidator(_date_in_range)]
Quantity = Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), allow_inf_nan=False)]
Factor = Annotated[Decimal, Field(gt=0, lt=Decimal("1e12"), allow_inf_nan=False)]
Measured = Annotated[Decimal, Field(ge=Decimal("-1e15"), le=Decimal("1e15"), allow_inf_nan=False)]
ReasonCode = Annotated[str, text_field(60, min_length=1)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandBody(StrictModel):
    """A request body whose fields are a command's arguments (same names); the target (order,
    operation, integration) comes from the path and query."""

    def to_command(self, command: type[C], **target: Any) -> C:
        """The command with this body's fields and the target's."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return command(**target, **fields)


# ---------------------------------------------------------------------- floor actions


def example(**fields: Any) -> ConfigDict:
    """A body's example for the API documentation's "try it out": without ``at``, which
    Swagger would otherwise pre-fill with the page's load time and so back-date the event."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


class OperationEventCreate(CommandBody):
    """When it happened on the floor (leave ``at`` out for now)."""

    model_config = example()

    at: Moment | None = Field(
        default=None,
        description="when it happened, with a time zone (leave out for now); at most "
        "FLOORLEDGER_MAX_BACKDATE_HOURS (default 24) hours back and one hour ahead",
    )


class PauseCreate(OperationEventCreate):
    """A pause with its stop reason."""

    model_config = example(reason_code="BREAKDOWN")

    reason_code: ReasonCode = Field(description="stop reason code")


class QuantityReportCreate(OperationEventCreate):
    """Good, scrap (with a reason) and rework quantities of an operation."""

    model_config = example(good="5")

    good: Quantity = Decimal(0)
    scrap: Quantity = Decimal(0)
    scrap_reason: Annotated[str, text_field(60)] | None = Field(
        default=None, description="required when scrap is more than 0"
    )
    rework: Quantity = Decimal(0)
    unit: Annotated[str, text_field(20, min_length=1)] | None = Field(
        default=None, description="unit of the quantities (default: the order's unit)"
    )


class ResultCreate(OperationEventCreate):
    """A quality result, a serial or a batch number."""

    model_config = example(passed=True)

    passed: bool | None = None
    characteristic: Annotated[str, text_field(120)] = ""
    measured_value: Measured | None = None
    unit: Annotated[str, text_field(20)] = ""
    serial: Annotated[str, text_field(120)] = ""
    batch: Annotated[str, text_field(120)] = ""


class ReportCreate(CommandBody):
    """An operator's report of times and amounts for the ERP."""

    started_at: Moment
    ended_at: Moment
    good: Quantity = Decimal(0)
    scrap: dict[ReasonCode, Quantity] = Field(
        default_factory=dict, max_length=50, description="scrap quantity by reason code"
    )
    rework: Quantity = Decimal(0)
    note: Annotated[str, text_field(1000)] = ""
    report_id: Annotated[str, text_field(80, min_length=1)] | None = Field(
        default=None, description="the client's id of the report (default: generated)"
    )


class ConflictResolutionCreate(CommandBody):
    """How a supervisor settles a conflict, with a note."""

    resolution: Literal["accept_erp", "keep_floor", "cancel"]
    note: Annotated[str, text_field(1000)] = ""


class RowKeyedCreate(CommandBody):
    """A report-script row was keyed into the ERP (no fields)."""


# ---------------------------------------------------------------------- ERP push


class ErpOperationCreate(StrictModel):
    """One routing operation as the ERP defines it (times in minutes)."""

    op_id: Annotated[str, text_field(60, min_length=1)]
    name: Annotated[str, text_field(200)] = ""
    work_centre: Annotated[str, text_field(60)] = ""
    setup_time: Quantity = Decimal(0)
    run_time_per_unit: Quantity = Decimal(0)


class ErpOrderCreate(StrictModel):
    """A released works order as the ERP states it (a release or a change)."""

    order_no: Annotated[str, text_field(80, min_length=1)]
    part_no: Annotated[str, text_field(80, min_length=1)]
    quantity: Quantity
    unit: Annotated[str, text_field(20, min_length=1)]
    description: Annotated[str, text_field(400)] = ""
    due_date: Day | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    work_centre: Annotated[str, text_field(60)] = ""
    routing: list[ErpOperationCreate] = Field(default_factory=list, max_length=500)
    unit_factors: dict[Annotated[str, text_field(20, min_length=1)], Factor] = Field(
        default_factory=dict, max_length=50, description="1 <unit> = factor order units (> 0)"
    )

    def to_domain(self) -> ErpOrder:
        return ErpOrder(
            order_no=self.order_no,
            part_no=self.part_no,
            quantity=self.quantity,
            unit=self.unit,
            description=self.description,
            due_date=self.due_date,
            priority=self.priority,
            work_centre=self.work_centre,
            routing=tuple(
                ErpOperation(op.op_id, op.name, op.work_centre, op.setup_time, op.run_time_per_unit)
                for op in self.routing
            ),
            unit_factors=dict(self.unit_factors),
        )


class ErpCancellationCreate(CommandBody):
    """The ERP cancelled the order."""

    reason: Annotated[str, text_field(400)] = ""


# ---------------------------------------------------------------------- command results


class CommandPublic(BaseModel):
    """What a recorded command did, and the ledger position a read can wait for."""

    order_no: str
    integration: str
    version: int = Field(description="the order's version after the command")
    events: list[str] = Field(description="events recorded (empty when nothing changed)")
    warnings: list[str] = Field(description="warning codes raised (warn, don't block)")
    position: int | None = Field(
        description="ledger position to pass as wait_for_position to a read"
    )
    result: str | None = Field(default=None, description="e.g. the id of a submitted report")

    @classmethod
    def of(cls, outcome: CommandOutcome) -> CommandPublic:
        return cls(
            order_no=outcome.order_no,
            integration=outcome.integration,
            version=outcome.version,
            events=list(outcome.events),
            warnings=list(outcome.warnings),
            position=outcome.position,
            result=outcome.result,
        )


# ---------------------------------------------------------------------- views


# The views' own dataclasses are the response bodies of the read routes (FastAPI serialises
# dataclasses as it does models): OrderStatus, WorkCentrePlan, ScriptRow, ConflictRow,
# WarningRow and the ledger's HistoryEntry.


# ---------------------------------------------------------------------- audit


class HistoryPagePublic(BaseModel):
    """A page of an order's history; pass next_after_version to get the next page."""

    order_no: str
    integration: str
    entries: list[HistoryEntry]
    next_after_version: int | None


class AuditFindingPublic(BaseModel):
    version: int
    problem: str


class VerificationPublic(BaseModel):
    """The result of checking an order's hash chain and version sequence."""

    order_no: str
    integration: str
    ok: bool
    events: int
    findings: list[AuditFindingPublic]


# ---------------------------------------------------------------------- operations


class LivenessPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    """Whether the store answers, the ledger's position and how far each view lags."""

    status: Literal["ready", "unavailable"]
    store: str
    position: int | None
    view_positions: dict[str, int]
    view_lag: int | None = Field(description="events the slowest view has not folded yet")
    detail: str | None = None


def plain(value: Any) -> Any:
    """A value from an event in JSON form (Decimals as strings, times as ISO-8601)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
