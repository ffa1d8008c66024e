"""Small pure helpers shared by the forum crawlers (Discourse, phpBB, XenForo, recognition)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from crawlers.records import CommunityStatus

#: Script names that are a forum's entry page rather than part of its base URL.
_ENTRY_PAGES = {"index.php", "index.html", "forum.php", "latest", "categories"}


def forum_base(url: str | None) -> str:
    """The forum's stable base URL (its native id): scheme, lower-case host, path without the
    entry page, no query, no trailing slash. ``""`` for no URL."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].lower() in _ENTRY_PAGES:
        segments = segments[:-1]
    path = "/" + "/".join(segments) if segments else ""
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp (``Z``, ``+01:00`` or ``+0100``) or a Unix time, as aware UTC; None if
    absent or unparseable. A naive time is taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def status_for_http(status: int, url: str = "") -> str | None:
    """Community status implied by the HTTP status of a forum's main page; None when readable."""
    if status in (404, 410):
        return CommunityStatus.DELETED
    if status in (401, 403):
        return CommunityStatus.PRIVATE
    if status == 451:
        return CommunityStatus.REMOVED
    return None
