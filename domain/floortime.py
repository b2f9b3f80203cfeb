"""How far the floor's own times are trusted: the back-dating window and the clock-skew tolerance.

An operator's action may carry the time it happened (``at``; a report its ``started_at`` and
``ended_at``) — the terminal's offline queue replays actions with their original times. Such a
time is refused when it lies further back than the window (default 24 hours, setting
``FLOORLEDGER_MAX_BACKDATE_HOURS``; ``off`` trusts any past time, for imports of history) or
further ahead than the clock-skew tolerance; an action timed more than
:data:`BACKDATE_WARNING_AFTER` (an hour) back is recorded with a ``backdated`` warning on the order.

The check is a pure function of the time given and ``now``, which the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import InvalidValueError

# The setting that names the window, as the error messages and the docs spell it.
MAX_BACKDATE_SETTING = "FLOORLEDGER_MAX_BACKDATE_HOURS"
DEFAULT_MAX_BACKDATE = timedelta(hours=24)
# An action timed further back than this is recorded with a ``backdated`` warning: longer than
# a terminal's usual network outage (its offline queue replays what waited, with the original
# times) and than a clock running behind within the skew tolerance, short enough that
# back-dating which changes a shift's figures is seen.
BACKDATE_WARNING_AFTER = timedelta(hours=1)
# A time further ahead than this is refused (terminals' clocks drift; an hour covers a clock
# left on the wrong side of a daylight-saving change).
MAX_CLOCK_SKEW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FloorTimes:
    """The window of floor times the ledger accepts (``max_backdate`` None: no lower bound and
    no ``backdated`` warning)."""

    max_backdate: timedelta | None = DEFAULT_MAX_BACKDATE
    warn_after: timedelta = BACKDATE_WARNING_AFTER
    max_skew: timedelta = MAX_CLOCK_SKEW

    @classmethod
    def from_setting(cls, value: str | None) -> FloorTimes:
        """The window a ``FLOORLEDGER_MAX_BACKDATE_HOURS`` value names: a positive number of
        hours, ``off``, or empty/None for the default (24 hours)."""
        raw = (value or "").strip().lower()
        if not raw:
            return cls()
        if raw == "off":
            return cls(max_backdate=None)
        try:
            hours = float(raw)
        except ValueError:
            hours = -1.0
        if not hours > 0 or hours > 24 * 366:
            raise InvalidValueError(
                MAX_BACKDATE_SETTING, value, "must be a number of hours (0 < h <= 8784) or off"
            )
        return cls(max_backdate=timedelta(hours=hours))

    def checked(self, field_name: str, value: datetime, now: datetime) -> timedelta:
        """How far ``value`` lies back from ``now`` (zero when ahead); InvalidValueError naming
        ``field_name`` and the value when it lies outside the window."""
        if value - now > self.max_skew:
            raise InvalidValueError(
                field_name,
                value.isoformat(),
                f"is in the future (more than {span(self.max_skew)} ahead of the ledger's clock)",
            )
        back = now - value
        if self.max_backdate is not None and back > self.max_backdate:
            raise InvalidValueError(
                field_name,
                value.isoformat(),
                f"is more than {span(self.max_backdate)} in the past (the window set by "
                f"{MAX_BACKDATE_SETTING})",
            )
        return max(back, timedelta(0))

    def warns(self, back: timedelta) -> bool:
        """Whether an action timed ``back`` from now is recorded with a backdated warning."""
        return self.max_backdate is not None and back > self.warn_after


def span(d: timedelta) -> str:
    """A duration as people read it: whole minutes below two hours, hours above."""
    minutes = d.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} minutes"
    return f"{minutes / 60:.4g} hours"


__all__ = [
    "BACKDATE_WARNING_AFTER",
    "DEFAULT_MAX_BACKDATE",
    "MAX_BACKDATE_SETTING",
    "MAX_CLOCK_SKEW",
    "FloorTimes",
    "span",
]
