"""The sandbox: the whole job against the ERP's test system, with nothing kept or sent.

One run reads every integration's ERP source (the mapping check), imports it with the
real sync into a throwaway SQLite store, plays a scripted shift on the imported orders
(start, pause with a reason, report quantities, record results, complete — on an order
named by number or "the first order at work centre X"), and pumps writeback to a capture
folder per destination instead of the ERP. Inbox files are copied, never claimed or moved.
The go-live report (JSON, and HTML with no external assets) lists the orders imported,
the mapping coverage, the messages per destination with samples, every warning, and the
checks that passed or failed.
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.config import AmqpInbound, FilesInbound, IntegrationsConfig
from adapters.golive.check import IntegrationCheck, check_one
from adapters.golive.dryrun import inbox_files
from adapters.golive.ledger_port import Floor, ledger_position
from adapters.writeback.base import Outcome, Transport
from adapters.writeback.messages import Message
from domain.values import Actor

SAMPLES = 3
SANDBOX_ACTOR = Actor("sandbox", "operator", "cli")


# ---------------------------------------------------------------------------- scenario


class Step(BaseModel):
    """One scripted floor action on an imported order."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["start", "pause", "resume", "report", "result", "complete"]
    order: str | None = Field(default=None, min_length=1, max_length=80)
    at_work_centre: str | None = Field(default=None, min_length=1, max_length=60)
    integration: str | None = None
    op: str | None = Field(default=None, min_length=1, max_length=60)
    reason: str | None = Field(default=None, min_length=1, max_length=60)
    good: Decimal = Field(default=Decimal(0), ge=0)
    scrap: Decimal = Field(default=Decimal(0), ge=0)
    scrap_reason: str | None = Field(default=None, min_length=1, max_length=60)
    rework: Decimal = Field(default=Decimal(0), ge=0)
    passed: bool = True

    @model_validator(mode="after")
    def _target(self) -> Step:
        if (self.order is None) == (self.at_work_centre is None):
            raise ValueError("name exactly one of order or at_work_centre")
        if self.action == "pause" and self.reason is None:
            raise ValueError("a pause needs a reason (the stop reason code)")
        if self.scrap and self.scrap_reason is None:
            raise ValueError("scrap needs a scrap_reason")
        return self

    def describe(self) -> str:
        target = self.order or f"the first order at work centre {self.at_work_centre}"
        return f"{self.action} on {target}" + (f" op {self.op}" if self.op else "")


class Scenario(BaseModel):
    """A scripted shift: the steps in order."""

    model_config = ConfigDict(extra="forbid")

    name: str = "scenario"
    steps: list[Step] = Field(default_factory=list)


class ScenarioError(Exception):
    """The scenario file cannot be used (each problem names the step and field)."""


def load_scenario(path: Path) -> Scenario:
    """Read a scenario TOML file; every problem names its place and value."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            value = e.get("input")
            shown = "" if isinstance(value, dict) else f" {value!r}"
            problems.append(f"{path}: {loc}:{shown} {e['msg']}")
        raise ScenarioError("\n".join(problems)) from None


def default_scenario() -> Scenario:
    """Without a scenario file: the first imported order's first operation, worked through."""
    return Scenario(
        name="default: first imported order",
        steps=[
            Step(action="start", order="*"),
            Step(action="pause", order="*", reason="SANDBOX"),
            Step(action="resume", order="*"),
            Step(action="report", order="*", good=Decimal(1)),
            Step(action="complete", order="*"),
        ],
    )


# ---------------------------------------------------------------------------- capture


class CaptureTransport(Transport):
    """A writeback destination that writes each message to a file instead of sending it."""

    batch_size = 100

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.messages: list[Message] = []

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        for m in messages:
            self.messages.append(m)
            path = self.folder / f"{m.position:010d}-{m.version:04d}-{m.kind}.json"
            path.write_text(
                json.dumps(m.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
                encoding="utf-8",
            )
        return [None] * len(messages)


# ---------------------------------------------------------------------------- the run


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class SandboxReport:
    """Everything one sandbox run found."""

    config: str
    scenario: str
    started_at: str
    imported: dict[str, dict[str, Any]] = field(default_factory=dict)
    mapping: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    events_recorded: int = 0

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "scenario": self.scenario,
            "started_at": self.started_at,
            "ok": self.ok,
            "imported": self.imported,
            "mapping": self.mapping,
            "steps": self.steps,
            "messages": self.messages,
            "warnings": self.warnings,
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
            "events_recorded": self.events_recorded,
        }


