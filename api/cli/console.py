"""The consoles every command prints to: results on standard output, problems on standard error."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def json_default(value: Any) -> Any:
    """JSON for the values the ledger returns: decimals as strings, times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
