"""The terminal session: a browser terminal a supervisor signed in (a cookie holding the
terminal's secret), and the operator signed on there. Pages use it directly; the JSON API
accepts it instead of a bearer token (``api.deps.terminal_principal``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.terminals import Terminal
from api.pages import csrf
from api.problems import AuthenticationError
from api.runtime import Runtime, StoreUnavailableError

TERMINAL_COOKIE = "fl_terminal"
TERMINAL_COOKIE_DAYS = 365
# the operator who took a kept action (the page's script sends it): it is refused, and kept,
# while someone else is signed on
OPERATOR_HEADER = "X-Floorledger-Operator"


@dataclass(frozen=True)
class SessionCaller:
    """The operator signed on at a terminal, within the terminal's work centres."""

    terminal: Terminal
    operator: str

    @property
    def work_centres(self) -> tuple[str, ...]:
        return self.terminal.work_centres


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def current_terminal(request: Request, runtime: Runtime | None = None) -> Terminal | None:
    """The signed-in terminal of this browser, or None (an idle operator is signed off)."""
    secret = request.cookies.get(TERMINAL_COOKIE)
    if not secret:
        return None
    runtime = runtime or _runtime(request)
    try:
        return await run_in_threadpool(runtime.terminals.terminal, secret)
    except Exception as exc:  # the database is down: the same 503 as any other request
        runtime.mark_down(f"{type(exc).__name__}: {exc}")
        raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from None


async def session_caller(request: Request, runtime: Runtime | None = None) -> SessionCaller | None:
    """The operator at this browser's terminal; None without a terminal cookie; 401 when no
    one is signed on or another operator than the action's; 403 for a write without the
    CSRF header. A write restarts the idle clock."""
    terminal = await current_terminal(request, runtime)
    if terminal is None:
        return None
    csrf.check_header(request)
    if terminal.operator is None:
        raise AuthenticationError(
            f"no operator is signed on at terminal {terminal.name!r}: sign on first"
        )
    taken_by = request.headers.get(OPERATOR_HEADER)
    if taken_by is not None and taken_by != terminal.operator:
        raise AuthenticationError(
            f"this action was taken by {taken_by!r} but {terminal.operator!r} is signed on at "
            f"terminal {terminal.name!r}: it waits until {taken_by!r} signs on again"
        )
    if request.method not in csrf.SAFE_METHODS:
        store = (runtime or _runtime(request)).terminals
        await run_in_threadpool(store.touch, terminal.terminal_id)
    return SessionCaller(terminal, terminal.operator)


def set_terminal_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        TERMINAL_COOKIE, secret, max_age=TERMINAL_COOKIE_DAYS * 86400, httponly=True,
        samesite="strict", secure=csrf.cookie_secure(request), path="/",
    )  # fmt: skip


def clear_terminal_cookie(response: Response) -> None:
    response.delete_cookie(TERMINAL_COOKIE, path="/")
