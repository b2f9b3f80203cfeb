"""Idempotency-Key: a repeated request records nothing and answers as the first did."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import Backend
from tests.e2e.conftest import Api, open_api

OP10 = "/orders/WO-1/operations/10"
SAME_MOMENT = 8


def at_the_same_moment(n: int, request: Callable[[], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def go() -> httpx.Response:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: go(), range(n)))


def events_of(api: Api, name: str) -> list[dict[str, object]]:
    entries = api.get("audrey", "/orders/WO-1/history", limit=1000).json()["entries"]
    return [e for e in entries if e["event"] == name]


def test_a_repeated_key_returns_the_first_response_and_records_nothing(api: Api) -> None:
    api.release()
    first = api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-1")
    again = api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {**again.json(), "position": None} == {**first.json(), "position": None}
    assert again.json()["position"] >= first.json()["position"]
    assert len(events_of(api, "QuantityReported")) == 1


def test_the_same_key_with_a_different_body_is_refused(api: Api) -> None:
    api.release()
    api.post("olga", f"{OP10}/quantities", {"good": 2}, key="k-1")
    other = api.post("olga", f"{OP10}/quantities", {"good": 3}, key="k-1")
    assert other.status_code == 422
    assert (other.json()["field"], other.json()["value"]) == ("Idempotency-Key", "k-1")
    assert len(events_of(api, "QuantityReported")) == 1


def test_keys_are_scoped_per_token_so_two_clients_do_not_collide(api: Api) -> None:
    api.release()
    a = api.post("olga", f"{OP10}/quantities", {"good": 2}, key="shift-1")
    b = api.post("lena", f"{OP10}/quantities", {"good": 2}, key="shift-1")
    assert "Idempotent-Replayed" not in a.headers and "Idempotent-Replayed" not in b.headers
    assert len(events_of(api, "QuantityReported")) == 2


def test_identical_requests_at_the_same_moment_have_exactly_one_effect(api: Api) -> None:
    api.release()
    responses = at_the_same_moment(
        SAME_MOMENT, lambda: api.post("olga", f"{OP10}/quantities", {"good": 1}, key="q-1")
    )
    assert [r.status_code for r in responses] == [200] * SAME_MOMENT
    assert len({r.json()["version"] for r in responses}) == 1
    assert len(events_of(api, "QuantityReported")) == 1


def test_identical_state_changes_at_the_same_moment_all_get_the_first_answer(api: Api) -> None:
    api.release()
    responses = at_the_same_moment(
        SAME_MOMENT, lambda: api.post("olga", f"{OP10}/start", {}, key="s-1")
    )
    assert [r.status_code for r in responses] == [200] * SAME_MOMENT, [
        r.text for r in responses if r.status_code != 200
    ]
    assert len(events_of(api, "OperationStarted")) == 1


def test_identical_requests_to_two_api_processes_have_exactly_one_effect(
    api: Api, backend: Backend
) -> None:
    api.release()
    second = open_api(backend.url, with_tokens=False)
    other = next(second)
    try:
        other.secrets = api.secrets  # the same tokens: the same store
        clients = [api, other] * (SAME_MOMENT // 2)
        index = iter(range(SAME_MOMENT))
        lock = threading.Lock()

        def request() -> httpx.Response:
            with lock:
                i = next(index)
            return clients[i].post("olga", f"{OP10}/start", {}, key="two-procs")

        responses = at_the_same_moment(SAME_MOMENT, request)
    finally:
        second.close()
    assert [r.status_code for r in responses] == [200] * SAME_MOMENT, [r.text for r in responses]
    assert len(events_of(api, "OperationStarted")) == 1
