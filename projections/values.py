"""Text forms the views store and show: times in UTC ISO-8601, decimals canonical, JSON values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.state import dec, dstr, iso

__all__ = ["dec", "dstr", "iso", "parse_iso", "plain"]


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def plain(value: Any) -> Any:
    """An ERP field value in JSON form (Decimals as strings)."""
    if isinstance(value, Decimal):
        return dstr(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value
