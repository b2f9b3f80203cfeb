"""CSRF protection for cookie-authenticated requests: a double-submit token.

The token lives in an HttpOnly, SameSite=Strict cookie and is rendered into every page
(a hidden ``csrf_token`` field in each form, a ``<meta name="csrf-token">`` for scripts);
a state-changing request must send it back as the form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from api.problems import PermissionDeniedError

CSRF_COOKIE = "fl_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_secure(request: Request) -> bool:
    """Secure cookies when configured so, else when the request came over HTTPS."""
    forced = request.app.state.runtime.settings.cookie_secure
    return bool(forced) if forced is not None else request.url.scheme == "https"


def token_for(request: Request) -> str:
    """The request's CSRF token (the cookie's, or a new one ``remember`` will set)."""
    token = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return str(token)


def remember(request: Request, response: Response) -> None:
    """Set the CSRF cookie on a response when the request did not bring it."""
    token = getattr(request.state, "csrf_token", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request),
            path="/",
        )  # fmt: skip


def _check(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise PermissionDeniedError(
            "the form's CSRF token is missing or does not match; reload the page and try again",
            field="csrf_token",
            value=None,
        )


def check_form(request: Request, sent: str | None) -> None:
    """Refuse a form post without the page's token (403)."""
    _check(request, sent)


def check_header(request: Request) -> None:
    """Refuse a cookie-authenticated API write without the X-CSRF-Token header (403)."""
    if request.method not in SAFE_METHODS:
        _check(request, request.headers.get(CSRF_HEADER))
