"""The integration configuration: one TOML file, validated with errors that name key and value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adapters.config import (
    B2MML_FIELDS,
    BasicAuth,
    ConfigError,
    FilesInbound,
    RestInbound,
    SqlInbound,
    load_config,
    secret,
)

FILES = """
[[integrations]]
name = "plant-1"
mode = "B"
full_plan = true
[integrations.inbound]
transport = "files"
inbox = "/srv/in"
archive = "/srv/archive"
error = "/srv/error"
format = "csv"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "floorledger.toml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_a_complete_configuration_with_every_transport_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        FILES
        + """
    [integrations.maps.work_centres]
    PG-10 = "saw-1"
    [integrations.maps.units]
    ST = { unit = "pcs" }
    DZ = { unit = "pcs", factor = 12 }

    [[integrations]]
    name = "rest_erp"
    mode = "D"
    [integrations.inbound]
    transport = "rest"
    url = "https://erp.example/api/orders"
    poll_seconds = 30
    items_path = "data.orders"
    paging = { mode = "next_link", next_path = "links.next" }
    auth = { type = "basic", username = "mes", password_env = "ERP_PASSWORD" }
    [integrations.fields]
    order_no = "header.number"
    operations = "routing.ops"
    op_id = "id"

    [[integrations]]
    name = "staging"
    mode = "C"
    [integrations.inbound]
    transport = "sql"
    url_file = "/run/secrets/erp_db"
    table = "mes_orders"
    schema = "erp"
    release_state_value = "REL"

    [[integrations]]
    name = "queue"
    mode = "B"
    [integrations.inbound]
    transport = "amqp"
    url_env = "AMQP_URL"
    queue = "orders"
    dead_letter_queue = "orders.dead"
    format = "b2mml"

    [[integrations]]
    name = "tryton"
    mode = "E"
    [integrations.inbound]
    transport = "tryton"
    url = "http://127.0.0.1:8000"
    database = "plant"
    user = "mes"
    password_env = "TRYTON_PASSWORD"
    """
    )
    monkeypatch.setenv("FLOORLEDGER_CONFIG", str(write(tmp_path, text)))
    config = load_config()
    assert [i.name for i in config.integrations] == [
        "plant-1",
        "rest_erp",
        "staging",
        "queue",
        "tryton",
    ]
    files = config.get("plant-1")
    assert isinstance(files.inbound, FilesInbound)
    assert files.full_plan and files.poll_seconds == 60
    assert files.inbound.processing_dir == Path("/srv/in/.processing")
    assert files.maps.units["DZ"].factor == 12
    rest = config.get("rest_erp").inbound
    assert isinstance(rest, RestInbound) and rest.verify_tls and rest.poll_seconds == 30
    assert isinstance(rest.auth, BasicAuth)
    assert config.get("rest_erp").field_map.order_no == "header.number"
    sql = config.get("staging").inbound
    assert isinstance(sql, SqlInbound) and sql.db_schema == "erp"
    assert config.get("queue").source == "erp:queue"


def test_a_negative_poll_interval_is_refused_naming_the_key_path_and_the_value(
    tmp_path: Path,
) -> None:
    text = (
        FILES
        + """
    [[integrations]]
    name = "second"
    mode = "B"
    [integrations.inbound]
    transport = "rest"
    url = "https://erp.example/orders"
    poll_seconds = -5
    """
    )
    assert problems(tmp_path, text) == ["integrations[1].inbound.poll_seconds: -5 must be ≥ 1"]


def test_every_problem_in_the_file_is_reported_at_once(tmp_path: Path) -> None:
    text = """
    [[integrations]]
    name = "bad name"
    mode = "F"
    [integrations.inbound]
    transport = "files"
    inbox = "/in"
    archive = "/a"
    error = "/e"
    format = "pdf"
    settle = 3
    """
    found = problems(tmp_path, text)
    assert "integrations[0].mode: 'F' must be one of 'A', 'B', 'C', 'D' or 'E'" in found
    assert any(p.startswith("integrations[0].name: 'bad name' may hold only") for p in found)
    assert any(p.startswith("integrations[0].inbound.format: 'pdf' must be one of") for p in found)
    assert "integrations[0].inbound.settle: 3 is not a known key" in found


def test_an_unknown_transport_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    found = problems(tmp_path, FILES.replace('"files"', '"ftp"', 1))
    assert found == [
        "integrations[0].inbound.transport: 'ftp' must be one of "
        "'rest', 'sql', 'files', 'amqp', 'tryton'"
    ]


def test_integration_names_must_be_unique(tmp_path: Path) -> None:
    found = problems(tmp_path, FILES + FILES)
    assert found == ["integrations[1].name: 'plant-1' is already used by integrations[0]"]


