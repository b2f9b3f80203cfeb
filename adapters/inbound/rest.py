"""The plan pulled from an ERP's REST/JSON web service (httpx), page by page.

Authentication is bearer, basic or API key, with credentials resolved at use; TLS is
verified unless the configuration turns it off. A page that is not JSON is a document
error (so a full plan is never applied from part of it); a server that cannot be reached,
answers 5xx, 429 or refuses the credentials makes the whole pass unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urljoin

import httpx

from adapters.config import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ConfigError,
    Integration,
    RestInbound,
    secret,
)
from adapters.inbound.parsers import Parsed, parse_json_items
from adapters.inbound.sync import SourceUnavailable, SyncSummary, apply_mapping
from adapters.mapping import MappingCheck, MappingResult, Record, RowError, lookup, map_records
from domain.ledger import Ledger

log = logging.getLogger("floorledger.inbound.rest")

USER_AGENT = "floorledger-sync"


def rest_inbound(integration: Integration) -> RestInbound:
    """The integration's REST settings (refused when it uses another transport)."""
    if not isinstance(integration.inbound, RestInbound):
        raise ValueError(f"integration {integration.name!r} does not read a REST service")
    return integration.inbound


def make_client(
    inbound: RestInbound, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An httpx client with the configured timeout, TLS verification and credentials."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    auth: httpx.Auth | None = None
    cfg = inbound.auth
    if isinstance(cfg, BearerAuth):
        headers["Authorization"] = f"Bearer {secret(cfg, 'token').get_secret_value()}"
    elif isinstance(cfg, BasicAuth):
        auth = httpx.BasicAuth(cfg.username, secret(cfg, "password").get_secret_value())
    elif isinstance(cfg, ApiKeyAuth):
        headers[cfg.header] = secret(cfg, "key").get_secret_value()
    verify: Any = inbound.verify_tls
    if inbound.verify_tls and inbound.ca_file is not None:
        import ssl

        verify = ssl.create_default_context(cafile=str(inbound.ca_file))
    return httpx.Client(
        headers=headers,
        auth=auth,
        verify=verify,
        timeout=inbound.timeout_seconds,
        follow_redirects=True,
        transport=transport,
    )


def _get_json(client: httpx.Client, name: str, url: str, params: dict[str, Any]) -> Any:
    """One page as decoded JSON; raises SourceUnavailable when the service cannot answer."""
    try:
        response = client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise SourceUnavailable(name, f"GET {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code in (401, 403):
        raise SourceUnavailable(name, f"GET {url}: credentials refused ({response.status_code})")
    if response.status_code >= 400:
        raise SourceUnavailable(name, f"GET {url}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        return _NotJson(f"GET {response.url}: the answer is not JSON ({exc})")


class _NotJson:
    def __init__(self, message: str) -> None:
        self.message = message


def fetch_items(
    integration: Integration, *, transport: httpx.BaseTransport | None = None
) -> list[Parsed]:
    """Every record of every page, numbered across pages; a bad page is a document error."""
    inbound = rest_inbound(integration)
    try:
        client = make_client(inbound, transport=transport)
    except ConfigError as exc:
        raise SourceUnavailable(integration.name, str(exc)) from exc
    with client:
        return list(_pages(client, integration.name, inbound))


def _pages(client: httpx.Client, name: str, inbound: RestInbound) -> Iterator[Parsed]:
    paging = inbound.paging
    url: str | None = inbound.url
    page = paging.first_page if paging else 0
    offset = 0
    for _ in range(paging.max_pages if paging else 1):
        if url is None:
            return
        params: dict[str, Any] = {}
        if paging is not None and paging.mode == "page":
            params[paging.page_param] = page
            if paging.size_param and paging.page_size:
                params[paging.size_param] = paging.page_size
        body = _get_json(client, name, url, params)
        if isinstance(body, _NotJson):
            yield RowError(None, "document", None, body.message)
            return
        count = 0
        for item in parse_json_items(body, inbound.items_path):
            if isinstance(item, Record):
                count += 1
                yield Record(offset + item.row, item.data)
            else:
                row = None if item.row is None else offset + item.row
                yield RowError(row, item.field, item.value, item.message, item.order_no)
                count += item.row is not None
        offset += count
        if paging is None:
            return
        if paging.mode == "page":
            if count == 0 or (paging.page_size is not None and count < paging.page_size):
                return
            page += 1
        else:
            link = lookup(body, str(paging.next_path))
            url = urljoin(url, str(link)) if link else None
    if paging is not None and url is not None:
        yield RowError(
            None, "paging", paging.max_pages, "more pages than max_pages; the plan is incomplete"
        )


def read(
    integration: Integration,
    *,
    check: MappingCheck | None = None,
    transport: httpx.BaseTransport | None = None,
) -> MappingResult:
    """Fetch and map the plan (no ledger writes)."""
    items = fetch_items(integration, transport=transport)
    return map_records(items, integration.field_map, integration.maps, check=check)


def sync(
    integration: Integration,
    ledger: Ledger,
    *,
    open_orders: Callable[[], Iterable[str]] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SyncSummary:
    """One pass: fetch every page, map, apply to the ledger with the shared semantics."""
    result = read(integration, transport=transport)
    return apply_mapping(integration, ledger, result, open_orders=open_orders, bulk=True)


__all__ = ["fetch_items", "make_client", "read", "rest_inbound", "sync"]
