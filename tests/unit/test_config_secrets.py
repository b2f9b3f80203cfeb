"""Credentials in REST URLs and literal headers are refused in the configuration; URLs shown to
operators are redacted by one function."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.config import ConfigError, parse_config
from adapters.redact import redact_text, redact_url
from adapters.settings import Settings
from adapters.writeback.config import outbound_of

SECRET = "s3cr3t-value"


def _plant(inbound: dict[str, Any], outbound: dict[str, Any] | None = None) -> dict[str, Any]:
    integ: dict[str, Any] = {"name": "erp", "mode": "D", "inbound": inbound}
    if outbound is not None:
        integ["outbound"] = outbound
    return {"integrations": [integ]}


def _rest(url: str) -> dict[str, Any]:
    return {"transport": "rest", "url": url}


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (f"https://mes:{SECRET}@erp.example/api/orders", "password"),
        (f"https://erp.example/api/orders?api_key={SECRET}", "api_key"),
        (f"https://erp.example/api/orders?page=1&access_token={SECRET}", "access_token"),
        (f"https://erp.example/api/orders?apiKey={SECRET}", "apiKey"),
    ],
)
def test_an_inbound_rest_url_carrying_a_credential_is_refused_without_echoing_it(
    url: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_plant(_rest(url)))
    text = str(caught.value)
    assert "integrations[0].inbound.url" in text and named in text
    assert "credentials in the URL" in text and "_env" in text
    assert SECRET not in text


def test_a_tryton_url_with_a_password_is_refused() -> None:
    inbound = {"transport": "tryton", "url": f"https://admin:{SECRET}@tryton.example",
               "database": "d", "user": "u", "password_env": "TRYTON_PW"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"inbound\.url: credentials in the URL") as caught:
        parse_config(_plant(inbound))
    assert SECRET not in str(caught.value)


def test_a_rest_url_without_credentials_is_accepted() -> None:
    cfg = parse_config(_plant(_rest("https://mes@erp.example/api/orders?page=1&site=PL1")))
    assert cfg.integrations[0].inbound.url.endswith("site=PL1")  # type: ignore[union-attr]


def _writeback(**dest: Any) -> None:
    files = {"transport": "files", "inbox": "/tmp/in", "archive": "/tmp/a", "error": "/tmp/e",
             "format": "csv"}  # fmt: skip
    destination = {"name": "erp-rest", "transport": "rest", **dest}
    config = parse_config(_plant(files, {"destinations": [destination]}))
    outbound_of(config.integrations[0])


@pytest.mark.parametrize(
    "dest",
    [
        {"url": f"https://wb:{SECRET}@erp.example/events"},
        {"url": "https://erp.example/events", "batch_url": f"https://erp.example/b?token={SECRET}"},
    ],
)
def test_a_writeback_url_carrying_a_credential_is_refused(dest: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="credentials in the URL") as caught:
        _writeback(**dest)
    assert "destinations[0]" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"])
def test_a_literal_writeback_header_carrying_a_secret_is_refused(header: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _writeback(url="https://erp.example/events", headers={header: SECRET})
    text = str(caught.value)
    assert "destinations[0].headers" in text and header in text
    assert "a literal secret is not allowed" in text and "key_env" in text
    assert SECRET not in text


def test_ordinary_writeback_headers_are_accepted() -> None:
    _writeback(url="https://erp.example/events", headers={"X-Plant": "PL1", "Accept": "json"})


def test_a_url_with_credentials_is_shown_with_them_masked() -> None:
    url = f"https://mes:{SECRET}@erp.example:8443/api?page=2&api_key={SECRET}&sig={SECRET}"
    assert redact_url(url) == "https://mes:***@erp.example:8443/api?page=2&api_key=***&sig=***"
    error = f"TransientError: POST {url}: ConnectError (amqp://guest:{SECRET}@mq/%2F)."
    shown = redact_text(error)
    assert SECRET not in shown
    assert shown.endswith("(amqp://guest:***@mq/%2F).")


def test_the_store_url_is_redacted_by_the_same_function() -> None:
    settings = Settings(database_url=f"postgresql://floor:{SECRET}@db:5432/fl?schema=a")  # type: ignore[arg-type]
    assert settings.redacted_url() == "postgresql://floor:***@db:5432/fl?schema=a"
