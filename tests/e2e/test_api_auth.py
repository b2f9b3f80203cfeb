"""Bearer tokens, roles and work-centre scope of the HTTP API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Backend
from tests.e2e.conftest import Api, api_settings

ROOT = Path(__file__).resolve().parents[2]
OP10 = "/orders/WO-1/operations/10"

# (method, path, body) of one route per permission group
FLOOR = ("POST", f"{OP10}/quantities", {"good": 1})
READ = ("GET", "/orders/WO-1/status", None)
SUPERVISE = ("POST", "/conflicts/WO-1/quantity/resolution", {"resolution": "keep_floor"})
AUDIT = ("GET", "/orders/WO-1/history", None)
PUSH = ("POST", "/erp/orders/WO-1/cancellation", {"reason": "x"})

NOT_FORBIDDEN = {200, 404, 409}
MATRIX = {
    # caller: groups allowed
    "ada": {"floor", "read", "supervise", "audit", "push"},
    "olga": {"floor", "read"},
    "sven": {"floor", "read", "supervise"},
    "audrey": {"read", "audit"},
    "erp-push": {"read", "push"},
}
ROUTES = {"floor": FLOOR, "read": READ, "supervise": SUPERVISE, "audit": AUDIT, "push": PUSH}


def call(api: Api, caller: str | None, route: tuple[str, str, object]) -> int:
    method, path, body = route
    headers = api.headers(caller) if caller else {}
    return api.client.request(method, path, json=body, headers=headers).status_code


def test_each_role_may_do_exactly_what_it_is_allowed(api: Api) -> None:
    api.release()
    for caller, allowed in MATRIX.items():
        for group, route in ROUTES.items():
            if group == "push":
                continue  # would cancel the order for the next callers; checked below
            status = call(api, caller, route)
            if group in allowed:
                assert status in NOT_FORBIDDEN, (caller, group, status)
            else:
                assert status == 403, (caller, group, status)
    for caller, allowed in MATRIX.items():
        if "push" not in allowed:
            assert call(api, caller, PUSH) == 403, caller
    assert call(api, "erp-push", PUSH) == 200


def test_missing_wrong_or_malformed_tokens_get_401(api: Api) -> None:
    api.release()
    for route in ROUTES.values():
        assert call(api, None, route) == 401
    r = api.client.get("/orders/WO-1/status", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = api.client.get("/orders/WO-1/status", headers={"Authorization": "Basic eDp5"})
    assert r.status_code == 401


def test_a_scoped_operator_acts_only_at_their_work_centre(api: Api) -> None:
    api.release()
    assert api.post("lena", f"{OP10}/start").status_code == 200
    r = api.post("lena", "/orders/WO-1/operations/20/start")
    assert (r.status_code, r.json()["field"], r.json()["value"]) == (403, "op_id", "20")
    assert api.post("olga", "/orders/WO-1/operations/20/start").status_code == 200
    # reads are open to anyone with access
    assert api.get("lena", "/work-centres/GRIND-1/plan").status_code == 200


def test_a_floor_action_is_checked_caller_first_then_operation_then_body(api: Api) -> None:
    """Who may act is answered before what they act on, and that before what they sent: an
    unauthenticated or out-of-role caller learns nothing about orders or bodies."""
    api.release()
    bad_body = {"good": "lots"}
    unknown = "/orders/NO-SUCH/operations/10/quantities"
    assert api.client.post(unknown, json=bad_body).status_code == 401
    assert api.post("audrey", unknown, bad_body).status_code == 403  # an auditor, not floor
    assert api.post("lena", "/orders/WO-1/operations/20/quantities", bad_body).status_code == 403
    r = api.post("olga", unknown, bad_body)
    assert (r.status_code, r.json()["field"]) == (404, "order_no"), r.json()
    r = api.post("olga", f"{OP10}/quantities", bad_body)
    assert r.status_code == 422 and "good" in r.text, r.text


def test_events_record_the_tokens_name_and_role(api: Api) -> None:
    api.release()
    api.post("lena", f"{OP10}/start")
    entries = api.get("audrey", "/orders/WO-1/history").json()["entries"]
    assert [(e["actor_id"], e["actor_role"], e["source"]) for e in entries] == [
        ("erp-push", "integration", "erp:erp"),  # an ERP change, pushed
        ("lena", "operator", "api"),
    ]


def run_cli(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOORLEDGER_DATABASE_URL=backend.url)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "token", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_tokens_are_created_listed_and_revoked_from_the_command_line(backend: Backend) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    created = run_cli(backend, "create", "--name", "kim", "--role", "operator",
                      "--work-centre", "LATHE-1")  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert len(secret) > 40
    listed = run_cli(backend, "list", "--json")
    assert '"kim"' in listed.stdout and secret not in listed.stdout
    assert run_cli(backend, "create", "--name", "kim", "--role", "admin").returncode == 1
    assert run_cli(backend, "create", "--name", "x", "--role", "boss").returncode == 1

    app = create_app(api_settings(backend.url, token_cache_seconds=0))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {secret}"}
        assert client.get("/warnings", headers=auth).status_code == 200
        revoked = run_cli(backend, "revoke", "kim")
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/warnings", headers=auth).status_code == 401
    assert run_cli(backend, "revoke", "kim").returncode == 1


def test_only_hashes_are_stored(api: Api, backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("one backend is enough to read the raw table")
    import sqlite3

    path = backend.url.removeprefix("sqlite:///")
    rows = sqlite3.connect(path).execute("SELECT token_hash FROM fl_api_tokens").fetchall()
    stored = {r[0] for r in rows}
    assert not stored & set(api.secrets.values())
    assert all(len(h) == 64 for h in stored)
