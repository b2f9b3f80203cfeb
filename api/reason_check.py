"""Warn, don't block: a stop or scrap reason the integration does not list is recorded as
sent, and an ``unknown_reason_code`` warning is raised on the order beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request

from api.deps import Recorder
from api.pages.integrations import plant_config
from api.schemas import CommandPublic
from domain import CommandOutcome
from domain.commands import (
    OrderCommand,
    PauseOperation,
    RaiseWarning,
    ReportQuantity,
    SubmitReport,
)

UNKNOWN_REASON_CODE = "unknown_reason_code"


# Which reason codes a floor command carries: (kind, codes).
_REASONS: dict[type[OrderCommand], Callable[[Any], tuple[str, list[str]]]] = {
    PauseOperation: lambda c: ("stop", [c.reason_code]),
    ReportQuantity: lambda c: ("scrap", [c.scrap_reason] if c.scrap_reason and c.scrap else []),
    SubmitReport: lambda c: ("scrap", list(c.scrap or {})),
}


def reason_codes_of(
    command: type[OrderCommand],
) -> Callable[[Any], tuple[str, list[str]]] | None:
    """How to read the reason codes a command of this type carries, or None."""
    return _REASONS.get(command)


def warn_unknown_reasons(
    request: Request,
    recorder: Recorder,
    out: CommandPublic,
    kind: str,
    codes: Iterable[str | None],
) -> CommandPublic:
    """Raise one warning per unknown code (keyed after the command's key, so a retry raises
    none again); the answer lists the warning and the later ledger position."""
    if not out.events:
        return out
    reasons = plant_config(request).reasons
    order_no, integration = out.order_no, out.integration
    unknown = [c for c in codes if c and not reasons.is_known(integration, kind, c)]
    for code in unknown:
        message = (
            f"{kind} reason {code!r} is not among the reason codes of integration "
            f"{integration!r}; recorded as sent"
        )

        warning = RaiseWarning(
            order_no, UNKNOWN_REASON_CODE, message, reference=code, integration=integration
        )
        warned = recorder.run(_warn_under(recorder, warning, f"unknown-reason:{kind}:{code}"))
        out = out.model_copy(
            update={
                "warnings": [*out.warnings, UNKNOWN_REASON_CODE],
                "position": warned.position or out.position,
            }
        )
    return out


def _warn_under(
    recorder: Recorder, warning: RaiseWarning, suffix: str
) -> Callable[[str | None], CommandOutcome]:
    """Run ``warning`` under the request's key extended by ``suffix`` (a retry records none)."""
    ledger = recorder.services.ledger
    return lambda key: ledger.execute(warning, recorder.actor, f"{key}:{suffix}" if key else None)
