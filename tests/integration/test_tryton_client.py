"""The Tryton connector against a real trytond (production, routing and work modules).

The server is created once for the module's session (about 20 s); outside CI the tests skip
with the reason when trytond cannot start, in CI (CI=true) they fail.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from adapters.tryton.client import (
    TrytonAuthError,
    TrytonClient,
    TrytonFault,
    TrytonSessionError,
    TrytonUnavailable,
    decode_value,
    encode_value,
)
from adapters.tryton.inbound import read_plan
from adapters.tryton.outbound import TrytonWriteback, WritebackRefused
from adapters.writeback.base import TransientError
from adapters.writeback.config import TrytonDestination
from adapters.writeback.messages import Message
from adapters.writeback.tryton import TrytonTransport
from domain.values import ErpOperation
from tests.support.tryton_server import Plant, TrytonSeed, TrytonServer

pytestmark = pytest.mark.tryton


@pytest.fixture
def client(server: TrytonServer) -> Iterator[TrytonClient]:
    """The connector's client: the least-privilege integration user, never admin."""
    with server.client() as c:
        yield c


@pytest.fixture
def seed(server: TrytonServer, plant: Plant) -> Iterator[TrytonSeed]:
    """Planner actions on the seeded plant (as admin, like a planner in Tryton)."""
    with server.admin_client() as c:
        yield TrytonSeed(c)


# -- client --------------------------------------------------------------------------------


def test_tryton_values_round_trip_through_the_json_encoding() -> None:
    values = [
        dt.date(2026, 3, 1),
        dt.datetime(2026, 3, 1, 12, 30, 5, 10),
        dt.timedelta(minutes=12, seconds=3),
        Decimal("1.250"),
        b"\x00bytes",
    ]
    for value in values:
        assert decode_value(encode_value(value)) == value


def test_the_client_logs_in_with_a_session_and_reads_the_users_company(
    client: TrytonClient, plant: Plant
) -> None:
    assert client.user_id is None
    context = client.context
    assert client.user_id is not None
    assert context["company"] == plant.company
    rows = client.search_read("res.user", [("id", "=", client.user_id)], ["login"])
    assert rows[0]["login"] == client.user


def test_a_wrong_password_is_refused_with_a_clear_error_that_does_not_reveal_it(
    server: TrytonServer,
) -> None:
    secret = "not-the-password-xyz"
    with TrytonClient(server.url, server.database, "admin", secret) as c:
        with pytest.raises(TrytonAuthError) as info:
            c.login()
        assert secret not in repr(c)
    assert info.value.status_code == 401
    assert "refused" in str(info.value)
    assert secret not in str(info.value)


def test_an_unknown_database_is_refused_at_login(server: TrytonServer) -> None:
    c = TrytonClient(server.url, "no_such_db", server.user, server.password)
    with c, pytest.raises(TrytonAuthError) as info:
        c.login()
    assert info.value.status_code == 404
    assert "not found" in str(info.value)


def test_a_refused_call_raises_a_fault_carrying_trytons_message(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 2)
    work = seed.works(seed.id_of(number))[0]["id"]
    # A released but not running production's works cannot be started.
    with pytest.raises(TrytonFault) as info:
        client.button("production.work", "start", [work])
    assert info.value.is_user_error
    assert "start" in info.value.message
    assert info.value.method == "model.production.work.start"


def test_an_expired_session_is_renewed_by_logging_in_again(client: TrytonClient) -> None:
    client.login()
    first = client._session
    # Tryton forgets the session (as on timeout); the client still holds it.
    client.call("common.db.logout", [])

    rows = client.search_read("res.user", [("login", "=", client.user)], ["id"])

    assert rows
    assert client._session is not None and client._session != first


def test_a_server_that_does_not_answer_in_time_is_reported_unavailable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        c = TrytonClient(f"http://127.0.0.1:{port}", "db", "admin", "pw", timeout=0.3)
        with c, pytest.raises(TrytonUnavailable, match="timed out"):
            c.login()


