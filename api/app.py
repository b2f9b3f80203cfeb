"""The HTTP API: ``create_app(settings)`` builds it; nothing is constructed at import time.

Served by ``floorledger serve`` (uvicorn ``api.app:create_app --factory``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import problems, security
from api.metrics import MetricsMiddleware
from api.pages import office as office_pages  # issue #15
from api.pages import templating
from api.pages import terminal as terminal_pages
from api.routes import (
    audit,
    conflicts,
    erp,
    health,
    operations,
    operators,
    orders,
    plan,
    reason_codes,
    script,
    warnings,
    writeback,
)
from api.runtime import ApiSettings, Runtime, StoreUnavailableError

log = logging.getLogger("floorledger.api")

DESCRIPTION = """\
The floor's HTTP interface to the floorledger execution ledger.

Every write answers with the ledger `position` it produced; pass it to a read as
`wait_for_position` to read your own write. Every write accepts an `Idempotency-Key` header.
Errors are RFC 9457 `application/problem+json` documents naming the offending field and value.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The floorledger API on the configured store (settings from FLOORLEDGER_* when omitted)."""
    settings = settings or ApiSettings()
    runtime = Runtime.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Floor writes block on the database; more of them in flight lets group commit
        # (ADR 0005) share each transaction among more requests.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, settings.threads)
        try:
            await run_in_threadpool(runtime.open)
        except StoreUnavailableError as exc:
            log.warning("starting without the store (not ready): %s", exc.detail)
        try:
            yield
        finally:
            await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="floorledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package by security.install (no CDN)
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks: floorledger configures no OpenTelemetry provider
        # and serves its figures at /metrics; off, a request skips the provider lookups
        # (os.environ reads) FastAPI otherwise makes on every call (#17, the write route).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    problems.install(app)
    for module in (operations, orders, plan, script, conflicts, warnings, audit, erp, writeback):
        app.include_router(module.router)
    app.include_router(reason_codes.router)
    app.include_router(operators.router)
    # people's pages (server-rendered) and their assets, shipped in the package
    app.include_router(terminal_pages.router)
    app.include_router(office_pages.router)  # issue #15: the office pages
    templating.mount_static(app)
    app.include_router(health.router)
    app.include_router(health.metrics_router)
    app.add_middleware(MetricsMiddleware, metrics=runtime.metrics)
    security.install(app, settings)  # docs, failed-auth limiter, security headers
    return app
