"""Fixtures of the HTTP API tests: an app on each backend, with a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import ApiSettings
from tests.conftest import Backend

# name -> (role, work-centre scope)
CALLERS: dict[str, tuple[str, str | None]] = {
    "ada": ("admin", None),
    "olga": ("operator", None),
    "lena": ("operator", "LATHE-1"),
    "sven": ("supervisor", None),
    "audrey": ("auditor", None),
    "erp-push": ("integration", None),
}


def api_settings(url: str, **overrides: Any) -> ApiSettings:
    return ApiSettings(database_url=url, **overrides)  # type: ignore[arg-type]


@dataclass
class Api:
    """An app under test with a TestClient and one token per caller name."""

    app: FastAPI
    client: TestClient
    secrets: dict[str, str] = field(default_factory=dict)

    def headers(self, caller: str, key: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.secrets[caller]}"}
        if key is not None:
            h["Idempotency-Key"] = key
        return h

    def post(
        self, caller: str, path: str, body: dict[str, Any] | None = None, *, key: str | None = None
    ) -> httpx.Response:
        return self.client.post(path, json=body or {}, headers=self.headers(caller, key))

    def get(self, caller: str, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.headers(caller))

    def release(self, order_no: str = "WO-1", **overrides: Any) -> httpx.Response:
        """The ERP pushes a released order of 10 pcs: op 10 on LATHE-1, op 20 on GRIND-1."""
        r = self.post("erp-push", "/erp/orders", an_erp_order(order_no, **overrides))
        assert r.status_code == 200, r.text
        return r


def an_erp_order(order_no: str = "WO-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_no": order_no,
        "part_no": "P-100",
        "description": "Shaft",
        "quantity": "10",
        "unit": "pcs",
        "due_date": "2026-12-01",
        "priority": 1,
        "work_centre": "WC-A",
        "routing": [
            {"op_id": "10", "name": "Turn", "work_centre": "LATHE-1", "setup_time": "10"},
            {"op_id": "20", "name": "Grind", "work_centre": "GRIND-1", "setup_time": "5"},
        ],
    }
    body.update(overrides)
    return body


def open_api(url: str, *, with_tokens: bool = True, **overrides: Any) -> Iterator[Api]:
    """An app on the store at ``url`` (creating a token per caller unless told not to)."""
    app = create_app(api_settings(url, **overrides))
    with TestClient(app) as client:
        api = Api(app, client)
        tokens = app.state.runtime.tokens
        for name, (role, scope) in CALLERS.items() if with_tokens else ():
            _, api.secrets[name] = tokens.create(name, role, scope)
        yield api


@pytest.fixture
def api(backend: Backend) -> Iterator[Api]:
    """The API on a fresh store (SQLite and PostgreSQL), with a token per caller."""
    yield from open_api(backend.url)


api_on = contextmanager(open_api)
