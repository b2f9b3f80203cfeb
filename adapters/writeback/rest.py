"""REST/JSON writeback: one POST per message, or one per batch, each with an Idempotency-Key.

Single endpoint: the body is the message (see ``Message.to_json``); any 2xx means applied.
Batch endpoint: the body is ``{"messages": [...]}``; a 2xx answer may carry
``{"results": [{"idempotency_key": K, "status": 201, "error": "..."}]}`` to refuse single
messages (a receiver stops applying an order's messages after refusing one of them).
408, 429 and 5xx answers, timeouts and refused connections are transient; other 4xx refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx

from adapters.config import ApiKeyAuth, BasicAuth, BearerAuth, secret
from adapters.writeback.base import Outcome, Refused, TransientError, Transport
from adapters.writeback.config import RestDestination
from adapters.writeback.messages import Message

_TRANSIENT_STATUS = {408, 425, 429}


def _transient(status: int) -> bool:
    return status >= 500 or status in _TRANSIENT_STATUS


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"HTTP {response.status_code}" + (f": {text[:300]}" if text else "")


class RestTransport(Transport):
    """Posts messages to the ERP's web service."""

    def __init__(self, config: RestDestination, client: httpx.Client | None = None) -> None:
        self.config = config
        self.batch_size = config.batch_size if config.batch_url else 1
        headers = {"Content-Type": "application/json", **config.headers}
        auth: httpx.Auth | None = None
        a = config.auth
        if isinstance(a, BearerAuth):
            headers["Authorization"] = f"Bearer {secret(a, 'token').get_secret_value()}"
        elif isinstance(a, BasicAuth):
            auth = httpx.BasicAuth(a.username, secret(a, "password").get_secret_value())
        elif isinstance(a, ApiKeyAuth):
            headers[a.header] = secret(a, "key").get_secret_value()
        verify: Any = str(config.ca_file) if config.ca_file else config.verify_tls
        self.client = client or httpx.Client(
            headers=headers, auth=auth, verify=verify, timeout=config.timeout_seconds
        )

    def _post(self, url: str, key: str, body: str) -> httpx.Response:
        try:
            response = self.client.post(
                url, content=body.encode("utf-8"), headers={"Idempotency-Key": key}
            )
        except httpx.TransportError as exc:
            raise TransientError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        if _transient(response.status_code):
            raise TransientError(f"{url}: {_excerpt(response)}")
        raise Refused(_excerpt(response))

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        if len(messages) == 1 or not self.config.batch_url:
            out: list[Outcome] = []
            for m in messages:
                self._post(self.config.url, m.key, m.dumps())
                out.append(None)
            return out
        digest = hashlib.sha256("\x1f".join(m.key for m in messages).encode()).hexdigest()[:32]
        key = f"{self.config.name}:batch:{digest}"
        body = '{"messages":[' + ",".join(m.dumps() for m in messages) + "]}"
        response = self._post(self.config.batch_url, key, body)
        return _batch_outcomes(messages, response)

    def close(self) -> None:
        self.client.close()


def _batch_outcomes(messages: Sequence[Message], response: httpx.Response) -> list[Outcome]:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return [None] * len(messages)
    by_key: dict[str, dict[str, Any]] = {
        str(r.get("idempotency_key")): r for r in results if isinstance(r, dict)
    }
    out: list[Outcome] = []
    for m in messages:
        r = by_key.get(m.key)
        if r is None:
            out.append(None)
            continue
        status = int(r.get("status", 200))
        if 200 <= status < 300:
            out.append(None)
        elif _transient(status):
            raise TransientError(f"batch item {m.key}: HTTP {status} {r.get('error', '')}")
        else:
            out.append(f"HTTP {status}: {r.get('error', '')}".strip())
    return out


__all__ = ["RestTransport"]