def sandbox_config(config: IntegrationsConfig, work: Path) -> IntegrationsConfig:
    """The configuration with each file inbox replaced by a copy in ``work`` (the ERP's
    files are never claimed or moved)."""
    changed = []
    for integ in config.integrations:
        inbound = integ.inbound
        if isinstance(inbound, FilesInbound):
            base = work / "inbox" / integ.name
            inbox = base / "in"
            inbox.mkdir(parents=True, exist_ok=True)
            for p in inbox_files(inbound):
                shutil.copy2(p, inbox / p.name)
            inbound = inbound.model_copy(
                update={
                    "inbox": inbox,
                    "archive": base / "archive",
                    "error": base / "error",
                    "settle_seconds": 0,
                }
            )
            integ = integ.model_copy(update={"inbound": inbound})
        changed.append(integ)
    return config.model_copy(update={"integrations": changed})


def _resolve(step: Step, floor: Floor, imported: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(integration, order number, operation) a step acts on; ValueError when none."""
    candidates = [(i, n) for i, n in imported if step.integration is None or i == step.integration]
    if step.order is not None and step.order != "*":
        candidates = [(i, n) for i, n in candidates if n == step.order]
        if not candidates:
            raise ValueError(f"order {step.order!r} was not imported")
    for integ, order_no in candidates:
        o = floor.order(order_no, integ)
        if o is None:
            continue
        ops = o.routing
        if step.at_work_centre is not None:
            at = [op for op in ops if op.work_centre == step.at_work_centre]
            if not at and o.floor.get("work_centre") == step.at_work_centre and ops:
                at = ops
            if not at:
                continue
            ops = at
        if step.op is not None:
            if step.op not in [op.op_id for op in o.routing]:
                if step.order not in (None, "*"):
                    raise ValueError(f"order {order_no} has no operation {step.op!r}")
                continue
            return integ, order_no, step.op
        if not ops:
            raise ValueError(f"order {order_no} has no operations")
        return integ, order_no, ops[0].op_id
    if step.at_work_centre is not None:
        raise ValueError(
            f"no imported order has an operation at work centre {step.at_work_centre!r}"
        )
    raise ValueError("no order was imported")


def play(scenario: Scenario, floor: Floor, imported: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run the scenario's steps in order; each step's outcome (or why it failed)."""
    out: list[dict[str, Any]] = []
    chosen: dict[int, tuple[str, str, str]] = {}
    for n, step in enumerate(scenario.steps, start=1):
        row: dict[str, Any] = {"step": n, "action": step.action, "what": step.describe()}
        try:
            # Steps naming the same target as the step before act on the same operation.
            prev = chosen.get(n - 1)
            same = n > 1 and _same_target(scenario.steps[n - 2], step)
            integ, order_no, op = prev if same and prev else _resolve(step, floor, imported)
            chosen[n] = (integ, order_no, op)
            row.update(integration=integ, order_no=order_no, op=op)
            if step.action == "start":
                floor.start(order_no, integ, op, None)
            elif step.action == "pause":
                floor.pause(order_no, integ, op, str(step.reason), None)
            elif step.action == "resume":
                floor.resume(order_no, integ, op, None)
            elif step.action == "report":
                floor.report(
                    order_no,
                    integ,
                    op,
                    good=step.good,
                    scrap=step.scrap,
                    scrap_reason=step.scrap_reason,
                    rework=step.rework,
                    at=None,
                )
            elif step.action == "result":
                floor.result(order_no, integ, op, step.passed, None)
            else:
                floor.complete(order_no, integ, op, None)
            row["ok"] = True
        except Exception as exc:  # a refused step is a failed check, not a crash
            row["ok"] = False
            row["error"] = str(exc)
        out.append(row)
    return out


def _same_target(a: Step, b: Step) -> bool:
    return (a.order, a.at_work_centre, a.integration, a.op) == (
        b.order,
        b.at_work_centre,
        b.integration,
        b.op,
    )


def _floor_codes(
    scenario: Scenario, steps: list[dict[str, Any]]
) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per integration: the stop and scrap reasons the scenario's accepted steps sent."""
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for step, row in zip(scenario.steps, steps, strict=True):
        if not row.get("ok"):
            continue
        codes = out.setdefault(row["integration"], {})
        if step.action == "pause" and step.reason:
            codes.setdefault("stop_reason", {}).setdefault(step.reason, []).append(row["order_no"])
        if step.action == "report" and step.scrap_reason:
            scrap = codes.setdefault("scrap_reason", {})
            scrap.setdefault(step.scrap_reason, []).append(row["order_no"])
    return out


def run_sandbox(
    config: IntegrationsConfig,
    scenario: Scenario,
    *,
    config_name: str = "",
    work: Path | None = None,
) -> SandboxReport:
    """Run the whole job against the configured ERP sources in a throwaway store."""
    from adapters.inbound.worker import Worker
    from adapters.settings import Settings, build_ledger
    from adapters.writeback.config import destinations
    from adapters.writeback.pump import Pump

    own = work is None
    folder = Path(tempfile.mkdtemp(prefix="floorledger-sandbox-")) if work is None else work
    report = SandboxReport(config_name, scenario.name, datetime.now(UTC).isoformat())
    try:
        usable = [i for i in config.integrations if not isinstance(i.inbound, AmqpInbound)]
        for integ in config.integrations:
            if isinstance(integ.inbound, AmqpInbound):
                report.checks.append(
                    Check(
                        f"{integ.name}: sandbox import",
                        False,
                        "a message queue is consumed by an import: not run in the sandbox "
                        "(use `floorledger mapping check`, which peeks)",
                    )
                )
        # 1. mapping coverage (read without importing)
        checks: list[IntegrationCheck] = []
        for integ in usable:
            try:
                checks.append(check_one(integ))
            except Exception as exc:
                checks.append(IntegrationCheck(integ.name, None, error=str(exc)))
        # 2. the real import into a throwaway store
        boxed = sandbox_config(config.model_copy(update={"integrations": usable}), folder)
        settings = Settings(database_url=f"sqlite:///{folder / 'sandbox.db'}")  # type: ignore[arg-type]
        ledger = build_ledger(settings)
        try:
            summaries = Worker(boxed, ledger).run_once()
            imported: list[tuple[str, str]] = []
            for name, s in summaries.items():
                report.imported[name] = {
                    "counts": s.counts(),
                    "released": s.released,
                    "not_released": s.not_released,
                    "errors": s.errors,
                }
                imported.extend((name, n) for n in s.released)
                report.warnings.extend(f"{name}: {w}" for w in s.warnings)
                report.warnings.extend(f"{name}: error: {e}" for e in s.errors)
            # 3. the scripted shift
            report.steps = play(scenario, Floor(ledger, SANDBOX_ACTOR), imported)
            # 4. writeback to capture folders
            transports: dict[str, Transport] = {
                d.name: CaptureTransport(folder / "captured" / d.name)
                for _, d in destinations(boxed)
            }
            pump = Pump(ledger, boxed, transports=transports)
            try:
                result = pump.run_once()
            finally:
                pump.close()
            for name, t in transports.items():
                assert isinstance(t, CaptureTransport)
                by_kind: dict[str, int] = {}
                for m in t.messages:
                    by_kind[m.kind] = by_kind.get(m.kind, 0) + 1
                report.messages[name] = {
                    "count": len(t.messages),
                    "by_kind": by_kind,
                    "samples": [m.to_json() for m in t.messages[:SAMPLES]],
                    "outcome": result.get(name, pump.skipped.get(name, "")),
                }
            report.events_recorded = ledger_position(ledger)
        finally:
            ledger.close()
        codes = _floor_codes(scenario, report.steps)
        for c in checks:
            if c.check is not None:
                from adapters.golive.check import floor_values

                c.floor = floor_values(
                    config.get(c.integration).maps, c.check, codes.get(c.integration, {})
                )
            report.mapping.append(c.to_json())
        _checks(report, checks, summaries, {i.name for i in usable if i.mode == "A"})
        return report
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _checks(
    report: SandboxReport,
    checks: list[IntegrationCheck],
    summaries: dict[str, Any],
    sniffing: set[str],
) -> None:
    add = report.checks.append
    for c in checks:
        add(Check(f"{c.integration}: ERP source readable", c.error is None, c.error or ""))
        if c.check is not None:
            add(
                Check(
                    f"{c.integration}: no value raises a mapping warning",
                    c.would_warn == 0,
                    f"{c.would_warn} warning(s) a sync would raise" if c.would_warn else "",
                )
            )
            gaps = [f"{f.kind} {f.value!r}" for f in c.floor if f.status == "no_erp_mapping"]
            add(
                Check(
                    f"{c.integration}: every floor code maps back to the ERP",
                    not gaps,
                    ", ".join(gaps),
                )
            )
    for name, s in summaries.items():
        if name not in sniffing:  # order sniffing (mode A) imports no plan
            add(Check(f"{name}: orders imported", bool(s.released), f"{len(s.released)} released"))
        add(Check(f"{name}: no import errors", not s.errors, "; ".join(s.errors[:3])))
    for row in report.steps:
        add(Check(f"step {row['step']}: {row['what']}", bool(row["ok"]), row.get("error", "")))
    for name, m in report.messages.items():
        outcome = m["outcome"]
        add(
            Check(
                f"{name}: writeback messages built",
                not (isinstance(outcome, str) and outcome.startswith("error")),
                f"{m['count']} message(s)" + (f"; {outcome}" if isinstance(outcome, str) else ""),
            )
        )


# ---------------------------------------------------------------------------- report files


def _e(value: Any) -> str:
    return html.escape(str(value))


def render_html(report: SandboxReport) -> str:
    """The go-live report as one self-contained HTML page (inline style, no external assets)."""
    r = report
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>floorledger go-live report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
        ".pass{color:#1a7f37}.fail{color:#c62828;font-weight:bold}"
        "pre{background:#f6f8fa;padding:.5em;overflow:auto;max-height:20em}",
        "</style></head><body>",
        "<h1>floorledger go-live report</h1>",
        f"<p>configuration {_e(r.config)}; scenario {_e(r.scenario)}; run at {_e(r.started_at)}"
        f"; result: <span class='{'pass' if r.ok else 'fail'}'>"
        f"{'all checks passed' if r.ok else 'some checks failed'}</span></p>",
        "<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>",
    ]
    for c in r.checks:
        cls, word = ("pass", "passed") if c.passed else ("fail", "FAILED")
        parts.append(
            f"<tr><td>{_e(c.name)}</td><td class='{cls}'>{word}</td><td>{_e(c.detail)}</td></tr>"
        )
    parts.append(
        "</table><h2>Orders imported</h2><table><tr><th>integration</th>"
        "<th>counts</th><th>released</th></tr>"
    )
    for name, imp in r.imported.items():
        counts = ", ".join(f"{v} {k}" for k, v in imp["counts"].items())
        parts.append(
            f"<tr><td>{_e(name)}</td><td>{_e(counts)}</td>"
            f"<td>{_e(', '.join(imp['released']))}</td></tr>"
        )
    parts.append("</table><h2>Mapping coverage</h2>")
    for m in r.mapping:
        parts.append(f"<h3>{_e(m['integration'])}</h3>")
        if m["error"]:
            parts.append(f"<p class='fail'>cannot read the ERP data: {_e(m['error'])}</p>")
            continue
        parts.append(
            "<table><tr><th>field</th><th>ERP value</th><th>status</th>"
            "<th>floor value</th><th>seen</th><th>example orders</th></tr>"
        )
        for kind, values in m["fields"].items():
            for v in values:
                cls = "fail" if v["warns"] else ""
                parts.append(
                    f"<tr><td>{_e(kind)}</td><td>{_e(v['value'])}</td>"
                    f"<td class='{cls}'>{_e(v['status'])}</td><td>{_e(v['floor_value'])}</td>"
                    f"<td>{v['count']}</td><td>{_e(', '.join(v['examples']))}</td></tr>"
                )
        for kind, values in m["floor"].items():
            for v in values:
                cls = "fail" if v["status"] == "no_erp_mapping" else ""
                parts.append(
                    f"<tr><td>floor {_e(kind)}</td><td>{_e(v['erp_value'])}</td>"
                    f"<td class='{cls}'>{_e(v['status'])}</td><td>{_e(v['value'])}</td>"
                    f"<td></td><td>{_e(', '.join(v['orders']))}</td></tr>"
                )
        parts.append("</table>")
    parts.append(
        "<h2>Scenario</h2><table><tr><th>#</th><th>step</th><th>order</th>"
        "<th>operation</th><th>result</th></tr>"
    )
    for s in r.steps:
        res = "ok" if s["ok"] else f"refused: {s.get('error', '')}"
        parts.append(
            f"<tr><td>{s['step']}</td><td>{_e(s['what'])}</td><td>{_e(s.get('order_no', ''))}"
            f"</td><td>{_e(s.get('op', ''))}</td><td class='{'pass' if s['ok'] else 'fail'}'>"
            f"{_e(res)}</td></tr>"
        )
    parts.append("</table><h2>Messages that would be sent</h2>")
    for name, m in r.messages.items():
        kinds = ", ".join(f"{v} {k}" for k, v in m["by_kind"].items()) or "none"
        parts.append(f"<h3>{_e(name)}: {m['count']} message(s) ({_e(kinds)})</h3>")
        for sample in m["samples"]:
            parts.append(f"<pre>{_e(json.dumps(sample, indent=2, default=str))}</pre>")
    parts.append("<h2>Warnings</h2><ul>")
    parts.extend(f"<li>{_e(w)}</li>" for w in r.warnings)
    if not r.warnings:
        parts.append("<li>none</li>")
    parts.append("</ul></body></html>\n")
    return "\n".join(parts)


def write_report(report: SandboxReport, folder: Path) -> tuple[Path, Path]:
    """``go-live-report.json`` and ``go-live-report.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    j = folder / "go-live-report.json"
    h = folder / "go-live-report.html"
    j.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    h.write_text(render_html(report), encoding="utf-8")
    return j, h


__all__ = [
    "CaptureTransport",
    "SandboxReport",
    "Scenario",
    "ScenarioError",
    "Step",
    "default_scenario",
    "load_scenario",
    "play",
    "render_html",
    "run_sandbox",
    "sandbox_config",
    "write_report",
]
