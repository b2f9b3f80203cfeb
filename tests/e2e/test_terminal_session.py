"""The terminal session as a credential: supervisors sign terminals in, operators sign on,
the API records the operator, CSRF and work-centre scope hold (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.terminals import TerminalError, TerminalStore
from api.cli import app as cli
from tests.conftest import Backend
from tests.e2e.conftest import Api, api_on

PLANT_TOML = """
[[integrations]]
name = "erp"
mode = "C"

[integrations.inbound]
transport = "files"
format = "csv"
inbox = "{tmp}/in"
archive = "{tmp}/archive"
error = "{tmp}/error"

[integrations.reasons]
csv = "{tmp}/reasons.csv"

[integrations.reasons.stop]
MAT = "Waiting for material"

[integrations.reasons.scrap]
BURR = "Burr on edge"
"""


@pytest.fixture
def floor(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API with a mode-C integration listing reasons, operators anna and ben, an order
    WO-1 (op 10 at LATHE-1, op 20 at GRIND-1)."""
    (tmp_path / "plant.toml").write_text(PLANT_TOML.format(tmp=tmp_path))
    (tmp_path / "reasons.csv").write_text("kind,code,label\nstop,SETUP,Setting up\n")
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(tmp_path / "plant.toml"))
    with api_on(backend.url) as api:
        terminals: TerminalStore = api.app.state.runtime.terminals
        terminals.add_operator("anna", badge="1001", pin="1234")
        terminals.add_operator("ben", pin="4321")
        api.release("WO-1")
        yield api


def csrf(api: Api) -> str:
    if "fl_csrf" not in api.client.cookies:
        api.client.get("/terminal/sign-in")
    return str(api.client.cookies["fl_csrf"])


def sign_in(api: Api, work_centres: str = "LATHE-1", token: str | None = None) -> int:
    r = api.client.post(
        "/terminal/sign-in",
        data={
            "csrf_token": csrf(api),
            "token": token or api.secrets["sven"],
            "name": "Lathe terminal",
            "work_centres": work_centres,
        },
        follow_redirects=False,
    )
    return r.status_code


def sign_on(api: Api, **form: str) -> int:
    r = api.client.post(
        "/terminal/sign-on", data={"csrf_token": csrf(api), **form}, follow_redirects=False
    )
    return r.status_code


def act(api: Api, path: str, body: dict[str, object] | None = None, *, with_csrf: bool = True):  # type: ignore[no-untyped-def]
    headers = {"X-CSRF-Token": csrf(api)} if with_csrf else {}
    return api.client.post(path, json=body or {}, headers=headers)


def floor_events(api: Api, order_no: str = "WO-1") -> list[tuple[str, str]]:
    r = api.get("audrey", f"/orders/{order_no}/history")
    return [(e["event"], e["actor_id"]) for e in r.json()["entries"] if e["source"] == "api"
            and e["actor_role"] == "operator"]  # fmt: skip


def test_each_action_at_a_terminal_records_the_operator_signed_on_not_the_terminal(
    floor: Api,
) -> None:
    assert sign_in(floor) == 303
    assert sign_on(floor, badge="1001") == 303
    assert act(floor, "/orders/WO-1/operations/10/start").status_code == 200
    floor.client.post(
        "/terminal/sign-off", data={"csrf_token": csrf(floor)}, follow_redirects=False
    )
    assert act(floor, "/orders/WO-1/operations/10/pause", {"reason_code": "MAT"}).status_code == 401
    assert sign_on(floor, operator="ben", pin="4321") == 303
    assert act(floor, "/orders/WO-1/operations/10/pause", {"reason_code": "MAT"}).status_code == 200
    assert floor_events(floor) == [("OperationStarted", "anna"), ("OperationPaused", "ben")]


