"""Warn, don't block: a stop or scrap reason the integration does not list is recorded as
sent, and an ``unknown_reason_code`` warning is raised on the order beside it."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request

from api.deps import Recorder
from api.pages.integrations import plant_config
from api.schemas import CommandPublic
from domain import CommandOutcome, Ledger

UNKNOWN_REASON_CODE = "unknown_reason_code"


def warn_unknown_reasons(
    request: Request,
    ledger: Ledger,
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

        def warn(key: str | None, code: str = code, message: str = message) -> CommandOutcome:
            return ledger.raise_warning(
                order_no,
                UNKNOWN_REASON_CODE,
                message,
                recorder.actor,
                reference=code,
                integration=integration,
                key=f"{key}:unknown-reason:{kind}:{code}" if key else None,
            )

        warned = recorder.run(warn)
        out = out.model_copy(
            update={
                "warnings": [*out.warnings, UNKNOWN_REASON_CODE],
                "position": warned.position or out.position,
            }
        )
    return out
