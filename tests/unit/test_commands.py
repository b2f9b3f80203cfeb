"""Commands are plain frozen objects; their idempotency fingerprint is derived from them."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api import schemas
from domain import IdempotencyKeyReusedError
from domain import commands as c
from domain.commands import (
    ORDER_COMMANDS,
    CompleteOrder,
    DecideWriteback,
    ReceiveErpOrder,
    ReportQuantity,
    StartOperation,
    fingerprint,
)
from domain.ledger import HANDLERS, WORKSTATION_HANDLERS
from tests.factories import ERP, OPERATOR, a_memory_ledger, an_erp_order

T = datetime(2025, 1, 1, 8, tzinfo=UTC)


def test_a_command_cannot_be_changed_once_made() -> None:
    command = StartOperation("WO-1", "10")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.op_id = "20"  # type: ignore[misc]


def test_the_fingerprint_is_the_same_for_equal_commands_made_separately() -> None:
    a = ReportQuantity("WO-1", "10", good=Decimal(2), at=T)
    b = ReportQuantity("WO-1", "10", good=Decimal(2), at=T)
    assert fingerprint(a, "erp") == fingerprint(b, "erp")


def test_every_field_of_a_command_changes_its_fingerprint() -> None:
    base = ReportQuantity("WO-1", "10", good=1, scrap=0, rework=0, at=T, integration="erp")
    changes = {
        "order_no": "WO-2",
        "op_id": "20",
        "good": 2,
        "scrap": 1,
        "scrap_reason": "burr",
        "rework": 1,
        "unit": "kg",
        "at": datetime(2025, 1, 2, tzinfo=UTC),
    }
    assert set(changes) | {"integration"} == {f.name for f in dataclasses.fields(base)}
    prints = {fingerprint(base, "erp")}
    for name, value in changes.items():
        prints.add(fingerprint(dataclasses.replace(base, **{name: value}), "erp"))
    prints.add(fingerprint(base, "plant-b"))
    assert len(prints) == len(changes) + 2


def test_two_command_kinds_with_the_same_arguments_never_share_a_fingerprint() -> None:
    same_args = [
        c.StartOperation("WO-1", "10"),
        c.ResumeOperation("WO-1", "10"),
        c.CompleteOperation("WO-1", "10"),
    ]
    assert len({fingerprint(cmd, "erp") for cmd in same_args}) == 3


def test_leaving_out_the_default_integration_is_the_same_request_as_naming_it() -> None:
    named = CompleteOrder("WO-1", integration="erp")
    unnamed = CompleteOrder("WO-1")
    assert fingerprint(named, "erp") == fingerprint(unnamed, "erp")


def test_what_the_server_fills_into_a_writeback_decision_is_not_part_of_the_request() -> None:
    asked = DecideWriteback("WO-1", "erp-rest", "retry")
    filled = dataclasses.replace(asked, message_key="m-1", reason="HTTP 500")
    assert asked == filled and fingerprint(asked, "erp") == fingerprint(filled, "erp")
    assert fingerprint(asked, "erp") != fingerprint(
        DecideWriteback("WO-1", "erp-rest", "skip"), "erp"
    )


def test_a_writeback_decision_without_a_note_keeps_the_fingerprint_it_had_before_notes() -> None:
    """A keyed retry sent before #15 added ``note`` and repeated after it is the same request;
    a note makes it another one."""
    import hashlib

    from domain.chain import canonical_json

    before = canonical_json(
        ["DecideWriteback",
         {"order_no": "WO-1", "integration": "erp", "destination": "erp-rest", "decision": "retry"}]
    )  # fmt: skip
    asked = DecideWriteback("WO-1", "erp-rest", "retry")
    assert fingerprint(asked, "erp") == hashlib.sha256(before.encode()).hexdigest()
    noted = DecideWriteback("WO-1", "erp-rest", "retry", note="unlocked")
    assert fingerprint(noted, "erp") != fingerprint(asked, "erp")


def test_a_received_erp_order_is_fingerprinted_by_its_content() -> None:
    a = ReceiveErpOrder(an_erp_order(quantity=Decimal(10)))
    b = ReceiveErpOrder(an_erp_order(quantity=Decimal(11)))
    assert fingerprint(a, "erp") == fingerprint(ReceiveErpOrder(an_erp_order()), "erp")
    assert fingerprint(a, "erp") != fingerprint(b, "erp")


def test_a_keyed_repeat_with_a_different_command_kind_is_refused_and_records_nothing() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    ledger.execute(StartOperation("WO-1", "10"), OPERATOR, key="tablet:1")
    before = ledger.position()
    with pytest.raises(IdempotencyKeyReusedError):
        ledger.execute(c.PauseOperation("WO-1", "10", "TOOL"), OPERATOR, key="tablet:1")
    assert ledger.position() == before


def test_a_keyed_repeat_of_the_same_command_is_answered_from_its_receipt() -> None:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order()), ERP)
    once = ledger.execute(StartOperation("WO-1", "10", at=T), OPERATOR, key="k")
    again = ledger.execute(StartOperation("WO-1", "10", at=T), OPERATOR, key="k")
    assert again.replayed and again.version == once.version


def test_every_command_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(ORDER_COMMANDS)
    workstation = {
        cls
        for cls in vars(c).values()
        if isinstance(cls, type) and issubclass(cls, c.WorkstationCommand)
    }
    assert set(WORKSTATION_HANDLERS) == workstation - {c.WorkstationCommand}


@pytest.mark.parametrize(
    ("body", "command"),
    [
        (schemas.OperationEventCreate, c.StartOperation),
        (schemas.PauseCreate, c.PauseOperation),
        (schemas.QuantityReportCreate, c.ReportQuantity),
        (schemas.ResultCreate, c.RecordResult),
        (schemas.ReportCreate, c.SubmitReport),
        (schemas.ConflictResolutionCreate, c.ResolveConflict),
        (schemas.RowKeyedCreate, c.MarkRowKeyed),
        (schemas.ErpCancellationCreate, c.CancelInErp),
    ],
)
def test_every_field_of_a_request_body_is_an_argument_of_its_command(
    body: type[schemas.CommandBody], command: type[c.Command]
) -> None:
    fields = {f.name for f in dataclasses.fields(command)}
    assert set(body.model_fields) <= fields
    hints = typing.get_type_hints(command)
    assert all(name in hints for name in body.model_fields)
