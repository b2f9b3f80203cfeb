"""The report script (integrations in modes C and E only): rows to key into the ERP by hand,
and marking them keyed."""

from __future__ import annotations

import os
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from adapters.config import CONFIG_ENV, ConfigError, load_config
from api.deps import (
    NON_BLANK,
    AnyCaller,
    FilterText,
    FreshReader,
    IntegrationQuery,
    Limit,
    Offset,
    OrderNo,
    RecorderDep,
    SupervisorCaller,
)
from api.problems import problem_responses
from api.schemas import CommandPublic, Moment, RowKeyedCreate
from domain.commands import MarkRowKeyed
from projections import ScriptFilter, ScriptRow
from projections.export import to_csv, to_xlsx

router = APIRouter(prefix="/report-script", tags=["report script"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RowId = Annotated[
    str, Path(min_length=1, max_length=120, pattern=NON_BLANK, description="e.g. report:abc")
]


def not_keyed_by_hand() -> tuple[str, ...]:
    """The integrations of ``$FLOORLEDGER_CONFIG`` whose rows the report script leaves out:
    those not in mode C or E (mode D writes back by itself, so keying its rows by hand would
    enter them twice; A and B send nothing). Rows of integrations the file does not name are
    kept. Raises ConfigError when the file is unusable."""
    if not os.environ.get(CONFIG_ENV):
        return ()
    config = load_config()
    return tuple(i.name for i in config.integrations if i.mode not in ("C", "E"))


def _excluded() -> tuple[str, ...]:
    try:
        return not_keyed_by_hand()
    except ConfigError as exc:
        raise HTTPException(503, f"the integration configuration is unusable: {exc}") from None


def script_filter(
    integration: IntegrationQuery = None,
    order_no: FilterText = None,
    work_centre: FilterText = None,
    operator: FilterText = None,
    keyed: Annotated[bool | None, Query(description="only keyed (true) or unkeyed rows")] = None,
    since: Annotated[Moment | None, Query(description="recorded at or after")] = None,
    until: Annotated[Moment | None, Query(description="recorded before")] = None,
    kind: Annotated[Literal["report", "operation"] | None, Query()] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> ScriptFilter:
    """Which rows to list."""
    return ScriptFilter(
        integration=integration,
        order_no=order_no,
        work_centre=work_centre,
        operator=operator,
        keyed=keyed,
        since=since.astimezone(UTC).isoformat(timespec="microseconds") if since else None,
        until=until.astimezone(UTC).isoformat(timespec="microseconds") if until else None,
        kinds=(kind,) if kind else ("report", "operation"),
        excluded_integrations=_excluded(),
        limit=limit,
        offset=offset,
    )


Filters = Annotated[ScriptFilter, Depends(script_filter)]


@router.get("", response_model=list[ScriptRow], responses=problem_responses(401, 422, 503))
def report_script(caller: AnyCaller, reader: FreshReader, filters: Filters) -> list[ScriptRow]:
    """Report-script rows (reports and completed operations) in the order they were recorded."""
    return reader.report_script(filters)


@router.get(
    ".csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        **problem_responses(401, 422, 503),
    },
)
def report_script_csv(caller: AnyCaller, reader: FreshReader, filters: Filters) -> Response:
    """The report script as a CSV download for keying into the ERP."""
    body = to_csv(reader.report_script(filters))
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="report-script.csv"'},
    )


@router.get(
    ".xlsx",
    response_class=Response,
    responses={
        200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(401, 422, 503),
    },
)
def report_script_xlsx(caller: AnyCaller, reader: FreshReader, filters: Filters) -> Response:
    """The report script as an XLSX workbook download for keying into the ERP."""
    return Response(
        to_xlsx(reader.report_script(filters)),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="report-script.xlsx"'},
    )


@router.post(
    "/{order_no:path}/rows/{row_id}/keyed",
    response_model=CommandPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def mark_row_keyed(
    order_no: OrderNo,
    row_id: RowId,
    body: RowKeyedCreate,
    caller: SupervisorCaller,
    recorder: RecorderDep,
    integration: IntegrationQuery = None,
) -> CommandPublic:
    """A supervisor marks a report-script row as keyed into the ERP (again: records nothing)."""
    target = {"order_no": order_no, "row_id": row_id, "integration": integration}
    return recorder.execute(body.to_command(MarkRowKeyed, **target))
