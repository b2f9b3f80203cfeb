"""Dependencies of the routes: services, the caller's token and role, idempotency, fresh views."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.problems import AuthenticationError, OperationNotFoundError, PermissionDeniedError
from api.runtime import Runtime, Services, ViewsBehindError
from api.schemas import PRINTABLE, C, CommandBody, CommandPublic
from domain import (
    Actor,
    CommandOutcome,
    ConcurrencyError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    Ledger,
    WorkOrder,
)
from domain.commands import Command
from domain.deadline import command_deadline
from projections import ViewReader

NON_BLANK = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"

FLOOR_ROLES = ("operator", "supervisor", "admin")
SUPERVISOR_ROLES = ("supervisor", "admin")
AUDIT_ROLES = ("auditor", "admin")
INTEGRATION_ROLES = ("integration", "admin")

# ---------------------------------------------------------------------- parameters

OrderNo = Annotated[
    str, Path(min_length=1, max_length=80, pattern=NON_BLANK, description="ERP order number")
]
OpId = Annotated[
    str, Path(min_length=1, max_length=60, pattern=NON_BLANK, description="routing operation id")
]
WorkCentre = Annotated[str, Path(min_length=1, max_length=60, pattern=NON_BLANK)]
IntegrationQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=60,
        pattern=NON_BLANK,
        description="integration the order came from (default: the configured one)",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=120,
        pattern=NON_BLANK,
        description="the same key again returns the first response and records nothing",
    ),
]
FilterText = Annotated[str | None, Query(min_length=1, max_length=120, pattern=PRINTABLE)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]


# ---------------------------------------------------------------------- services


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_services(runtime: RuntimeDep) -> Services:
    """The opened store; opening it now when it was unreachable before (else 503)."""
    if runtime.down:
        await run_in_threadpool(runtime.check_store)
    services = runtime._services
    if services is not None:
        return services
    return await run_in_threadpool(runtime.open)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ledger(services: ServicesDep) -> Ledger:
    return services.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


# ---------------------------------------------------------------------- who is calling


@dataclass(frozen=True)
class Principal:
    """The caller, as its token says: name, role and work-centre scope."""

    name: str
    role: str
    work_centre: str | None
    work_centres: tuple[str, ...] = ()  # a terminal's scope (several work centres)

    @property
    def actor(self) -> Actor:
        """The actor recorded on the events this caller causes."""
        return Actor(self.name, self.role, "api")

    def may_work_at(self, work_centre: str) -> bool:
        """Whether the caller's scope includes this work centre."""
        if self.work_centres:
            return work_centre in self.work_centres
        return self.work_centre is None or work_centre == self.work_centre


bearer = HTTPBearer(auto_error=False, description="a token from `floorledger token create`")


