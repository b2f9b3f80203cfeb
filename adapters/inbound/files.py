"""The watched inbox: plan files an ERP drops into a folder, imported once each.

A file is read only once its writer is done (its size and modification time have not
changed for ``settle_seconds``; temporary names are ignored), claimed by an atomic rename
into the processing folder, imported, then moved to the archive — or, when any row was
refused, to the error folder with a ``<name>.errors.json`` report beside it. The good rows
of a file with bad rows are imported all the same.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from adapters.config import FilesInbound, Integration
from adapters.inbound.parsers import parse_file
from adapters.inbound.sync import SyncSummary, apply_mapping
from adapters.mapping import MappingCheck, MappingResult, RowError, map_records
from domain.ledger import Ledger

# Names a writer uses while a file is incomplete (editors, browsers, Office, rsync, scp).
TEMP_PATTERNS = (
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.swp",
    "*.filepart",
    ".~*",
    "~$*",
    ".*",
)
REPORT_SUFFIX = ".errors.json"


@dataclass(frozen=True)
class FileOutcome:
    """What became of one inbox file."""

    name: str
    status: Literal["archived", "error"]
    moved_to: Path
    report: Path | None
    summary: SyncSummary


def is_temporary(name: str) -> bool:
    """Whether a file name is one a writer uses while the file is still being written."""
    return any(fnmatch.fnmatch(name, p) for p in TEMP_PATTERNS)


def _free_name(directory: Path, name: str) -> Path:
    """A path in ``directory`` for ``name`` that does not overwrite an earlier file."""
    target = directory / name
    if not target.exists():
        return target
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    stem, dot, ext = name.partition(".")
    return directory / f"{stem}-{stamp}{dot}{ext}"


class Inbox:
    """One integration's watched inbox folder."""

    def __init__(self, integration: Integration, *, clock: Callable[[], float] = time.time):
        if not isinstance(integration.inbound, FilesInbound):
            raise ValueError(f"integration {integration.name!r} does not read files")
        self.integration = integration
        self.config: FilesInbound = integration.inbound
        self.clock = clock
        self._observed: dict[str, tuple[int, int]] = {}

    @property
    def processing(self) -> Path:
        return self.config.processing_dir

    def ensure_dirs(self) -> None:
        """Create the inbox, processing, archive and error folders when missing."""
        for d in (self.config.inbox, self.processing, self.config.archive, self.config.error):
            d.mkdir(parents=True, exist_ok=True)

    def ready(self) -> list[Path]:
        """Inbox files whose writer is done, oldest first."""
        now = self.clock()
        found: list[tuple[int, str, Path]] = []
        observed: dict[str, tuple[int, int]] = {}
        try:
            entries = list(os.scandir(self.config.inbox))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            if is_temporary(name) or not fnmatch.fnmatch(name, self.config.pattern):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            observed[name] = signature
            previous = self._observed.get(name)
            if previous is not None and previous != signature:
                continue  # still growing since the last look
            if now - st.st_mtime_ns / 1e9 < self.config.settle_seconds:
                continue  # written to too recently
            found.append((st.st_mtime_ns, name, Path(entry.path)))
        self._observed = observed
        return [p for _, _, p in sorted(found)]

    def claim(self, path: Path) -> Path | None:
        """Take a file for processing by an atomic rename; None when another worker took it."""
        self.processing.mkdir(parents=True, exist_ok=True)
        target = _free_name(self.processing, path.name)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        self._observed.pop(path.name, None)
        return target

    def recover(self) -> list[Path]:
        """Return files left in processing by a stopped worker to the inbox (re-import is safe)."""
        back: list[Path] = []
        if not self.processing.is_dir():
            return back
        for p in sorted(self.processing.iterdir()):
            if p.is_file():
                target = _free_name(self.config.inbox, p.name)
                os.rename(p, target)
                back.append(target)
        return back

    def read(self, path: Path, *, check: MappingCheck | None = None) -> MappingResult:
        """Parse and map one file; a file that cannot be read at all is one document error."""
        try:
            items = list(parse_file(path, self.config))
        except (OSError, ValueError) as exc:
            items = [RowError(None, "document", None, f"cannot be read: {exc}")]
        fields, maps = self.integration.field_map, self.integration.maps
        return map_records(items, fields, maps, check=check)

    def process(
        self,
        claimed: Path,
        ledger: Ledger,
        *,
        open_orders: Callable[[], Iterable[str]] | None = None,
    ) -> FileOutcome:
        """Import one claimed file, then archive it or move it to the error folder with a report.

        When the ledger fails for a reason that is not the file's fault (the store is down),
        the file goes back to the inbox to be retried and the error is raised.
        """
        result = self.read(claimed)
        try:
            summary = apply_mapping(self.integration, ledger, result, open_orders=open_orders)
        except Exception:
            os.rename(claimed, _free_name(self.config.inbox, claimed.name))
            raise
        if not summary.errors:
            self.config.archive.mkdir(parents=True, exist_ok=True)
            moved = Path(shutil.move(claimed, _free_name(self.config.archive, claimed.name)))
            return FileOutcome(claimed.name, "archived", moved, None, summary)
        self.config.error.mkdir(parents=True, exist_ok=True)
        moved = Path(shutil.move(claimed, _free_name(self.config.error, claimed.name)))
        report = moved.with_name(moved.name + REPORT_SUFFIX)
        report.write_text(
            json.dumps(self._report(moved.name, summary), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        return FileOutcome(claimed.name, "error", moved, report, summary)

    def _report(self, name: str, summary: SyncSummary) -> dict[str, object]:
        row_messages = {str(e) for e in summary.row_errors}
        return {
            "file": name,
            "integration": self.integration.name,
            "processed_at": datetime.now(UTC).isoformat(),
            "imported": summary.counts(),
            "errors": [e.to_dict() for e in summary.row_errors],
            "ledger_errors": [e for e in summary.errors if e not in row_messages],
            "warnings": summary.warnings,
        }

    def poll(
        self,
        ledger: Ledger,
        *,
        open_orders: Callable[[], Iterable[str]] | None = None,
    ) -> list[FileOutcome]:
        """Import every settled file in the inbox, oldest first."""
        outcomes = []
        for path in self.ready():
            claimed = self.claim(path)
            if claimed is not None:
                outcomes.append(self.process(claimed, ledger, open_orders=open_orders))
        return outcomes


def total(outcomes: Iterable[FileOutcome], integration: str) -> SyncSummary:
    """One summary over several files."""
    summary = SyncSummary(integration)
    for o in outcomes:
        summary.merge(o.summary)
    return summary


__all__ = ["REPORT_SUFFIX", "TEMP_PATTERNS", "FileOutcome", "Inbox", "is_temporary", "total"]
