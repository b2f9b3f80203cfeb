"""A supervisor acknowledges a warning on an order (#15): recorded as an event with who and
a note, and the warning stops being open."""

from __future__ import annotations

import pytest

from domain import InvalidValueError, Ledger
from domain.commands import AcknowledgeWarning, RaiseWarning, ReceiveErpOrder
from tests.factories import ERP, SUPERVISOR, a_memory_ledger, an_erp_order


def _warned() -> tuple[Ledger, int]:
    ledger = a_memory_ledger()
    ledger.execute(ReceiveErpOrder(an_erp_order("WO-1")), ERP)
    raised = ledger.execute(RaiseWarning("WO-1", "UNMAPPED", "unit 'stk' not mapped"), ERP)
    return ledger, raised.version


def test_an_acknowledged_warning_is_no_longer_open_and_the_trail_names_who_and_why() -> None:
    ledger, version = _warned()
    order = ledger.get_order("WO-1")
    assert [w.version for w in order.folded.open_warnings] == [version]
    ledger.execute(AcknowledgeWarning("WO-1", version, note="mapped by hand"), SUPERVISOR)
    assert ledger.get_order("WO-1").folded.open_warnings == []
    last = ledger.history("WO-1")[-1]
    assert last.event == "WarningAcknowledged"
    assert (last.actor_id, last.actor_role) == (SUPERVISOR.id, SUPERVISOR.role)
    assert "UNMAPPED" in last.summary and "mapped by hand" in last.summary


@pytest.mark.parametrize("which", ["unknown", "twice"])
def test_acknowledging_a_warning_that_is_not_open_is_refused_naming_the_version(
    which: str,
) -> None:
    ledger, version = _warned()
    if which == "twice":
        ledger.execute(AcknowledgeWarning("WO-1", version), SUPERVISOR)
    asked = version if which == "twice" else version + 40
    before = len(ledger.history("WO-1"))
    with pytest.raises(InvalidValueError) as refused:
        ledger.execute(AcknowledgeWarning("WO-1", asked), SUPERVISOR)
    assert "warning_version" in str(refused.value) and str(asked) in str(refused.value)
    assert len(ledger.history("WO-1")) == before