def test_a_form_post_or_an_api_write_without_the_csrf_token_is_refused_and_records_nothing(
    floor: Api,
) -> None:
    r = floor.client.post(
        "/terminal/sign-in",
        data={"token": floor.secrets["sven"], "name": "T", "work_centres": "LATHE-1"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert r.json()["field"] == "csrf_token"
    assert "fl_terminal" not in floor.client.cookies
    assert sign_in(floor) == 303
    r = floor.client.post("/terminal/sign-on", data={"badge": "1001", "csrf_token": "forged"})
    assert r.status_code == 403
    assert sign_on(floor, badge="1001") == 303
    r = act(floor, "/orders/WO-1/operations/10/start", with_csrf=False)
    assert r.status_code == 403
    assert floor_events(floor) == []


def test_a_terminal_scoped_to_one_work_centre_cannot_act_on_another(floor: Api) -> None:
    assert sign_in(floor, "LATHE-1") == 303
    assert sign_on(floor, badge="1001") == 303
    r = act(floor, "/orders/WO-1/operations/20/start")  # op 20 is at GRIND-1
    assert r.status_code == 403
    assert "GRIND-1" in r.json()["detail"]
    assert act(floor, "/orders/WO-1/complete").status_code == 403  # the whole order: unscoped only
    assert floor_events(floor) == []


def test_a_terminal_of_several_work_centres_may_act_on_each(floor: Api) -> None:
    assert sign_in(floor, "LATHE-1, GRIND-1") == 303
    assert sign_on(floor, badge="1001") == 303
    assert act(floor, "/orders/WO-1/operations/10/start").status_code == 200
    assert act(floor, "/orders/WO-1/operations/20/start").status_code == 200


def test_only_a_supervisor_token_signs_a_terminal_in_and_a_wrong_badge_or_pin_signs_no_one_on(
    floor: Api,
) -> None:
    assert sign_in(floor, token=floor.secrets["olga"]) == 422  # an operator's token
    assert sign_in(floor, token="flt_nonsense") == 422
    assert sign_in(floor) == 303
    assert sign_on(floor, badge="9999") == 401
    assert sign_on(floor, operator="ben", pin="0000") == 401
    assert sign_on(floor, operator="anna", pin="1234") == 303
    page = floor.client.get("/terminal")
    assert "Signed on: <strong>anna</strong>" in page.text


def test_a_terminal_signed_out_by_a_supervisor_no_longer_works(floor: Api) -> None:
    assert sign_in(floor) == 303
    assert sign_on(floor, badge="1001") == 303
    secret = floor.client.cookies["fl_terminal"]
    r = floor.client.post(
        "/terminal/sign-out",
        data={"csrf_token": csrf(floor), "token": floor.secrets["sven"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    floor.client.cookies.set("fl_terminal", secret)
    r = act(floor, "/orders/WO-1/operations/10/start")
    assert r.status_code == 401


def test_an_unknown_reason_code_is_recorded_with_a_warning(floor: Api) -> None:
    floor.post("olga", "/orders/WO-1/operations/10/start")
    r = floor.post("olga", "/orders/WO-1/operations/10/pause", {"reason_code": "COFFEE"}, key="p1")
    assert r.status_code == 200
    assert "unknown_reason_code" in r.json()["warnings"]
    again = floor.post(
        "olga", "/orders/WO-1/operations/10/pause", {"reason_code": "COFFEE"}, key="p1"
    )
    assert again.json()["warnings"] == r.json()["warnings"]
    known = floor.post("olga", "/orders/WO-1/operations/10/resume")
    assert known.status_code == 200
    r = floor.post("olga", "/orders/WO-1/operations/10/pause", {"reason_code": "SETUP"})
    assert r.json()["warnings"] == []  # from the CSV
    history = floor.get("audrey", "/orders/WO-1/history").json()["entries"]
    raised = [e for e in history if e["event"] == "WarningRaised"]
    assert [e["details"]["reference"] for e in raised] == ["COFFEE"]


def test_reason_codes_are_listed_with_labels_from_the_file_and_the_csv(floor: Api) -> None:
    r = floor.get("olga", "/reason-codes")
    assert r.status_code == 200
    assert [(x["kind"], x["code"], x["label"]) for x in r.json()] == [
        ("stop", "MAT", "Waiting for material"),
        ("scrap", "BURR", "Burr on edge"),
        ("stop", "SETUP", "Setting up"),
    ]
    assert [x["code"] for x in floor.get("olga", "/reason-codes", kind="scrap").json()] == ["BURR"]


def test_the_terminal_page_offers_only_known_reasons_by_label(floor: Api) -> None:
    assert sign_in(floor) == 303
    assert sign_on(floor, badge="1001") == 303
    page = floor.client.get("/terminal", params={"op": "erp/WO-1/10"}).text
    assert 'data-reason="MAT">Waiting for material</button>' in page
    assert 'data-reason="SETUP">Setting up</button>' in page
    assert 'data-reason="BURR">Burr on edge</button>' in page
    assert "pause-other" not in page  # no free-text code when the integration lists reasons
    assert 'data-act="report"' in page  # mode C: the operator reports by hand


def test_an_idle_operator_is_signed_off_and_the_terminal_says_so(backend: Backend) -> None:
    now = [datetime(2026, 11, 29, 8, 0, tzinfo=UTC)]
    store = TerminalStore(backend.settings, idle_minutes=10, clock=lambda: now[0])
    try:
        store.add_operator("anna", badge="1001")
        terminal, secret = store.sign_in_terminal("T1", ("SAW-1",), "sven")
        store.sign_on(terminal.terminal_id, badge="1001")
        now[0] += timedelta(minutes=9)
        store.touch(terminal.terminal_id)
        now[0] += timedelta(minutes=9)
        signed_on = store.terminal(secret)
        assert signed_on is not None and signed_on.operator == "anna"
        now[0] += timedelta(minutes=2)
        idle = store.terminal(secret)
        assert idle is not None and idle.operator is None
        assert [t.operator for t in store.terminals()] == [None]
    finally:
        store.close()


def test_pins_and_badges_are_stored_only_as_hashes(backend: Backend) -> None:
    store = TerminalStore(backend.settings)
    try:
        store.add_operator("anna", badge="BADGE-777", pin="864209")
        rows = store._q("SELECT * FROM fl_operators")
    finally:
        store.close()
    stored = " ".join(str(c) for row in rows for c in row)
    assert "BADGE-777" not in stored and "864209" not in stored
    assert "scrypt$" in stored


def test_operators_are_added_listed_and_removed_with_the_cli(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOORLEDGER_DATABASE_URL", backend.url)
    runner = CliRunner()
    added = runner.invoke(cli, ["operator", "add", "anna", "--badge", "1001", "--pin", "1234"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(cli, ["operator", "add", "bob", "--pin", "12"])
    assert refused.exit_code == 1
    assert "4-12 digits" in refused.output
    listed = runner.invoke(cli, ["operator", "list", "--json"])
    assert '"name": "anna"' in listed.output and "1234" not in listed.output
    assert runner.invoke(cli, ["operator", "remove", "anna"]).exit_code == 0
    assert runner.invoke(cli, ["operator", "remove", "anna"]).exit_code == 1


def test_supervisors_manage_operators_and_see_who_is_signed_on_where(floor: Api) -> None:
    r = floor.post("sven", "/operators", {"name": "cara", "pin": "5555"})
    assert r.status_code == 201, r.text
    assert r.json() == {
        "name": "cara", "badge": False, "pin": True, "created_at": r.json()["created_at"],
        "signed_on_at": None,
    }  # fmt: skip
    refused = floor.post("sven", "/operators", {"name": "dan", "pin": "12ab"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "pin" and "12ab" not in refused.text
    assert floor.post("olga", "/operators", {"name": "eve", "pin": "1111"}).status_code == 403
    assert sign_in(floor) == 303
    assert sign_on(floor, operator="cara", pin="5555") == 303
    terminals = floor.get("sven", "/terminals").json()
    assert [(t["name"], t["work_centres"], t["operator"]) for t in terminals] == [
        ("Lathe terminal", ["LATHE-1"], "cara")
    ]
    names = {o["name"]: o["signed_on_at"] for o in floor.get("sven", "/operators").json()}
    assert names == {"anna": None, "ben": None, "cara": "Lathe terminal"}
    r = floor.client.delete("/operators/cara", headers=floor.headers("sven"))
    assert r.status_code == 204
    assert floor.get("sven", "/terminals").json()[0]["operator"] is None
    r = floor.client.delete("/operators/cara", headers=floor.headers("sven"))
    assert r.status_code == 404


def test_an_action_kept_for_one_operator_is_refused_while_another_is_signed_on(
    floor: Api,
) -> None:
    assert sign_in(floor) == 303
    assert sign_on(floor, operator="ben", pin="4321") == 303
    headers = {"X-CSRF-Token": csrf(floor), "X-Floorledger-Operator": "anna"}
    r = floor.client.post("/orders/WO-1/operations/10/start", json={}, headers=headers)
    assert r.status_code == 401
    assert "'anna'" in r.json()["detail"] and "'ben' is signed on" in r.json()["detail"]
    assert floor_events(floor) == []
    headers["X-Floorledger-Operator"] = "ben"
    r = floor.client.post("/orders/WO-1/operations/10/start", json={}, headers=headers)
    assert r.status_code == 200
    assert floor_events(floor) == [("OperationStarted", "ben")]


def test_five_wrong_pins_lock_the_terminals_sign_on_for_a_while(backend: Backend) -> None:
    now = [datetime(2026, 11, 29, 8, 0, tzinfo=UTC)]
    store = TerminalStore(backend.settings, clock=lambda: now[0])
    try:
        store.add_operator("ben", pin="4321")
        terminal, _ = store.sign_in_terminal("T1", ("SAW-1",), "sven")
        for wrong in ("0000", "1111", "2222", "3333", "4444"):
            with pytest.raises(TerminalError, match="not recognised"):
                store.sign_on(terminal.terminal_id, name="ben", pin=wrong)
        with pytest.raises(TerminalError, match="5 wrong badges or PINs"):
            store.sign_on(terminal.terminal_id, name="ben", pin="4321")
        now[0] += timedelta(minutes=6)
        assert store.sign_on(terminal.terminal_id, name="ben", pin="4321") == "ben"
    finally:
        store.close()