async def get_principal(
    runtime: RuntimeDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller's token (401 when missing, unknown or revoked), or else the operator signed
    on at a browser terminal (see ``terminal_principal``)."""
    if credentials is None or not credentials.credentials:
        caller = await terminal_principal(request, runtime)
        if caller is not None:
            return caller
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    secret = credentials.credentials
    token = runtime.tokens.cached(secret)
    if runtime.down:
        await run_in_threadpool(runtime.check_store)
    if token is None:
        if runtime._services is None:
            await run_in_threadpool(runtime.open)
        token = await run_in_threadpool(runtime.tokens.authenticate, secret)
    if token is None:
        raise AuthenticationError("the bearer token is unknown or revoked")
    return Principal(token.name, token.role, token.work_centre)


# --- operator pages (issue #14): a browser terminal's session as an alternative credential


async def terminal_principal(request: Request, runtime: Runtime) -> Principal | None:
    """The operator signed on at the browser terminal whose session cookie came with the
    request (None without one); writes need the CSRF header. The terminal's work centres
    are the scope, the operator is the actor."""
    from api.pages.auth import session_caller

    caller = await session_caller(request, runtime)
    if caller is None:
        return None
    wcs = caller.work_centres
    return Principal(caller.operator, "operator", ",".join(wcs), wcs)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _admit(principal: Principal, roles: tuple[str, ...]) -> Principal:
    if principal.role not in roles:
        raise PermissionDeniedError(
            f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}",
            field="role",
            value=principal.role,
        )
    return principal


def allow(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles`` (else 403)."""

    async def check(principal: PrincipalDep) -> Principal:
        return _admit(principal, roles)

    return check


async def floor_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """``FloorCaller`` solved as one dependency (the floor actions' hot path: FastAPI's cost
    per request grows with the number of dependencies solved)."""
    runtime: Runtime = request.app.state.runtime
    return _admit(await get_principal(runtime, request, credentials), FLOOR_ROLES)


AnyCaller = PrincipalDep
FloorCaller = Annotated[Principal, Depends(allow(*FLOOR_ROLES))]
SupervisorCaller = Annotated[Principal, Depends(allow(*SUPERVISOR_ROLES))]
AuditorCaller = Annotated[Principal, Depends(allow(*AUDIT_ROLES))]
IntegrationCaller = Annotated[Principal, Depends(allow(*INTEGRATION_ROLES))]


# ---------------------------------------------------------------------- work-centre scope


def _check_target(
    ledger: Ledger, order: WorkOrder, op_id: str, principal: Principal, off_routing: bool = False
) -> str | None:
    """None when allowed, else why not (for a second look at a fresh copy of the order)."""
    wc = ledger.work_centres_of(order, op_id)
    if wc is None:
        if off_routing and principal.work_centre is None:
            return None  # recorded with an integration warning (warn, don't block)
        return "unknown"
    if not principal.may_work_at(wc):
        return "scope"
    return None


def _check_fresh(
    ledger: Ledger,
    principal: Principal,
    order_no: str,
    op_id: str,
    integration: str | None,
    off_routing: bool = False,
    deadline_seconds: float | None = None,
) -> None:
    with command_deadline(deadline_seconds):
        order = ledger.get_order(order_no, integration)  # OrderNotFoundError -> 404
    problem = _check_target(ledger, order, op_id, principal, off_routing)
    if problem == "unknown":
        raise OperationNotFoundError(order.order_no, op_id)
    if problem == "scope":
        wc = ledger.work_centres_of(order, op_id) or "(none)"
        raise PermissionDeniedError(
            f"token {principal.name!r} is scoped to work centre {principal.work_centre!r}; "
            f"operation {op_id!r} of order {order.order_no!r} is at {wc!r}",
            field="op_id",
            value=op_id,
        )


@dataclass(frozen=True)
class OperationTarget:
    """An operation of an order the caller may act on."""

    order_no: str
    op_id: str
    integration: str | None
    principal: Principal

    def command(self, body: CommandBody, command: type[C]) -> C:
        """The command ``body`` asks for on this operation."""
        return body.to_command(
            command, order_no=self.order_no, op_id=self.op_id, integration=self.integration
        )


OffRouting = Annotated[
    bool,
    Query(
        description="Record the action even though the operation is not in the order's "
        "routing (an integration warning is raised). Not for work-centre scoped tokens."
    ),
]


async def operation_target(
    order_no: OrderNo,
    op_id: OpId,
    principal: FloorCaller,
    ledger: LedgerDep,
    runtime: RuntimeDep,
    integration: IntegrationQuery = None,
    off_routing: OffRouting = False,
) -> OperationTarget:
    """The order's operation, if it exists (else 404) and is in the caller's scope (else 403).

    A cached copy of the order answers a yes; any no is checked against the store first.
    An operation outside the routing is refused as unknown unless ``off_routing`` is set.
    """
    stripped = op_id.strip()
    cached = ledger.cached_order(order_no, integration)
    if (
        cached is not None
        and _check_target(ledger, cached, stripped, principal, off_routing) is None
    ):
        return OperationTarget(order_no, op_id, integration, principal)
    await run_in_threadpool(
        _check_fresh, ledger, principal, order_no, stripped, integration, off_routing,
        runtime.settings.command_deadline_seconds,
    )  # fmt: skip
    return OperationTarget(order_no, op_id, integration, principal)


Target = Annotated[OperationTarget, Depends(operation_target)]


# ---------------------------------------------------------------------- recording commands


class Recorder:
    """Runs one ledger command for the caller, with the caller-scoped idempotency key."""

    def __init__(
        self, services: Services, runtime: Runtime, principal: Principal, key: str | None,
        response: Response,
    ) -> None:  # fmt: skip
        self.services = services
        self.runtime = runtime
        self.principal = principal
        self.key = f"{principal.name}:{key.strip()}" if key is not None else None
        self.response = response

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    def execute(self, command: Command, actor: Actor | None = None) -> CommandPublic:
        """Hand ``command`` to the ledger for the caller (or ``actor``), under the caller's key."""
        ledger = self.services.ledger
        who = actor or self.actor
        return self.run(lambda key: ledger.execute(command, who, key))

    def run(self, command: Callable[[str | None], CommandOutcome]) -> CommandPublic:
        """Run ``command(key)``; a refusal under a key is looked at once more, because a
        concurrent twin of the request may have just recorded it (then its answer is ours).

        All of it within the command deadline: past it, the store error (503) is raised."""
        with command_deadline(self.runtime.settings.command_deadline_seconds):
            try:
                outcome = command(self.key)
            except DomainError as exc:
                if self.key is None or isinstance(
                    exc, IdempotencyKeyReusedError | ConcurrencyError
                ):
                    raise
                outcome = command(self.key)
        return self._answer(outcome)

    async def execute_now(self, command: Command) -> CommandPublic:
        """:meth:`execute` from the event loop: decided right here when the ledger can do so
        without blocking (an order this process has cached and no other command is working
        on), its events saved by the ledger's group writer while the loop serves other
        requests; otherwise (and whenever the store must be asked again: a refusal, a race)
        :meth:`execute` in a worker thread. Same checks, answers and deadline either way."""
        ledger = self.services.ledger
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[CommandOutcome | BaseException | None] = loop.create_future()

        def answer(result: CommandOutcome | BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, answered, result)

        try:
            with command_deadline(self.runtime.settings.command_deadline_seconds):
                started = ledger.try_execute(command, self.actor, self.key, answer)
        except DomainError:
            started = False  # answered by the full path, with its second look under a key
        if isinstance(started, CommandOutcome):
            return self._answer(started)
        result = await answered if started else None
        if isinstance(result, CommandOutcome):
            return self._answer(result)
        if isinstance(result, BaseException) and not (
            isinstance(result, DomainError)
            and self.key is not None
            and not isinstance(result, IdempotencyKeyReusedError | ConcurrencyError)
        ):
            raise result
        return await run_in_threadpool(self.execute, command)

    def _answer(self, outcome: CommandOutcome) -> CommandPublic:
        """The answer to the caller, with the replay and position headers."""
        if outcome.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        elif outcome.events:
            self.runtime.metrics.events_written.inc(len(outcome.events))
            self.services.runner.wake()
        if outcome.position is not None:
            self.response.headers["Floorledger-Position"] = str(outcome.position)
        return CommandPublic.of(outcome)


def _settle(
    future: asyncio.Future[CommandOutcome | BaseException | None],
    result: CommandOutcome | BaseException | None,
) -> None:
    if not future.done():  # the request may have been cancelled meanwhile
        future.set_result(result)


async def get_recorder(
    services: ServicesDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Recorder:
    return Recorder(services, runtime, principal, idempotency_key, response)


RecorderDep = Annotated[Recorder, Depends(get_recorder)]


@dataclass(frozen=True)
class FloorCall:
    """What a floor action needs: the operation it acts on and the recorder for the caller."""

    target: OperationTarget
    recorder: Recorder


async def floor_call(
    request: Request,
    response: Response,
    order_no: OrderNo,
    op_id: OpId,
    principal: Annotated[Principal, Depends(floor_principal)],
    integration: IntegrationQuery = None,
    off_routing: OffRouting = False,
    idempotency_key: IdempotencyKey = None,
) -> FloorCall:
    """``Target`` and ``RecorderDep`` in one dependency, checked in the same order (caller,
    then store, then operation), for the floor actions sent every few seconds per work centre.
    """
    runtime: Runtime = request.app.state.runtime
    services = await get_services(runtime)
    target = await operation_target(
        order_no, op_id, principal, services.ledger, runtime, integration, off_routing
    )
    return FloorCall(target, Recorder(services, runtime, principal, idempotency_key, response))


FloorCallDep = Annotated[FloorCall, Depends(floor_call)]


# ---------------------------------------------------------------------- read-your-writes


def fresh_reader_of(*views: str) -> Callable[..., Awaitable[ViewReader]]:
    """A dependency giving the view reader once ``views`` (all when none are named) include
    the position a read asks for."""
    only = list(views) or None

    async def fresh_reader(
        services: ServicesDep,
        runtime: RuntimeDep,
        wait_for_position: Annotated[
            int | None,
            Query(
                ge=0,
                le=2**62,
                description="wait until the views include this ledger position (from a write)",
            ),
        ] = None,
        wait_seconds: Annotated[
            float, Query(gt=0, le=120, description="longest wait for wait_for_position")
        ] = 5.0,
    ) -> ViewReader:
        """The view reader, after the views reached ``wait_for_position`` (503 when they did
        not within the wait, 422 when the position is beyond the ledger's newest)."""
        if wait_for_position is not None and wait_for_position > 0:
            runner = services.runner
            timeout = min(wait_seconds, runtime.settings.max_read_wait_seconds)
            head = await run_in_threadpool(runner.head)
            if wait_for_position > head:
                raise InvalidValueError(
                    "wait_for_position",
                    wait_for_position,
                    f"is beyond the ledger's position {head}",
                )
            names = [v for v in only if v in runner.active_views()] if only else None
            reached = await run_in_threadpool(
                runner.wait_until, wait_for_position, timeout, names or None
            )
            if not reached:
                raise ViewsBehindError(wait_for_position, timeout)
        return services.reader

    return fresh_reader


fresh_reader = fresh_reader_of()
FreshReader = Annotated[ViewReader, Depends(fresh_reader)]
# An order's status comes from the status view alone (its conflict and warning counts too),
# so its read waits for that view only, not for the other views' share of the same batch.
FreshStatusReader = Annotated[ViewReader, Depends(fresh_reader_of("status"))]


def integration_or_default(ledger: Ledger, integration: str | None) -> str:
    return (integration or ledger.default_integration).strip()
