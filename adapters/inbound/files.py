"""The watched inbox: plan files an ERP drops into a folder, imported once each.

A file is read only once its writer is done (its done-marker exists, or its size and
modification time have not changed for ``settle_seconds``; temporary names are ignored),
claimed by an atomic rename into the processing folder, imported, then moved to the archive
— or, when any row was refused or anything failed, to the error folder with a
``<name>.errors.json`` report beside it. The good orders of a file with bad rows are
imported all the same; no failure leaves a file in the processing folder.
"""

from __future__ import annotations

import contextlib
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

from eventsourcing.persistence import InterfaceError, OperationalError

from adapters.config import DEFAULT_TEMP_PATTERNS, FilesInbound, Integration
from adapters.inbound.parsers import FileRefused, parse_file
from adapters.inbound.sync import SyncSummary, apply_mapping
from adapters.mapping import MappingCheck, MappingResult, RowError, map_records
from domain.ledger import Ledger

TEMP_PATTERNS = DEFAULT_TEMP_PATTERNS
REPORT_SUFFIX = ".errors.json"


@dataclass(frozen=True)
class FileOutcome:
    """What became of one inbox file."""

    name: str
    status: Literal["archived", "error"]
    moved_to: Path
    report: Path | None
    summary: SyncSummary


def is_temporary(name: str, patterns: Iterable[str] = TEMP_PATTERNS) -> bool:
    """Whether a file name is one a writer uses while the file is still being written."""
    return any(fnmatch.fnmatch(name, p) for p in patterns)


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
        names = {e.name for e in entries}
        marker = self.config.done_suffix
        for entry in entries:
            name = entry.name
            if self.skipped(name):
                continue
            if marker is not None:
                # The writer's done-marker says the file is complete: no settle time needed.
                if name + marker in names and entry.is_file(follow_symlinks=False):
                    found.append((entry.stat().st_mtime_ns, name, Path(entry.path)))
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

    def skipped(self, name: str) -> bool:
        """Whether an inbox name is never read: not the pattern, a temporary name, a marker."""
        marker = self.config.done_suffix
        return (
            not fnmatch.fnmatch(name, self.config.pattern)
            or is_temporary(name, self.config.temp_patterns)
            or (marker is not None and name.endswith(marker))
        )

    def claim(self, path: Path) -> Path | None:
        """Take a file for processing by an atomic rename; None when another worker took it.

        Its done-marker (if the integration uses them) moves with it, so a marker the ERP
        writes for a new file of the same name is not mistaken for this one's."""
        self.processing.mkdir(parents=True, exist_ok=True)
        target = _free_name(self.processing, path.name)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        self._observed.pop(path.name, None)
        marker = self.config.done_suffix
        if marker is not None:
            with contextlib.suppress(FileNotFoundError):
                os.rename(
                    path.with_name(path.name + marker), target.with_name(target.name + marker)
                )
        return target

    def _drop_marker(self, claimed: Path) -> None:
        if self.config.done_suffix is not None:
            claimed.with_name(claimed.name + self.config.done_suffix).unlink(missing_ok=True)

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
        fields, maps = self.integration.field_map, self.integration.maps
        order_field = fields.order_no if fields.operations is None else None
        try:
            items = list(parse_file(path, self.config, order_field=order_field))
        except FileRefused as exc:
            items = [RowError(None, "document", None, str(exc))]
        except Exception as exc:  # no reader failure may strand the file (docs/inbound.md)
            items = [RowError(None, "document", None, f"cannot be read: {_describe(exc)}")]
        try:
            return map_records(items, fields, maps, check=check)
        except Exception as exc:
            error = RowError(None, "document", None, f"cannot be mapped: {_describe(exc)}")
            return MappingResult(errors=[error])

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
        except _STORE_DOWN:
            back = _free_name(self.config.inbox, claimed.name)
            os.rename(claimed, back)
            marker = self.config.done_suffix
            if marker is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.rename(
                        claimed.with_name(claimed.name + marker), back.with_name(back.name + marker)
                    )
            raise
        except Exception as exc:
            # Not the store being away: retrying would fail the same way and block the files
            # after it, so the file goes to the error folder with the reason.
            summary = SyncSummary(self.integration.name)
            summary.errors.append(f"the import stopped: {_describe(exc)}")
        self._drop_marker(claimed)
        if not summary.errors:
            moved = self._move(claimed, self.config.archive, summary)
            return FileOutcome(claimed.name, "archived", moved, None, summary)
        moved = self._move(claimed, self.config.error, summary)
        report = moved.with_name(moved.name + REPORT_SUFFIX)
        report.write_text(
            json.dumps(self._report(moved.name, summary), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        return FileOutcome(claimed.name, "error", moved, report, summary)

    def _move(self, claimed: Path, folder: Path, summary: SyncSummary) -> Path:
        """Move a processed file to ``folder``; a file someone removed meanwhile is a warning
        (what was imported stays imported and the summary is kept)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder, claimed.name)
        try:
            return Path(shutil.move(claimed, target))
        except FileNotFoundError:
            summary.warnings.append(
                f"{claimed.name}: the file disappeared before it could be moved to {folder}"
            )
            return target

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
            "not_released": summary.reasons,
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


# Failures that are the store's, not the file's: the file goes back to the inbox for a retry.
_STORE_DOWN = (OperationalError, InterfaceError, OSError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def total(outcomes: Iterable[FileOutcome], integration: str) -> SyncSummary:
    """One summary over several files."""
    summary = SyncSummary(integration)
    for o in outcomes:
        summary.merge(o.summary)
    return summary


__all__ = ["REPORT_SUFFIX", "TEMP_PATTERNS", "FileOutcome", "Inbox", "is_temporary", "total"]
