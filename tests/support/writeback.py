"""Helpers for the writeback tests: an integration with destinations, floor activity, checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.config import IntegrationsConfig, parse_config
from domain import Actor, ErpOperation, ErpOrder, Ledger
from domain.commands import (
    CompleteOperation,
    CompleteOrder,
    PauseOperation,
    ReceiveErpOrder,
    RecordResult,
    ReportQuantity,
    ResumeOperation,
    StartOperation,
)
from domain.workorder import ORDER_EVENT_TOPICS

ERP = Actor("erp-sync", "integration", "erp:erp")
OPERATOR = Actor("anna", "operator", "api")
SUPERVISOR = Actor("sam", "supervisor", "cli")
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

MAPS = {
    "operations": {"OP-0010": "10", "OP-0020": "20"},
    "reason_codes": {"SCR-01": "burr", "STP-01": "tooling"},
    "units": {"ST": {"unit": "pcs", "factor": "1"}},
}

FLOOR_KINDS = {
    "OperationStarted",
    "OperationPaused",
    "OperationResumed",
    "OperationCompleted",
    "OrderCompleted",
    "QuantityReported",
    "ResultRecorded",
}


def config(
    tmp: Path, destinations: list[dict[str, Any]], mode: str = "D", name: str = "erp", **ob: Any
) -> IntegrationsConfig:
    """A one-integration plant whose outbound goes to ``destinations``."""
    inbox = tmp / "inbox"
    for d in ("inbox", "archive", "error"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    return parse_config(
        {
            "integrations": [
                {
                    "name": name,
                    "mode": mode,
                    "inbound": {
                        "transport": "files",
                        "inbox": str(inbox),
                        "archive": str(tmp / "archive"),
                        "error": str(tmp / "error"),
                        "format": "csv",
                    },
                    "maps": MAPS,
                    "outbound": {"poll_seconds": 0.05, **ob, "destinations": destinations},
                }
            ]
        }
    )


def write_config(path: Path, cfg: IntegrationsConfig) -> Path:
    """The plant configuration as a TOML file a subprocess can load (FLOORLEDGER_CONFIG)."""
    lines: list[str] = []
    for integ in cfg.integrations:
        data = integ.model_dump(mode="json", exclude_none=True, by_alias=True)
        lines.append("[[integrations]]")
        lines.extend(_toml_table(data, "integrations"))
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml_value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


def _toml_inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_inline(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_inline(x) for x in v) + "]"
    return _toml_value(v)


def _toml_table(data: dict[str, Any], prefix: str) -> list[str]:
    return [f"{json.dumps(k)} = {_toml_inline(v)}" for k, v in data.items()]


def an_order(order_no: str, quantity: int = 20) -> ErpOrder:
    return ErpOrder(
        order_no=order_no,
        part_no=f"P-{order_no}",
        quantity=Decimal(quantity),
        unit="pcs",
        work_centre="FAB",
        routing=(
            ErpOperation("10", "Turn", "LATHE-1", Decimal(10), Decimal(2)),
            ErpOperation("20", "Grind", "GRIND-1", Decimal(5), Decimal(1)),
        ),
    )


def work_order(ledger: Ledger, order_no: str, *, t: float = 0.0, integration: str = "erp") -> int:
    """Release an order and work it through both operations; returns the floor events made."""
    ledger.execute(ReceiveErpOrder(an_order(order_no), integration=integration), ERP)

    def at(m: float) -> datetime:
        return T0 + timedelta(minutes=t + m)

    kw: dict[str, Any] = {"integration": integration}
    ledger.execute(StartOperation(order_no, "10", at=at(0), **kw), OPERATOR)
    ledger.execute(
        ReportQuantity(order_no, "10", good=8, scrap=1, scrap_reason="burr", at=at(10), **kw),
        OPERATOR,
    )
    ledger.execute(PauseOperation(order_no, "10", "tooling", at=at(12), **kw), OPERATOR)
    ledger.execute(ResumeOperation(order_no, "10", at=at(20), **kw), OPERATOR)
    ledger.execute(
        RecordResult(order_no, "10", passed=True, serial=f"S-{order_no}", at=at(25), **kw), OPERATOR
    )
    ledger.execute(CompleteOperation(order_no, "10", at=at(30), **kw), OPERATOR)
    ledger.execute(StartOperation(order_no, "20", at=at(31), **kw), OPERATOR)
    ledger.execute(ReportQuantity(order_no, "20", good=8, rework=1, at=at(40), **kw), OPERATOR)
    ledger.execute(CompleteOperation(order_no, "20", at=at(45), **kw), OPERATOR)
    ledger.execute(CompleteOrder(order_no, at=at(46), **kw), OPERATOR)
    return 10


def expected_keys(ledger: Ledger, destination: str, kinds: set[str] = FLOOR_KINDS) -> list[str]:
    """The idempotency keys the destination must end up with, in log order."""
    out: list[str] = []
    start = 1
    while True:
        batch = ledger.recorder.select_notifications(start, 1000)
        if not batch:
            return out
        for n in batch:
            if n.topic in ORDER_EVENT_TOPICS and n.topic.rsplit(".", 1)[-1] in kinds:
                out.append(f"{destination}:{n.originator_id}:{n.originator_version}")
        start = batch[-1].id + 1


def in_order_per_order(keys_in_applied_order: list[str]) -> bool:
    """Whether each order's keys were applied with rising sequence numbers."""
    last: dict[str, int] = {}
    for key in keys_in_applied_order:
        _, order, seq = key.rsplit(":", 2)
        if last.get(order, 0) >= int(seq):
            return False
        last[order] = int(seq)
    return True


def rest_destination(
    receiver: Any,
    batch_size: int = 25,
    *,
    attempts: int = 2,
    max_seconds: float = 0.05,
    **extra: object,
) -> dict[str, object]:
    """A REST destination sending to a test receiver (batches when ``batch_size`` > 1)."""
    dest: dict[str, object] = {
        "name": "erp-rest",
        "transport": "rest",
        "url": receiver.url,
        "timeout_seconds": 2,
        "retry": {"attempts": attempts, "initial_seconds": 0.01, "max_seconds": max_seconds},
    }
    if batch_size > 1:
        dest.update(batch_url=receiver.batch_url, batch_size=batch_size)
    dest.update(extra)
    return dest
