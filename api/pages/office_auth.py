"""The office session: a supervisor, auditor, ERP-team (integration) or admin pastes their
bearer token once; the browser keeps it in an HttpOnly, SameSite=Strict cookie (Secure over
HTTPS) and every page authenticates it again, so a revoked token stops working at once and
the pages allow exactly what the token's role may do over the JSON API (``api.deps``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.tokens import ApiToken
from api.deps import AUDIT_ROLES, SUPERVISOR_ROLES
from api.pages import csrf
from api.pages.auth import TERMINAL_COOKIE
from api.runtime import Runtime
from domain import Actor

OFFICE_COOKIE = "fl_office"
OFFICE_COOKIE_HOURS = 12
OFFICE_ROLES = ("supervisor", "auditor", "integration", "admin")
WRITEBACK_ROLES = ("integration", "supervisor", "admin")

__all__ = ["AUDIT_ROLES", "SUPERVISOR_ROLES"]


@dataclass(frozen=True)
class OfficeUser:
    """Who is signed in to the office pages, as their token says."""

    name: str
    role: str

    @property
    def actor(self) -> Actor:
        """Recorded on the events this user causes (the same as over the API)."""
        return Actor(self.name, self.role, "api")

    def may(self, roles: tuple[str, ...]) -> bool:
        return self.role in roles


class OfficeDenied(Exception):
    """This browser may not open the page: no session (go to sign-in) or the wrong role."""

    def __init__(self, message: str, *, signed_in: bool) -> None:
        super().__init__(message)
        self.message = message
        self.signed_in = signed_in


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def token_of(request: Request, secret: str) -> ApiToken | None:
    """The active token with this secret, or None."""
    tokens = _runtime(request).tokens
    secret = secret.strip()
    if not secret:
        return None
    return tokens.cached(secret) or await run_in_threadpool(tokens.authenticate, secret)


async def office_user(request: Request, roles: tuple[str, ...] = OFFICE_ROLES) -> OfficeUser:
    """The signed-in office user allowed ``roles``; a write also needs the form's CSRF token
    (checked by the route). Raises ``OfficeDenied`` otherwise."""
    secret = request.cookies.get(OFFICE_COOKIE)
    token = await token_of(request, secret) if secret else None
    if token is None:
        if request.cookies.get(TERMINAL_COOKIE):
            raise OfficeDenied(
                "This browser is a work-centre terminal; the office pages are for "
                "supervisors, auditors, the ERP team and admins.",
                signed_in=True,
            )
        raise OfficeDenied("Sign in first.", signed_in=False)
    if token.role not in OFFICE_ROLES:
        raise OfficeDenied(f"Role {token.role!r} may not open the office pages.", signed_in=True)
    user = OfficeUser(token.name, token.role)
    if token.role not in roles:
        raise OfficeDenied(
            f"Role {token.role!r} may not do this; allowed: {', '.join(roles)}.", signed_in=True
        )
    return user


def set_office_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        OFFICE_COOKIE, secret.strip(), max_age=OFFICE_COOKIE_HOURS * 3600, httponly=True,
        samesite="strict", secure=csrf.cookie_secure(request), path="/office",
    )  # fmt: skip


def clear_office_cookie(response: Response) -> None:
    response.delete_cookie(OFFICE_COOKIE, path="/office")
