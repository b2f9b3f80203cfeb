"""Transport security against a real `floorledger serve`: header limits, TLS, security headers,
failed-authentication throttling, API docs without the internet."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.server import ROOT, Server, floorledger


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`floorledger serve` on an embedded store (shared by the tests that send no token)."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {"FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    with floorledger("serve", cwd=tmp_path, env=env) as s:
        yield s


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[Server]:
    """`floorledger serve` throttling after 5 failed authentications."""
    env = {
        "FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "FLOORLEDGER_AUTH_FAILURES_ALLOWED": "5",
    }
    with floorledger("serve", cwd=tmp_path, env=env) as s:
        yield s


def _token(tmp_path: Path, name: str, role: str = "operator", *extra: str) -> str:
    made = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "api.cli", "token", "create",
         f"--name={name}", f"--role={role}", *extra],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
             "FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"},
    )  # fmt: skip
    return made.stdout.strip()


# ---------------------------------------------------------------------------- 431


@pytest.mark.parametrize("size", [20_000, 1_000_000])
def test_an_oversized_request_header_is_answered_431_not_reset(server: Server, size: int) -> None:
    r = httpx.get(f"{server.base}/health/live", headers={"X-Big": "a" * size}, timeout=10)
    assert r.status_code == 431
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Request Header Fields Too Large"
    # the server goes on serving
    assert httpx.get(f"{server.base}/health/live", timeout=5).status_code == 200


def test_an_ordinary_request_header_is_served(server: Server) -> None:
    r = httpx.get(f"{server.base}/health/live", headers={"X-Ok": "a" * 8000}, timeout=5)
    assert r.status_code == 200


# ---------------------------------------------------------------------------- headers


def test_every_response_carries_the_security_headers_and_no_hsts_over_plain_http(
    server: Server,
) -> None:
    for path in ("/health/live", "/conflicts", "/openapi.json", "/no-such-page"):
        r = httpx.get(f"{server.base}{path}", timeout=5)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert "strict-transport-security" not in r.headers, path


# ---------------------------------------------------------------------------- throttling


def test_failed_authentications_are_throttled_per_client_and_good_tokens_still_work(
    strict_server: Server, tmp_path: Path
) -> None:
    server = strict_server
    good = _token(tmp_path, "olga")
    ok = {"Authorization": f"Bearer {good}"}
    with httpx.Client(base_url=server.base, timeout=5) as c:
        statuses = [
            c.get("/conflicts", headers={"Authorization": f"Bearer wrong-{i}"}).status_code
            for i in range(8)
        ]
        assert statuses == [401] * 5 + [429] * 3
        refused = c.get("/conflicts", headers={"Authorization": "Bearer wrong-again"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["x-content-type-options"] == "nosniff"
        # health needs no token and stays reachable
        assert c.get("/health/live").status_code == 200
    # before the limit, successful authentications are never counted
    with floorledger(
        "serve", cwd=tmp_path,
        env={"FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
             "FLOORLEDGER_AUTH_FAILURES_ALLOWED": "3"},
    ) as fresh, httpx.Client(base_url=fresh.base, timeout=5) as c:  # fmt: skip
        assert [c.get("/conflicts", headers=ok).status_code for _ in range(20)] == [200] * 20
        bad = {"Authorization": "Bearer wrong"}
        assert [c.get("/conflicts", headers=bad).status_code for _ in range(2)] == [401, 401]
        assert c.get("/conflicts", headers=ok).status_code == 200


# ---------------------------------------------------------------------------- TLS


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_serve_with_a_certificate_speaks_https_and_sends_hsts(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    env = {"FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    args = ("serve", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with floorledger(*args, cwd=tmp_path, env=env, scheme="https", verify=trust) as s:
        assert "https://" in s.output()
        r = httpx.get(f"{s.base}/health/live", verify=trust, timeout=5)
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        plain = s.base.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/health/live", timeout=5)


def test_serve_refuses_a_missing_certificate_file_naming_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "api.cli", "serve",
         "--ssl-certfile", str(tmp_path / "nope.pem")],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "--ssl-certfile" in done.stderr and "nope.pem" in done.stderr


# ---------------------------------------------------------------------------- docs offline


def _assets(html: str, page_url: str) -> list[str]:
    refs = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', html)
    refs += re.findall(r'spec-url="([^"]+)"', html)
    refs += re.findall(r"url: '([^']+)'", html)
    return [urljoin(page_url, ref) for ref in refs]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_every_asset_from_this_server(server: Server, page: str) -> None:
    r = httpx.get(f"{server.base}{page}", timeout=5)
    assert r.status_code == 200
    assets = _assets(r.text, str(r.url))
    assert len(assets) >= 2  # the script and the OpenAPI document at least
    host = urlsplit(server.base).netloc
    for url in assets:
        assert urlsplit(url).netloc == host, url
        got = httpx.get(url, timeout=10)
        assert got.status_code == 200, url
    assert "googleapis" not in r.text and "cdn." not in r.text
    # the page's CSP allows its own inline scripts (by hash) and its own scripts only
    csp = r.headers["content-security-policy"]
    for script in re.findall(r"<script>(.*?)</script>", r.text, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium to render the docs")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/docs", 'data-path="/conflicts"'), ("/redoc", "operation/list_conflicts")],
)
def test_a_browser_renders_the_api_docs_under_the_content_security_policy(
    server: Server, tmp_path: Path, page: str, rendered: str
) -> None:
    done = subprocess.run(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
         "--dump-dom", f"{server.base}{page}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rendered in done.stdout


def test_behind_a_trusted_proxy_the_limiter_counts_the_forwarded_client_and_https_gets_hsts(
    strict_server: Server,
) -> None:
    """The test runs on 127.0.0.1, which uvicorn trusts as a proxy by default."""
    with httpx.Client(base_url=strict_server.base, timeout=5) as c:

        def as_client(ip: str) -> int:
            headers = {"Authorization": "Bearer wrong", "X-Forwarded-For": ip}
            return c.get("/conflicts", headers=headers).status_code

        assert [as_client("10.0.0.1") for _ in range(6)] == [401] * 5 + [429]
        assert as_client("10.0.0.2") == 401  # another terminal behind the same proxy
        https = c.get("/health/live", headers={"X-Forwarded-Proto": "https"})
        assert https.headers["strict-transport-security"].startswith("max-age=")


def test_an_unexpected_server_error_answer_carries_the_security_headers(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.e2e.conftest import api_settings

    app = create_app(api_settings(f"sqlite:///{tmp_path / 'l.db'}"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_run_with_a_certificate_serves_https_and_prints_https_addresses(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    env = {"FLOORLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    args = ("run", "--no-demo", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with floorledger(*args, cwd=tmp_path, env=env, scheme="https", verify=trust) as s:
        assert re.search(r"API docs\s+https://", s.output())
        r = httpx.get(f"{s.base}/docs", verify=trust, timeout=5)
        assert r.status_code == 200 and "strict-transport-security" in r.headers
