"""The caption of a drawn export (PNG, SVG, HTML): when it was exported and with which filters.

A figure pasted into a report loses its command line; the caption keeps what a reader needs to know
what they are looking at. The export *date* (UTC day, not the time) is used so that the same data
and options give the same file all day long.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def filters_text(filters: Mapping[str, Any] | None) -> str:
    """``case=op-cortile; platforms=telegram,reddit`` or ``none (everything in the store)``."""
    if not filters:
        return "none (everything in the store)"
    return "; ".join(f"{name}={_value(value)}" for name, value in filters.items())


def caption_text(filters: Mapping[str, Any] | None = None, exported_at: datetime | None = None) -> str:
    when = f"Exported {exported_at.astimezone(UTC):%Y-%m-%d} (UTC)" if exported_at else "Exported"
    return f"{when} by Resurface · filters: {filters_text(filters)}"
