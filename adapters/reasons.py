"""Reason codes as master data: the stop (pause) and scrap reasons of each integration, with
the labels people read, from the integration file and optionally a CSV file."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from adapters.config import ConfigError, Integration, IntegrationsConfig

KINDS = ("stop", "scrap")


@dataclass(frozen=True)
class ReasonCode:
    """One reason: its kind (stop or scrap), its code and its label."""

    kind: str
    code: str
    label: str


@dataclass
class ReasonCatalogue:
    """Every integration's known reasons; looks labels up, warns of unknown codes."""

    by_integration: dict[str, list[ReasonCode]] = field(default_factory=dict)

    def of(self, integration: str, kind: str | None = None) -> list[ReasonCode]:
        """The reasons of an integration (of one kind), in the order configured."""
        return [
            r for r in self.by_integration.get(integration, []) if kind is None or r.kind == kind
        ]

    def knows_any(self, integration: str, kind: str) -> bool:
        """Whether the integration configures reasons of this kind (else every code passes)."""
        return bool(self.of(integration, kind))

    def label(self, integration: str, kind: str, code: str) -> str:
        """The label of a code, or the code itself when it is not known."""
        for r in self.of(integration, kind):
            if r.code == code:
                return r.label
        return code

    def is_known(self, integration: str, kind: str, code: str) -> bool:
        return not self.knows_any(integration, kind) or any(
            r.code == code for r in self.of(integration, kind)
        )


def read_csv(path: Path) -> list[ReasonCode]:
    """Rows ``kind,code,label`` (a header row with those names is allowed)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError([f"reasons.csv: cannot be read ({exc.strerror})"], str(path)) from None
    out: list[ReasonCode] = []
    problems: list[str] = []
    for n, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        cells = [c.strip() for c in row]
        if n == 1 and [c.lower() for c in cells[:3]] == ["kind", "code", "label"]:
            continue
        if len(cells) < 3:
            problems.append(f"row {n}: {row!r} needs kind,code,label")
            continue
        kind, code, label = cells[:3]
        if kind not in KINDS:
            problems.append(f"row {n}: kind {kind!r} must be stop or scrap")
        elif not code or len(code) > 60:
            problems.append(f"row {n}: code {code!r} must be 1-60 characters")
        else:
            out.append(ReasonCode(kind, code, label or code))
    if problems:
        raise ConfigError(problems, str(path))
    return out


def reasons_of(integration: Integration) -> list[ReasonCode]:
    """An integration's reasons: the file's tables, then the CSV rows (a CSV row with the
    same kind and code replaces the table's label)."""
    found: dict[tuple[str, str], ReasonCode] = {}
    cfg = integration.reasons
    for kind, table in (("stop", cfg.stop), ("scrap", cfg.scrap)):
        for code, label in table.items():
            found[(kind, code)] = ReasonCode(kind, code, label or code)
    if cfg.csv is not None:
        for r in read_csv(cfg.csv):
            found[(r.kind, r.code)] = r
    return list(found.values())


def catalogue(config: IntegrationsConfig | None) -> ReasonCatalogue:
    """The reasons of every configured integration."""
    if config is None:
        return ReasonCatalogue()
    return ReasonCatalogue({i.name: reasons_of(i) for i in config.integrations})


__all__ = ["KINDS", "ReasonCatalogue", "ReasonCode", "catalogue", "read_csv", "reasons_of"]
