"""The mapping workbook: the check's values in an XLSX file the ERP team fills in, read back
as value maps.

``write_workbook`` writes one sheet per value map (work centres, operations, units, reason
codes) with one row per value seen, its status and a ``floor value`` column (pre-filled
where the map already has one). ``read_workbook`` checks every cell and returns the maps
per integration, the configured maps with the workbook's rows added or replaced;
``toml_snippet`` writes them as the ``[integrations.maps.*]`` tables to paste under each
integration (the configuration file, with its comments, is never rewritten).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.config import IntegrationsConfig, UnitMapping, ValueMaps
from adapters.golive.check import IntegrationCheck

# sheet title → (value map, the ERP value's column title)
SHEETS: dict[str, tuple[str, str]] = {
    "Work centres": ("work_centres", "ERP work centre"),
    "Operations": ("operations", "ERP operation"),
    "Units": ("units", "ERP unit"),
    "Reason codes": ("reason_codes", "ERP reason code"),
}
_KIND_OF = {
    "work_centres": "work_centre",
    "operations": "operation",
    "units": "unit",
    "reason_codes": "reason_code",
}
MAX_VALUE = 60
README = [
    "floorledger mapping workbook",
    "",
    "Fill in the 'floor value' column (and 'factor' for units: 1 ERP unit = factor floor "
    "units) of every row the floor should know under another name.",
    "A row with an empty floor value is left out of the map.",
    "Reason codes: rows the floor sends with no ERP code have the floor code filled in and the "
    "ERP column empty; fill in the ERP code, or leave it empty to leave the row out.",
    "Load it back with: floorledger mapping import THIS_FILE --out maps.toml",
    "An empty map passes ERP values through unchanged; a map with entries warns about "
    "every ERP value it does not cover.",
]


class WorkbookError(Exception):
    """Cells of the workbook that cannot be read as value maps (each names its place)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _headers(map_name: str, erp_title: str) -> list[str]:
    cols = ["integration", erp_title, "floor value"]
    if map_name == "units":
        cols.append("factor")
    return [*cols, "status", "seen", "example orders"]