def test_a_tryton_outage_raises_unavailable_and_the_same_client_recovers_after_restart(
    server: TrytonServer, client: TrytonClient
) -> None:
    assert client.search_read("res.user", [], ["id"], limit=1)
    server.stop()
    try:
        with pytest.raises(TrytonUnavailable):
            client.search_read("res.user", [], ["id"], limit=1)
    finally:
        server.start()
    assert client.search_read("res.user", [], ["id"], limit=1)


# -- inbound -------------------------------------------------------------------------------


def test_a_released_production_is_read_as_an_erp_order_with_its_routing(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    due = dt.date(2026, 12, 24)
    number = seed.released_production(plant, "P-100", 25, planned_date=due)

    plan = read_plan(client)

    order = next(o for o in plan.orders if o.order_no == number)
    assert order.part_no == "P-100"
    assert order.description == "Bracket"
    assert order.quantity == Decimal(25)
    assert order.unit == "u"
    assert order.due_date == due
    assert order.work_centre == "LINE-1"
    assert order.routing == (
        ErpOperation("10", "Cut", "SAW-01"),
        ErpOperation("20", "Mill", "MILL-02"),
        ErpOperation("30", "Assemble", "ASSY-03"),
    )
    assert number not in read_plan(client, work_centres=["LINE-9"]).order_numbers
    assert number in read_plan(client, work_centres=["LINE-1"]).order_numbers


def test_a_production_whose_product_has_no_code_is_skipped_with_the_reason(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    product = seed.product("", "Uncoded widget", plant.unit)
    plant.products["uncoded"] = product
    plant.boms["uncoded"] = seed.bom("BOM uncoded", product, plant.unit)
    seed.c.write(
        "production.routing",
        [plant.routings["2-step"]],
        {"boms": [["add", [plant.boms["uncoded"]]]]},
    )
    number = seed.released_production(plant, "uncoded", 1, routing="2-step")

    plan = read_plan(client)

    assert number not in plan.order_numbers
    assert [reason for n, reason in plan.skipped if n == number] == [
        "part_no: '' the Tryton product has no code"
    ]


def test_a_draft_production_is_not_read_until_it_is_released(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    production = seed.production(plant, "P-200", 4, routing="2-step")
    before = read_plan(client)

    number = seed.release(production)
    after = read_plan(client)

    assert number not in before.order_numbers
    assert number in after.order_numbers
    assert after.order_numbers - before.order_numbers == {number}


def test_a_requantified_production_is_read_with_its_new_quantity_and_the_same_operation_ids(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-200", 8, routing="2-step")
    production = seed.id_of(number)
    works_before = {w["id"] for w in seed.works(production)}

    seed.reset_to_draft(production)
    assert number in read_plan(client).replanning
    seed.change_quantity(production, 12)
    seed.release(production)

    order = next(o for o in read_plan(client).orders if o.order_no == number)
    assert order.quantity == Decimal(12)
    assert [op.op_id for op in order.routing] == ["10", "20"]
    # Tryton rebuilt the works: their ids changed but the floor's op ids did not.
    assert works_before.isdisjoint({w["id"] for w in seed.works(production)})


def test_a_cancelled_production_is_reported_as_cancelled_and_no_longer_released(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 3)
    seed.cancel(seed.id_of(number))

    plan = read_plan(client)

    assert number in plan.cancelled
    assert number not in plan.order_numbers


# -- outbound ------------------------------------------------------------------------------


def test_a_replayed_cycle_is_recorded_in_tryton_once(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 5)
    writeback = TrytonWriteback(client)

    first = writeback.add_cycle(number, "20", dt.timedelta(minutes=12), key=f"{number}/20/1")
    again = writeback.add_cycle(number, "20", dt.timedelta(minutes=12), key=f"{number}/20/1")

    work = seed.works(seed.id_of(number))[1]
    assert first == again
    assert seed.cycles(work["id"]) == [
        {"id": first, "state": "done", "duration": dt.timedelta(minutes=12)}
    ]
    assert work["state"] == "finished"
    assert seed.read_production(seed.id_of(number))["state"] == "running"


def test_an_interrupted_cycle_writeback_is_completed_not_duplicated_on_replay(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 5)
    production = seed.id_of(number)
    seed.run(production)
    work = seed.works(production)[0]["id"]
    # The first attempt died after creating the cycle, before tagging it.
    orphan = seed.c.create("production.work.cycle", [{"work": work}])[0]

    cycle = TrytonWriteback(client).add_cycle(
        number, "10", dt.timedelta(minutes=3), key=f"{number}/10/1"
    )

    assert cycle == orphan
    assert [c["state"] for c in seed.cycles(work)] == ["done"]


def test_starting_and_finishing_an_operation_times_a_cycle_in_tryton(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-200", 2, routing="2-step")
    writeback = TrytonWriteback(client)

    assert writeback.start_work(number, "10") is True
    assert writeback.start_work(number, "10") is False
    work = seed.works(seed.id_of(number))[0]
    assert work["state"] == "running"
    assert [c["state"] for c in seed.cycles(work["id"])] == ["running"]

    assert writeback.finish_work(number, "10") is True
    assert writeback.finish_work(number, "10") is False
    work = seed.works(seed.id_of(number))[0]
    assert work["state"] == "finished"
    assert [c["state"] for c in seed.cycles(work["id"])] == ["done"]


def test_a_production_is_completed_with_its_output_quantity_once_every_work_is_finished(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-200", 10, routing="2-step")
    writeback = TrytonWriteback(client)
    writeback.add_cycle(number, "10", dt.timedelta(minutes=5), key=f"{number}/10/a")

    with pytest.raises(TrytonFault) as info:
        writeback.complete(number)
    assert info.value.is_user_error and "must be finished" in info.value.message

    writeback.add_cycle(number, "20", dt.timedelta(minutes=7), key=f"{number}/20/a")
    assert writeback.set_output_quantity(number, Decimal(9)) is True
    assert writeback.set_output_quantity(number, Decimal(9)) is False
    assert writeback.complete(number) is True
    assert writeback.complete(number) is False

    production = seed.id_of(number)
    assert seed.read_production(production)["state"] == "done"
    outputs = client.read("production", [production], ["outputs.quantity"])[0]["outputs."]
    assert [m["quantity"] for m in outputs] == [9.0]
    assert all(w["state"] == "done" for w in seed.works(production))


def test_writeback_for_an_unknown_order_or_operation_is_refused_with_the_reason(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    writeback = TrytonWriteback(client)
    with pytest.raises(WritebackRefused, match="no Tryton production"):
        writeback.start_work("NO-SUCH-ORDER", "10")
    number = seed.released_production(plant, "P-100", 1)
    with pytest.raises(WritebackRefused, match="not in the Tryton routing"):
        writeback.add_cycle(number, "99", dt.timedelta(minutes=1), key=f"{number}/99")


class SessionSweptOnce(httpx.HTTPTransport):
    """Answers the first model call as Tryton does when another login of the same user swept
    the session away mid-call (ir.session deleted under the request); then the real server."""

    def __init__(self) -> None:
        super().__init__()
        self.swept = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if not self.swept and str(body.get("method", "")).startswith("model."):
            self.swept = True
            super().handle_request(request).read()  # the call reaches Tryton …
            error = [
                "UserError",
                ['You are trying to read records "7" of "Session" that don\'t exist.', "", None],
            ]
            # … and the session check afterwards fails
            return httpx.Response(200, json={"id": body["id"], "error": error})
        return super().handle_request(request)


def test_trytons_lost_session_answer_is_transient_and_the_next_call_logs_in_again(
    server: TrytonServer, plant: Plant
) -> None:
    swept = SessionSweptOnce()
    with TrytonClient(
        server.url, server.database, server.user, server.password, transport=swept
    ) as c:
        c.login()
        first = c._session
        with pytest.raises(TrytonSessionError) as info:
            c.search_read("production", [], ["id"], limit=1)
        assert isinstance(info.value, TrytonUnavailable)  # transient, never a refusal
        assert c._session is None

        assert c.search_read("company.company", [], ["id"]) == [{"id": plant.company}]
        assert c._session is not None and c._session != first


def test_a_lost_session_is_transient_for_the_writeback_pump_not_a_refusal(
    server: TrytonServer, seed: TrytonSeed, plant: Plant
) -> None:
    number = seed.released_production(plant, "P-100", 1, routing="2-step")
    config = TrytonDestination.model_validate(
        {
            "name": "t",
            "transport": "tryton",
            "url": server.url,
            "database": server.database,
            "user": server.user,
            "password_env": "UNUSED",
        }
    )
    client = TrytonClient(
        server.url, server.database, server.user, server.password, transport=SessionSweptOnce()
    )
    transport = TrytonTransport(config, client)
    message = Message(
        key=f"t:{number}:1", destination="t", position=1, order_key="k", integration="tryton",
        order_no=number, version=1, kind="operation_status", event="OperationStarted",
        occurred_at="2026-11-29T08:00:00+00:00", recorded_at=None, actor_id="olga",
        actor_role="operator", source="api", data={"operation": "10"},
    )  # fmt: skip
    try:
        with pytest.raises(TransientError, match="lost the session"):
            transport.send([message])
        assert transport.send([message]) == [None]  # the retry logs in again and goes on
    finally:
        client.close()
    (cycle,) = seed.cycles(seed.works(seed.id_of(number))[0]["id"])
    assert cycle["state"] == "running"


def test_standard_times_from_the_settings_reach_the_floor_order(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 4, routing="2-step")
    times = {"Cut": (Decimal(5), Decimal("0.5")), "Assemble": (Decimal(2), Decimal(1))}

    plan = read_plan(client, standard_times=times)

    (order,) = [o for o in plan.orders if o.order_no == number]
    assert [(op.name, op.setup_time, op.run_time_per_unit) for op in order.routing] == [
        ("Cut", Decimal(5), Decimal("0.5")),
        ("Assemble", Decimal(2), Decimal(1)),
    ]


def test_with_start_at_completion_the_first_start_only_reserves_and_inputs_wait_for_completion(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    steel = seed.component(f"STEEL-{secrets.token_hex(3)}", "Steel", plant.unit)
    seed.stock(plant, steel, 50)
    pid = seed.production(plant, "P-200", 2, routing="2-step", inputs=[(steel, 10)])
    number = seed.release(pid)
    writeback = TrytonWriteback(client, start_production="completion")

    writeback.begin_run(number, "10", key=f"{number}/start")
    prod = seed.c.read("production", [pid], ["state", "inputs"])[0]
    inputs = seed.c.read("stock.move", list(prod["inputs"]), ["state"])
    assert prod["state"] == "assigned" and {m["state"] for m in inputs} == {"assigned"}
    assert [c["state"] for c in seed.cycles(seed.works(pid)[0]["id"])] == ["running"]

    writeback.end_run(number, "10", f"{number}/c10", dt.timedelta(minutes=3), completing=True)
    writeback.add_cycle(number, "20", dt.timedelta(minutes=2), key=f"{number}/c20")
    writeback.set_output_quantity(number, Decimal(2))
    writeback.complete(number)
    prod = seed.c.read("production", [pid], ["state", "inputs"])[0]
    inputs = seed.c.read("stock.move", list(prod["inputs"]), ["state"])
    assert prod["state"] == "done" and {m["state"] for m in inputs} == {"done"}


def test_scrap_goes_to_the_mapped_location_once_with_its_reason(
    seed: TrytonSeed, plant: Plant, client: TrytonClient
) -> None:
    number = seed.released_production(plant, "P-100", 5, routing="2-step")
    writeback = TrytonWriteback(client)
    writeback.begin_run(number, "10", key=f"{number}/start")

    first = writeback.post_scrap(
        number, Decimal(2), "burr", f"{number}/q", location="Lost and Found"
    )
    again = writeback.post_scrap(
        number, Decimal(2), "burr", f"{number}/q", location="Lost and Found"
    )

    assert first is not None and first == again
    move = seed.c.read("stock.move", [first], ["quantity", "to_location.name", "state"])[0]
    assert (move["quantity"], move["to_location."]["name"]) == (2.0, "Lost and Found")
    notes = seed.c.search_read("ir.note", [("resource", "=", f"stock.move,{first}")], ["message"])
    assert any(n["message"].startswith("Scrap: 2 (reason: burr)") for n in notes)
    with pytest.raises(WritebackRefused, match="matches 0 Tryton locations"):
        writeback.post_scrap(number, Decimal(1), "dent", f"{number}/q2", location="No such bin")
