"""What every office page shares: the user or the page instead (sign-in, 403), the services,
the open-conflicts count for the badge in the bar."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.deps import get_services
from api.pages.office_auth import OFFICE_ROLES, OfficeDenied, OfficeUser, office_user
from api.pages.templating import render
from api.runtime import Services


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _services(request: Request) -> Services:
    return await get_services(request.app.state.runtime)


async def _page(
    request: Request, roles: tuple[str, ...] = OFFICE_ROLES
) -> tuple[OfficeUser | None, Response | None]:
    """The user, or the response instead of the page: sign-in, or the 403 page."""
    try:
        return await office_user(request, roles), None
    except OfficeDenied as denied:
        if not denied.signed_in:
            return None, _see_other("/office/sign-in?next=" + request.url.path)
        return None, render(
            request, "office/forbidden.html", {"message": denied.message, "user": None}, 403
        )


def _open_count(services: Services) -> int:
    return len(services.reader.conflicts(True, limit=10_000))


async def _context(request: Request, user: OfficeUser, **extra: Any) -> dict[str, Any]:
    services = await _services(request)
    count = await run_in_threadpool(_open_count, services)
    return dict(extra, user=user, open_conflicts=count)