def write_workbook(path: Path, checks: list[IntegrationCheck], config: IntegrationsConfig) -> None:
    """The workbook of these checks: every value seen, one row each, with its status."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    info = wb.active
    assert info is not None
    info.title = "Read me"
    for line in README:
        info.append([line])
    for title, (map_name, erp_title) in SHEETS.items():
        ws = wb.create_sheet(title)
        ws.append(_headers(map_name, erp_title))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for result in checks:
            maps = config.get(result.integration).maps
            table: dict[str, Any] = getattr(maps, map_name)
            rows: dict[str, list[Any]] = {}
            for v in result.values(_KIND_OF[map_name]):
                rows[v.value] = [v.status, v.count, ", ".join(v.examples)]
            floor_rows: list[list[Any]] = []
            if map_name == "reason_codes":
                # Codes the floor sends with no ERP code yet: the ERP team fills the ERP column.
                for f in result.floor:
                    if f.kind in ("stop_reason", "scrap_reason") and f.status != "mapped":
                        floor_rows.append(
                            [result.integration, None, f.value, f"floor {f.kind}: {f.status}",
                             len(f.orders), ", ".join(f.orders)]
                        )  # fmt: skip
            for erp in table:
                rows.setdefault(erp, ["mapped", 0, ""])
            for erp, (status, seen, examples) in sorted(rows.items()):
                hit = table.get(erp)
                if map_name == "units":
                    unit = hit.unit if isinstance(hit, UnitMapping) else ""
                    factor = str(hit.factor) if isinstance(hit, UnitMapping) else ""
                    ws.append([result.integration, erp, unit, factor, status, seen, examples])
                else:
                    ws.append([result.integration, erp, hit or "", status, seen, examples])
            for row in floor_rows:
                ws.append(row)
        for col, width in zip("ABCDEFG", (16, 22, 22, 12, 16, 8, 30), strict=False):
            ws.column_dimensions[col].width = width
    wb.save(path)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("is not text")
    return str(value).strip() or None


def _read_cell(
    row: tuple[Any, ...], col: dict[str, int], name: str, where: str, problems: list[str]
) -> str | None:
    raw = row[col[name]] if col[name] < len(row) else None
    try:
        text = _cell_text(raw)
    except ValueError as exc:
        problems.append(f"{where} column {name!r}: {raw!r} {exc}")
        return None
    if text is not None and (len(text) > MAX_VALUE or "\n" in text):
        problems.append(
            f"{where} column {name!r}: {raw!r} must be one line of at most {MAX_VALUE} characters"
        )
        return None
    return text


def read_workbook(path: Path, config: IntegrationsConfig) -> dict[str, ValueMaps]:
    """The value maps the workbook holds, per integration named in it (the configured maps
    with the workbook's rows added or replaced). Raises WorkbookError naming every bad cell."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise WorkbookError([f"{path}: cannot be read as an XLSX workbook: {exc}"]) from None
    problems: list[str] = []
    known = {i.name for i in config.integrations}
    found: dict[str, dict[str, dict[str, Any]]] = {}
    origin: dict[tuple[str, str, str], int] = {}
    try:
        for title, (map_name, erp_title) in SHEETS.items():
            if title not in wb.sheetnames:
                continue
            ws = wb[title]
            rows = ws.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            want = _headers(map_name, erp_title)
            missing = [h for h in want[: 4 if map_name == "units" else 3] if h not in header]
            if missing:
                problems.append(
                    f"sheet {title!r} row 1: missing column(s) {', '.join(map(repr, missing))}"
                )
                continue
            col = {h: header.index(h) for h in want if h in header}
            for n, row in enumerate(rows, start=2):
                where = f"sheet {title!r} row {n}"
                integ, erp, floor = (
                    _read_cell(row, col, name, where, problems)
                    for name in ("integration", erp_title, "floor value")
                )
                if integ is None and erp is None and floor is None:
                    continue
                if floor is None:
                    continue  # not mapped (yet): left out
                if integ is None or integ not in known:
                    problems.append(
                        f"{where} column 'integration': {integ!r} is not a configured "
                        f"integration (configured: {', '.join(sorted(known)) or 'none'})"
                    )
                    continue
                if erp is None and map_name == "reason_codes":
                    continue  # a floor code the ERP team has not given an ERP code yet
                if erp is None:
                    problems.append(f"{where} column {erp_title!r}: is required")
                    continue
                value: Any = floor
                if map_name == "units":
                    raw_factor = row[col["factor"]] if col["factor"] < len(row) else None
                    try:
                        factor = (
                            Decimal(str(raw_factor).strip())
                            if raw_factor not in (None, "")
                            else Decimal(1)
                        )
                        if not factor.is_finite() or factor <= 0:
                            raise InvalidOperation
                    except (InvalidOperation, ValueError):
                        problems.append(
                            f"{where} column 'factor': {raw_factor!r} is not a positive number"
                        )
                        continue
                    value = {"unit": floor, "factor": factor}
                table = found.setdefault(integ, {}).setdefault(map_name, {})
                key = (integ, map_name, erp)
                if erp in table and table[erp] != value:
                    problems.append(
                        f"{where} column {erp_title!r}: {erp!r} is already mapped in row "
                        f"{origin[key]} to another value"
                    )
                    continue
                table[erp] = value
                origin.setdefault(key, n)
    finally:
        wb.close()
    if problems:
        raise WorkbookError(problems)
    out: dict[str, ValueMaps] = {}
    for integ, tables in found.items():
        current = config.get(integ).maps.model_dump()
        for map_name, entries in tables.items():
            current[map_name].update(entries)
        try:
            out[integ] = ValueMaps.model_validate(current)
        except ValidationError as exc:
            raise WorkbookError([f"integration {integ!r}: {exc}"]) from None
    return out


def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def toml_snippet(maps: dict[str, ValueMaps]) -> str:
    """The ``[integrations.maps.*]`` tables of each integration, to paste under its
    ``[[integrations]]`` table in place of the maps there."""
    out: list[str] = []
    for integ, m in maps.items():
        out.append(f"# integration {_s(integ)}: replace its [integrations.maps.*] tables")
        for map_name in ("work_centres", "operations", "reason_codes"):
            table: dict[str, str] = getattr(m, map_name)
            if table:
                out.append(f"[integrations.maps.{map_name}]")
                out.extend(f"{_s(k)} = {_s(v)}" for k, v in sorted(table.items()))
        if m.units:
            out.append("[integrations.maps.units]")
            for k, u in sorted(m.units.items()):
                out.append(f"{_s(k)} = {{ unit = {_s(u.unit)}, factor = {u.factor} }}")
        out.append("")
    return "\n".join(out)


__all__ = ["SHEETS", "WorkbookError", "read_workbook", "toml_snippet", "write_workbook"]