@pytest.mark.parametrize(
    ("inbound", "expected"),
    [
        (
            'transport = "rest"\nurl = "https://x/y"\n'
            'auth = { type = "basic", username = "u", password = "hunter2" }',
            "integrations[0].inbound.auth.password: a literal secret is not allowed",
        ),
        (
            'transport = "rest"\nurl = "https://x/y"\nauth = { type = "bearer", token = "abc" }',
            "integrations[0].inbound.auth.token: a literal secret is not allowed",
        ),
        (
            'transport = "sql"\nurl = "postgresql://u:p@db/erp"\ntable = "t"',
            "integrations[0].inbound.url: a literal secret is not allowed",
        ),
        (
            'transport = "tryton"\nurl = "http://t"\ndatabase = "d"\nuser = "u"\npassword = "x"',
            "integrations[0].inbound.password: a literal secret is not allowed",
        ),
    ],
)
def test_a_literal_secret_in_the_file_is_refused(
    tmp_path: Path, inbound: str, expected: str
) -> None:
    text = '[[integrations]]\nname = "x"\nmode = "B"\n[integrations.inbound]\n' + inbound
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(expected)
    assert "hunter2" not in found[0] and "u:p@" not in found[0]


def test_a_credential_reference_is_required_and_only_one_kind(tmp_path: Path) -> None:
    text = (
        '[[integrations]]\nname = "x"\nmode = "B"\n[integrations.inbound]\n'
        'transport = "sql"\ntable = "t"\n'
    )
    assert problems(tmp_path, text) == [
        "integrations[0].inbound.url: url_env or url_file is required"
    ]
    both = text + 'url_env = "A"\nurl_file = "/b"\n'
    assert problems(tmp_path, both) == [
        "integrations[0].inbound.url: give url_env or url_file, not both"
    ]


def test_secrets_are_resolved_at_use_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = BasicAuth(type="basic", username="mes", password_env="ERP_PW")
    monkeypatch.setenv("ERP_PW", "s3cret!")
    pw = secret(auth, "password")
    assert pw.get_secret_value() == "s3cret!"
    assert "s3cret" not in repr(pw) and "s3cret" not in str(pw)
    assert "s3cret" not in repr(auth) and "s3cret" not in str(auth.model_dump())
    key_file = tmp_path / "token"
    key_file.write_text("tok-123\n")
    sql = SqlInbound(transport="sql", url_file=key_file, table="t")
    assert secret(sql, "url").get_secret_value() == "tok-123"


def test_a_missing_secret_names_the_variable_or_file(tmp_path: Path) -> None:
    auth = BasicAuth(type="basic", username="mes", password_env="NO_SUCH_VAR_FOR_TEST")
    with pytest.raises(ConfigError, match="NO_SUCH_VAR_FOR_TEST"):
        secret(auth, "password")
    sql = SqlInbound(transport="sql", url_file=tmp_path / "missing", table="t")
    with pytest.raises(ConfigError, match="missing"):
        secret(sql, "url")


def test_fixed_width_columns_need_a_layout_without_overlaps(tmp_path: Path) -> None:
    fixed = FILES.replace('format = "csv"', 'format = "fixed_width"')
    assert problems(tmp_path, fixed) == [
        "integrations[0].inbound: columns (name, start, end) are required for fixed_width"
    ]
    overlap = (
        fixed + 'columns = [{name = "a", start = 1, end = 5}, {name = "b", start = 5, end = 8}]'
    )
    assert problems(tmp_path, overlap) == ["integrations[0].inbound: columns 'a' and 'b' overlap"]
    backwards = fixed + 'columns = [{name = "a", start = 6, end = 2}]'
    assert problems(tmp_path, backwards) == [
        "integrations[0].inbound.columns[0]: end 2 must be ≥ start 6"
    ]


def test_value_maps_refuse_a_unit_factor_of_zero_and_a_state_meaning_two_things(
    tmp_path: Path,
) -> None:
    text = (
        FILES
        + """
    [integrations.fields]
    released_values = ["REL"]
    cancelled_values = ["rel"]
    [integrations.maps.units]
    ST = { unit = "pcs", factor = 0 }
    """
    )
    assert problems(tmp_path, text) == [
        "integrations[0].fields: ['rel'] cannot mean both released and cancelled",
        "integrations[0].maps.units.ST.factor: 0 must be > 0",
    ]


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(write(tmp_path, "[[integrations]]\nname = \n"))


def test_a_missing_config_file_or_variable_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOORLEDGER_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="FLOORLEDGER_CONFIG is not set"):
        load_config()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.toml")


def test_a_b2mml_inbox_uses_the_b2mml_record_shape_unless_fields_are_given(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, FILES.replace('"csv"', '"b2mml"')))
    assert config.integrations[0].field_map == B2MML_FIELDS
    assert config.integrations[0].field_map.operations == "operations"
