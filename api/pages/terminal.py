"""The work-centre terminal: a supervisor signs it in, operators sign on with a badge or a
PIN, then work the queue. Actions are posted by the page's script to the JSON API with the
terminal session (and kept in the browser while the server is unreachable)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from adapters.terminals import TerminalError, parse_work_centres
from api.deps import ServicesDep
from api.pages import csrf
from api.pages.auth import clear_terminal_cookie, current_terminal, set_terminal_cookie
from api.pages.integrations import plant_config
from api.pages.templating import render
from api.pages.terminal_view import panel, pick, queue
from api.runtime import Runtime

router = APIRouter(prefix="/terminal", include_in_schema=False)

SUPERVISOR_ROLES = ("supervisor", "admin")
FormText = Annotated[str, Form(max_length=200)]
CsrfField = Annotated[str | None, Form(alias=csrf.CSRF_FIELD, max_length=200)]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _supervisor(request: Request, secret: str) -> str | None:
    """The name of the supervisor (or admin) whose token this is, else None."""
    token = await run_in_threadpool(_runtime(request).tokens.authenticate, secret.strip())
    if token is None or token.role not in SUPERVISOR_ROLES:
        return None
    return token.name


@router.get("")
async def terminal_page(
    request: Request,
    services: ServicesDep,
    op: Annotated[str | None, Query(max_length=300)] = None,
    wait: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> Response:
    """The terminal: sign-in for a supervisor, sign-on for operators, else the work page."""
    terminal = await current_terminal(request)
    if terminal is None:
        return _see_other("/terminal/sign-in")
    operators: list[Any] = []
    if terminal.operator is None:
        operators = await run_in_threadpool(_runtime(request).terminals.operators)
        return render(
            request, "terminal/sign_on.html", {"terminal": terminal, "operators": operators}
        )
    if wait:
        await run_in_threadpool(services.runner.wait_until, wait, 5.0)
    config = plant_config(request)

    def read() -> dict[str, Any]:
        items = queue(services.reader, terminal)
        chosen = pick(items, op)
        if chosen is not None:
            chosen.selected = True
        shown = None
        if chosen is not None:
            mode = config.mode(chosen.integration)
            shown = panel(services.reader, services.ledger, config.reasons, mode, chosen)
        integ = chosen.integration if chosen else None
        return {
            "items": items,
            "panel": shown,
            "stop_reasons": config.reasons.of(integ, "stop") if integ else [],
            "scrap_reasons": config.reasons.of(integ, "scrap") if integ else [],
        }

    context = await run_in_threadpool(read)
    deadline = terminal.idle_deadline()
    return render(
        request,
        "terminal/work.html",
        dict(context, terminal=terminal, idle_deadline=deadline, selected_key=op),
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    """A supervisor signs this browser in as a terminal of one or more work centres."""
    terminal = await current_terminal(request)
    return render(request, "terminal/sign_in.html", {"terminal": terminal, "error": None})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: FormText,
    name: FormText,
    work_centres: FormText,
    csrf_token: CsrfField = None,
) -> Response:
    """Sign the terminal in with a supervisor's token (its secret is kept in a cookie)."""
    csrf.check_form(request, csrf_token)
    supervisor = await _supervisor(request, token)
    error = None
    if supervisor is None:
        error = "That is not an active supervisor token."
    else:
        try:
            wcs = parse_work_centres(work_centres)
            _, secret = await run_in_threadpool(
                _runtime(request).terminals.sign_in_terminal, name, wcs, supervisor
            )
        except TerminalError as exc:
            error = str(exc)
    if error is not None:
        context = {"terminal": None, "error": error, "name": name, "work_centres": work_centres}
        return render(request, "terminal/sign_in.html", context, status_code=422)
    response = _see_other("/terminal")
    set_terminal_cookie(request, response, secret)
    return response


@router.post("/sign-on")
async def sign_on(
    request: Request,
    badge: Annotated[str, Form(max_length=64)] = "",
    operator: Annotated[str, Form(max_length=60)] = "",
    pin: Annotated[str, Form(max_length=12)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """An operator signs on at this terminal with a badge, or a name and a PIN."""
    csrf.check_form(request, csrf_token)
    terminal = await current_terminal(request)
    if terminal is None:
        return _see_other("/terminal/sign-in")
    store = _runtime(request).terminals
    try:
        await run_in_threadpool(
            lambda: store.sign_on(
                terminal.terminal_id,
                badge=badge.strip() or None,
                name=operator.strip() or None,
                pin=pin.strip() or None,
            )
        )
    except TerminalError as exc:
        operators = await run_in_threadpool(store.operators)
        context = {"terminal": terminal, "operators": operators, "error": str(exc)}
        return render(request, "terminal/sign_on.html", context, status_code=401)
    return _see_other("/terminal")


@router.post("/sign-off")
async def sign_off(request: Request, csrf_token: CsrfField = None) -> Response:
    """The operator signs off; the terminal waits for the next one."""
    csrf.check_form(request, csrf_token)
    terminal = await current_terminal(request)
    if terminal is not None:
        await run_in_threadpool(_runtime(request).terminals.sign_off, terminal.terminal_id)
    return _see_other("/terminal")


@router.post("/sign-out")
async def sign_out(request: Request, token: FormText, csrf_token: CsrfField = None) -> Response:
    """A supervisor signs the terminal out (its cookie stops working)."""
    csrf.check_form(request, csrf_token)
    terminal = await current_terminal(request)
    if terminal is None:
        return _see_other("/terminal/sign-in")
    if await _supervisor(request, token) is None:
        operators = await run_in_threadpool(_runtime(request).terminals.operators)
        context = {
            "terminal": terminal,
            "operators": operators,
            "error": "Signing the terminal out needs an active supervisor token.",
        }
        return render(request, "terminal/sign_on.html", context, status_code=403)
    await run_in_threadpool(_runtime(request).terminals.sign_out_terminal, terminal.terminal_id)
    response = _see_other("/terminal/sign-in")
    clear_terminal_cookie(response)
    return response
