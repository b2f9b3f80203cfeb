"""RFC 9457 problem details: one exception handler per error family, each naming the field."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.runtime import StoreUnavailableError, ViewsBehindError
from domain import (
    ConcurrencyError,
    ConflictNotFoundError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    OperationStateError,
    OrderNotFoundError,
    OrderStateError,
    RowNotFoundError,
)
from domain.deadline import CommandDeadlineError

log = logging.getLogger("floorledger.api")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "1"


class AuthenticationError(Exception):
    """No bearer token, or one that is unknown or revoked."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class PermissionDeniedError(Exception):
    """The token's role or work-centre scope does not allow the action."""

    def __init__(self, detail: str, *, field: str | None = None, value: Any = None) -> None:
        self.detail = detail
        self.field = field
        self.value = value
        super().__init__(detail)


class OperationNotFoundError(DomainError):
    """The order has no operation with this id."""

    def __init__(self, order_no: str, op_id: str) -> None:
        self.order_no = order_no
        self.op_id = op_id
        super().__init__(f"order {order_no!r} has no operation {op_id!r}")


class ProblemPublic(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="URI reference naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = Field(default=None, description="the offending field")
    value: Any = Field(default=None, description="the offending value")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="every invalid field: field, location, value, message"
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem statuses a route can answer."""
    titles = {
        401: "Missing, unknown or revoked bearer token",
        403: "Role or work-centre scope does not allow this",
        404: "Unknown order, operation, conflict or row",
        409: "The order's or operation's state does not allow this, or retries ran out",
        422: "Invalid input (the field and value are named)",
        503: "The store is unreachable or the views are behind; retry (with the same key)",
    }
    schema = ProblemPublic.model_json_schema()
    return {
        s: {"description": titles.get(s, "Problem"), "content": {PROBLEM_JSON: {"schema": schema}}}
        for s in statuses
    }


def _safe(value: Any, depth: int = 0) -> Any:
    """A value that JSON can carry: text made valid UTF-8 and shortened, others stringified."""
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and value != value:  # NaN
            return "NaN"
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return str(value)
        return value
    if isinstance(value, str):
        s = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return s if len(s) <= 200 else s[:200] + "…"
    if depth < 3 and isinstance(value, dict):
        return {str(_safe(k, depth + 1)): _safe(v, depth + 1) for k, v in list(value.items())[:20]}
    if depth < 3 and isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in list(value)[:20]]
    if isinstance(value, bytes):
        return _safe(value.decode("utf-8", "backslashreplace"), depth)
    return _safe(str(value), depth)


def problem(
    request: Request,
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    value: Any = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An application/problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": _safe(detail),
        "instance": _safe(request.url.path),
    }
    if field is not None:
        body["field"] = _safe(field)
        body["value"] = _safe(value)
    if errors is not None:
        body["errors"] = errors
    content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# ---------------------------------------------------------------------- handlers


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        location = loc[0] if loc else "body"
        name = ".".join(loc[1:]) or location
        value, message = e.get("input"), str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":  # loc is ("body", <character offset>)
            at = f" (at character {loc[1]})" if len(loc) > 1 else ""
            name, value, message = "body", None, f"is not valid JSON{at}"
        errors.append(
            {
                "field": _safe(name),
                "location": location,
                "value": _safe(value),
                "message": _safe(message),
            }
        )
    first = errors[0] if errors else {"field": "body", "value": None, "message": "invalid"}
    return problem(
        request,
        422,
        "invalid-input",
        "Invalid input",
        f"{first['field']}: {first['message']}",
        field=str(first["field"]),
        value=first["value"],
        errors=errors,
    )


async def _domain(request: Request, exc: Exception) -> Response:
    """Every deliberate refusal of the ledger, by kind."""
    if isinstance(exc, InvalidValueError):
        return problem(
            request, 422, "invalid-input", "Invalid input", str(exc), field=exc.field,
            value=exc.value,
        )  # fmt: skip
    if isinstance(exc, IdempotencyKeyReusedError):
        key = exc.key.split(":", 1)[-1]
        return problem(
            request,
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            f"idempotency key {key!r} was already used for a different request",
            field="Idempotency-Key",
            value=key,
        )
    if isinstance(exc, OrderNotFoundError):
        return problem(
            request, 404, "order-not-found", "Unknown order", str(exc), field="order_no",
            value=exc.order_no,
        )  # fmt: skip
    if isinstance(exc, OperationNotFoundError):
        return problem(
            request, 404, "operation-not-found", "Unknown operation", str(exc), field="op_id",
            value=exc.op_id,
        )  # fmt: skip
    if isinstance(exc, ConflictNotFoundError):
        return problem(
            request, 404, "conflict-not-found", "No open conflict", str(exc), field="field",
            value=exc.field,
        )  # fmt: skip
    if isinstance(exc, RowNotFoundError):
        return problem(
            request, 404, "row-not-found", "Unknown report-script row", str(exc),
            field="row_id", value=exc.row_id,
        )  # fmt: skip
    if isinstance(exc, OperationStateError):
        return problem(
            request, 409, "operation-state", "Operation state does not allow this", str(exc),
            field="op_id", value=exc.operation,
        )  # fmt: skip
    if isinstance(exc, OrderStateError):
        return problem(
            request, 409, "order-state", "Order state does not allow this", str(exc),
            field="order_no", value=exc.order_no,
        )  # fmt: skip
    if isinstance(exc, ConcurrencyError):
        return problem(
            request, 409, "version-conflict", "Concurrent changes", str(exc), field="order_no",
            value=exc.order_no,
        )  # fmt: skip
    return problem(request, 422, "refused", "Refused", str(exc))


async def _unauthenticated(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthenticationError)
    return problem(
        request,
        401,
        "unauthenticated",
        "Authentication required",
        exc.detail,
        field="Authorization",
        value=None,
        headers={"WWW-Authenticate": 'Bearer realm="floorledger"'},
    )


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PermissionDeniedError)
    return problem(
        request, 403, "forbidden", "Not allowed", exc.detail, field=exc.field, value=exc.value
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    """The store cannot be reached (or lost the connection): nothing was half-written."""
    if isinstance(exc, ViewsBehindError):
        return problem(
            request,
            503,
            "views-behind",
            "Views are behind",
            str(exc),
            field="wait_for_position",
            value=exc.position,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    detail = exc.detail if isinstance(exc, StoreUnavailableError) else str(exc)
    log.warning("store unavailable on %s: %s", request.url.path, detail)
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and not isinstance(exc, StoreUnavailableError):
        runtime.mark_down(detail)
    if isinstance(exc, CommandDeadlineError):
        # the write may have reached the store before it stopped answering (docs/operations.md)
        said = (
            f"the event store did not answer within the {exc.seconds:g} s deadline; the "
            "write may or may not be recorded (never twice) — retry with the same "
            "Idempotency-Key, or without a key look at the order's history first"
        )
    else:
        said = (
            "the event store cannot be reached; nothing was recorded — retry with the same "
            "Idempotency-Key"
        )
    return problem(
        request,
        503,
        "store-unavailable",
        "Store unavailable",
        said,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # a body that is not JSON at all: invalid input like any other
        return problem(
            request, 422, "invalid-input", "Invalid input", str(exc.detail), field="body",
            value=None,
        )  # fmt: skip
    kinds = {404: "not-found", 405: "method-not-allowed"}
    return problem(
        request,
        exc.status_code,
        kinds.get(exc.status_code, "http-error"),
        str(exc.detail) if exc.status_code in kinds else "HTTP error",
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem(request, 500, "internal", "Internal error", "an unexpected error occurred")


def store_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean the database is unreachable or lost the connection."""
    from eventsourcing.persistence import PersistenceError
    from sqlalchemy.exc import DBAPIError

    errors: list[type[Exception]] = [
        StoreUnavailableError,
        ViewsBehindError,
        PersistenceError,
        sqlite3.Error,
        DBAPIError,  # the own tables (projections/db.py) go through SQLAlchemy
    ]
    try:
        import psycopg
        import psycopg_pool

        errors += [psycopg.Error, psycopg_pool.PoolTimeout]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def install(app: FastAPI) -> None:
    """Register one handler per error family."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(PermissionDeniedError, _forbidden)
    for error in store_errors():
        app.add_exception_handler(error, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
