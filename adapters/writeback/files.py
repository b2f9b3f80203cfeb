"""File writeback: CSV, XLSX or B2MML V0600 ProductionPerformance XML dropped into an outbox.

One file per delivery, named after the positions and keys it holds, written under a
temporary name and renamed into place, so an ERP import never sees half a file and a
re-sent delivery replaces the same file. Every row or ProductionResponse carries its
idempotency key. B2MML documents are validated against the MESA schema before they are
written; a message that does not validate is refused (its order parks).

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.inbound.parsers import (
    B2MML_NS,
    b2mml_schema_dir,
    schema_errors,
    schema_reason,
    xml_schema,
)
from adapters.writeback.base import Outcome, TransientError, Transport
from adapters.writeback.config import FilesDestination
from adapters.writeback.messages import ROW_COLUMNS, Message
from projections.export import spreadsheet_cell

PERFORMANCE_SCHEMA_FILE = "B2MML-V0600-ProductionPerformance.xsd"
_EXT = {"csv": "csv", "xlsx": "xlsx", "b2mml": "xml"}
# Columns holding numbers (decimals travel as strings in a message row).
NUMERIC_COLUMNS = frozenset(
    {"position", "sequence", "good", "scrap", "rework", "actual_seconds",
     "actual_seconds_per_unit", "standard_seconds", "standard_seconds_per_unit"}
)  # fmt: skip
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def row_cells(m: Message) -> list[Any]:
    """One message as flat-file cells: numbers as numbers, text neutralised against formulas
    (the report-script export rule), so a serial like ``=cmd|...`` is never a live formula."""
    row = m.row()
    cells: list[Any] = []
    for column in ROW_COLUMNS:
        value = row[column]
        if column in NUMERIC_COLUMNS and isinstance(value, str) and _NUMBER.match(value):
            value = Decimal(value) if "." in value else int(value)
        cells.append(spreadsheet_cell(value))
    return cells


def performance_schema(directory: str | None = None) -> etree.XMLSchema:
    """The MESA ProductionPerformance schema (libxml2, loaded once per process)."""
    folder = Path(directory) if directory else b2mml_schema_dir()
    return xml_schema(str(folder.resolve() / PERFORMANCE_SCHEMA_FILE))


def _el(parent: Any, tag: str, text: str | None = None) -> Any:
    e = etree.SubElement(parent, f"{{{B2MML_NS}}}{tag}")
    if text is not None:
        e.text = text
    return e


def _data(parent: Any, name: str, value: Any, unit: str | None = None) -> None:
    pd = _el(parent, "ProductionData")
    _el(pd, "ID", name)
    v = _el(pd, "Value")
    text = str(value).lower() if isinstance(value, bool) else "" if value is None else str(value)
    _el(v, "ValueString", text)
    if unit:
        _el(v, "UnitOfMeasure", unit)


def _material(parent: Any, m: Message, key: str, qty: Any) -> None:
    ma = _el(parent, "MaterialActual")
    d = m.data
    if d.get("batch"):
        _el(ma, "MaterialLotID", d["batch"])
    if d.get("serial"):
        _el(ma, "MaterialSubLotID", d["serial"])
    _el(ma, "MaterialUse", "Produced")
    q = _el(ma, "Quantity")
    _el(q, "QuantityString", str(qty))
    if d.get("unit"):
        _el(q, "UnitOfMeasure", d["unit"])
    _el(q, "Key", key)


def production_response(m: Message) -> Any:
    """One message as a B2MML ProductionResponse (its ID is the idempotency key)."""
    d = m.data
    pr = etree.Element(f"{{{B2MML_NS}}}ProductionResponse", nsmap={None: B2MML_NS})
    _el(pr, "ID", m.key)
    _el(pr, "ProductionRequestID", m.order_no)
    sr = _el(pr, "SegmentResponse")
    _el(sr, "ID", f"{m.order_no}/{d.get('operation') or 'order'}/{m.version}")
    if d.get("operation"):
        _el(sr, "ProcessSegmentID", d["operation"])
    start = d.get("started_at")
    end = d.get("ended_at") or m.occurred_at
    if m.event in ("OperationStarted", "OperationResumed"):
        # a start has no end yet: the event's time is when the segment began (again)
        start, end = start or m.occurred_at, None
    if start:
        _el(sr, "ActualStartTime", start)
    if end:
        _el(sr, "ActualEndTime", end)
    _data(sr, "kind", m.kind)
    _data(sr, "event", m.event)
    _data(sr, "sequence", m.version)
    for name in ("order_status", "operation_status", "stop_reason", "report_id", "passed"):
        if d.get(name) is not None:
            _data(sr, name, d[name])
    if d.get("characteristic") or d.get("measured_value") is not None:
        _data(
            sr,
            d.get("characteristic") or "measured_value",
            d.get("measured_value"),
            d.get("measured_unit") or None,
        )
    for name, value in (d.get("timing") or {}).items():
        if value is not None:
            _data(sr, name, value, "s" if name.endswith(("seconds", "per_unit")) else None)
    _el(sr, "PersonnelActual").append(_person(m.actor_id))
    if d.get("good") is not None:
        _material(sr, m, "good", d["good"])
    scrap = d.get("scrap")
    if isinstance(scrap, dict):
        for reason, qty in scrap.items():
            _material(sr, m, f"scrap:{reason}", qty)
    elif scrap not in (None, "0"):
        _material(sr, m, f"scrap:{d.get('scrap_reason') or ''}", scrap)
    if d.get("rework") not in (None, "0"):
        _material(sr, m, "rework", d["rework"])
    if d.get("good") is None and (d.get("serial") or d.get("batch")):
        _material(sr, m, "identified", "1")
    return pr


def _person(actor: str) -> Any:
    e = etree.Element(f"{{{B2MML_NS}}}PersonID")
    e.text = actor
    return e


def performance_document(messages: Sequence[Message], doc_id: str) -> Any:
    """A ProductionPerformance document holding one ProductionResponse per message."""
    root = etree.Element(f"{{{B2MML_NS}}}ProductionPerformance", nsmap={None: B2MML_NS})
    _el(root, "ID", doc_id)
    _el(root, "PublishedDate", datetime.now(UTC).isoformat(timespec="seconds"))
    for m in messages:
        root.append(production_response(m))
    return root


def _validation_error(schema: etree.XMLSchema, doc: Any) -> str | None:
    errors = schema_errors(schema, doc)
    if not errors:
        return None
    return f"B2MML validation: {schema_reason(errors[0])}"[:500]


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name in the same folder, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class FilesTransport(Transport):
    """Drops deliveries as files into the outbox."""

    def __init__(self, config: FilesDestination, schema_dir: Path | None = None) -> None:
        self.config = config
        self.batch_size = config.batch_size
        self.schema_dir = str(schema_dir) if schema_dir else None

    def _name(self, messages: Sequence[Message]) -> str:
        digest = hashlib.sha256("\x1f".join(m.key for m in messages).encode()).hexdigest()[:12]
        first, last = messages[0].position, messages[-1].position
        ext = _EXT[self.config.format]
        return f"{self.config.prefix}-{self.config.name}-{first:012d}-{last:012d}-{digest}.{ext}"

    def _csv(self, messages: Sequence[Message]) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=self.config.delimiter, lineterminator="\r\n")
        w.writerow(ROW_COLUMNS)
        for m in messages:
            w.writerow(row_cells(m))
        return buf.getvalue().encode("utf-8")

    def _xlsx(self, messages: Sequence[Message]) -> bytes:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("writeback")
        ws.append(list(ROW_COLUMNS))
        for m in messages:
            ws.append(row_cells(m))
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = [None] * len(messages)
        keep = list(messages)
        if self.config.format == "b2mml":
            schema = performance_schema(self.schema_dir)
            name = self._name(messages)
            doc = performance_document(messages, name)
            if _validation_error(schema, doc) is not None:  # find the message(s) at fault
                keep, refused = [], set()
                for i, m in enumerate(messages):
                    if m.order_key in refused:  # the order stops at its refused message
                        continue
                    why = _validation_error(schema, performance_document([m], name))
                    if why is None:
                        keep.append(m)
                    else:
                        outcomes[i] = why
                        refused.add(m.order_key)
                if not keep:
                    return outcomes
                doc = performance_document(keep, name)
            data = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        elif self.config.format == "xlsx":
            data = self._xlsx(keep)
        else:
            data = self._csv(keep)
        try:
            self.config.outbox.mkdir(parents=True, exist_ok=True)
            write_atomically(self.config.outbox / self._name(keep), data)
        except OSError as exc:  # a full disk or an unmounted share: try again later
            raise TransientError(f"{self.config.outbox}: {exc.strerror or exc}") from exc
        return outcomes


__all__ = [
    "PERFORMANCE_SCHEMA_FILE",
    "FilesTransport",
    "performance_document",
    "performance_schema",
    "production_response",
    "row_cells",
    "write_atomically",
]
