"""Transport security of the HTTP API: response headers, failed-authentication throttling,
API docs served from the installed package, and the uvicorn options of ``serve`` / ``run``.

Everything here is installed by :func:`install` (one call in ``create_app``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from api.runtime import ApiSettings

PROBLEM_JSON = b"application/problem+json"
DOCS_ASSETS = "/docs-assets"

# Server-rendered pages with no external assets: everything from this host, nothing framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# Paths a throttled client may still reach (they need no token).
OPEN_PATHS = re.compile(r"^/(health/|metrics$|docs$|redoc$|openapi\.json$|docs-assets/)")


# ---------------------------------------------------------------------- headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (HSTS only on responses served over TLS).

    A response that sets its own Content-Security-Policy (the API docs) keeps it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = list(SECURITY_HEADERS)
                extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                if tls:
                    extra.append((b"strict-transport-security", HSTS.encode()))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------- throttling


class FailedAuthLimiter:
    """Counts failed authentications per client address in a sliding window.

    A client with ``allowed`` failures within ``window`` seconds is refused (429) until the
    oldest of them leaves the window. Successful requests are neither counted nor slowed.
    """

    MAX_CLIENTS = 100_000

    def __init__(self, allowed: int, window: float) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it is not throttled."""
        if self.allowed <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if times is None or len(times) < self.allowed:
                return None
            return max(1, math.ceil(times[-self.allowed] + self.window - now))

    def failed(self, client: str) -> None:
        """Record a failed authentication by ``client``."""
        if self.allowed <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.MAX_CLIENTS:
                for other in list(self._failures):
                    self._recent(other, now)
                if len(self._failures) >= self.MAX_CLIENTS:
                    self._failures.pop(next(iter(self._failures)))
            times = self._failures.setdefault(client, deque())
            times.append(now)
            while len(times) > self.allowed:
                times.popleft()


def client_address(scope: Scope) -> str:
    """The client as the server sees it (behind a trusted proxy: from X-Forwarded-For)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class FailedAuthMiddleware:
    """Answers 429 with Retry-After to a client that failed authentication too often."""

    def __init__(self, app: ASGIApp, limiter: FailedAuthLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limiter.allowed <= 0:
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        wait = None if OPEN_PATHS.match(scope["path"]) else self.limiter.retry_after(client)
        if wait is not None:
            await _too_many(scope, send, wait)
            return
        sent_token = any(k.lower() == b"authorization" for k, _ in scope.get("headers", []))

        async def watch(message: Message) -> None:
            started = message["type"] == "http.response.start"
            if started and message["status"] == 401 and sent_token:
                self.limiter.failed(client)
            await send(message)

        await self.app(scope, receive, watch)


async def _too_many(scope: Scope, send: Send, wait: int) -> None:
    body = json.dumps(
        {
            "type": "/problems/too-many-failed-authentications",
            "title": "Too many failed authentications",
            "status": 429,
            "detail": f"too many failed authentications from this client; retry in {wait}s",
            "instance": scope["path"],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------- API docs


def docs_assets_dir() -> Path:
    """Swagger UI and ReDoc as installed with the ``fastapi-offline`` package."""
    return Path(str(files("fastapi_offline") / "static"))


def _script_hashes(html: str) -> list[str]:
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    ]


def _docs_csp(html: str) -> str:
    """A CSP for a docs page: its own inline scripts by hash; ReDoc's styles and worker."""
    return (
        "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' {' '.join(_script_hashes(html))}; worker-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ).replace("script-src 'self' ;", "script-src 'self';")


def install_docs(app: FastAPI, title: str) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) served from the installed package, not a CDN.

    The app must be created with ``docs_url=None, redoc_url=None``.
    """
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets_dir()), name="docs-assets")

    def page(response: HTMLResponse) -> HTMLResponse:
        html = bytes(response.body).decode()
        response.headers["Content-Security-Policy"] = _docs_csp(html)
        return response

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return page(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                oauth2_redirect_url=None,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return page(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )


# ---------------------------------------------------------------------- wiring


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Docs from the package, the failed-auth limiter and the security headers."""
    install_docs(app, app.title)
    limiter = FailedAuthLimiter(
        settings.auth_failures_allowed, settings.auth_failure_window_seconds
    )
    app.state.auth_limiter = limiter
    app.add_middleware(FailedAuthMiddleware, limiter=limiter)
    # Outside everything, even the framework's error layer, so 500 answers carry them too.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeadersMiddleware(build())  # type: ignore[method-assign]


def uvicorn_options(settings: ApiSettings) -> dict[str, Any]:
    """What ``serve`` and ``run`` pass to uvicorn: TLS, the header size limit (431)."""
    options: dict[str, Any] = {
        "http": http_protocol(),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
    if settings.ssl_certfile is not None:
        options["ssl_certfile"] = str(settings.ssl_certfile)
        options["ssl_keyfile"] = str(settings.ssl_keyfile) if settings.ssl_keyfile else None
    return options


def http_protocol() -> str:
    """httptools (C parser, installed with uvicorn[standard]) when present, else h11; both
    answer oversized headers with 431 (api/http11.py)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "api.http11:FloorledgerH11Protocol"
    return "api.http11:FloorledgerHttpToolsProtocol"


def scheme(settings: ApiSettings) -> str:
    return "https" if settings.ssl_certfile is not None else "http"


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "FailedAuthLimiter",
    "install",
    "scheme",
    "uvicorn_options",
]
