"""How the pages write numbers and times for people."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def num(value: Any) -> str:
    """A quantity as people write it: 48, 2.5 (no trailing zeros, no exponent)."""
    d = dec(value).normalize()
    text = format(d, "f")
    return text if text != "-0" else "0"


def minutes(value: Any) -> str:
    """Minutes to one decimal: 40, 12.5."""
    return num(dec(value).quantize(Decimal("0.1")))
