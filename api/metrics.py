"""Prometheus metrics of one API process: requests, latencies, events written, view lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _ViewLagCollector(Collector):
    """Reads the view lag at scrape time: ledger head minus each view's position."""

    def __init__(self) -> None:
        self.ledger: Any = None
        self.runner: Any = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "floorledger_view_lag_events",
            "Events in the ledger that a view has not folded yet.",
            labels=["view"],
        )
        head_gauge = GaugeMetricFamily(
            "floorledger_ledger_position", "The ledger's newest position (notification id)."
        )
        if self.runner is not None:
            try:
                head = int(self.runner.head())
                positions = self.runner.positions()
            except Exception:  # the store is down: report nothing rather than fail the scrape
                positions = {}
                head = -1
            if head >= 0:
                head_gauge.add_metric([], head)
            for view, position in sorted(positions.items()):
                gauge.add_metric([view], max(0, head - position))
        yield gauge
        yield head_gauge


class Metrics:
    """The process's metric registry (one per app, so test apps do not share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "floorledger_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "floorledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_written = Counter(
            "floorledger_events_written",
            "Events recorded in the ledger through the API.",
            registry=self.registry,
        )
        self._lag = _ViewLagCollector()
        self.registry.register(self._lag)

    def attach(self, ledger: Any, runner: Any) -> None:
        """Report the view lag of this ledger and runner."""
        self._lag.ledger = ledger
        self._lag.runner = runner

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (pure ASGI, cheap)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
