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
    absent, unparseable or out of range. A naive time is taken as UTC.

    Out of range means beyond what :class:`datetime` holds: a Unix time of ``10**20`` (or NaN, or
    infinity), or ``9999-12-31T23:59:59-01:00``, whose UTC form is in year 10000. Such values come
    from hostile or broken forums; raising here would abort the crawl before the topic's checkpoint,
    so every later crawl would fail at the same post."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            return datetime.fromtimestamp(float(value), UTC)
        if not isinstance(value, str):
            return None
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):  # OSError: the platform's time functions refused it
        return None


def status_for_http(status: int, url: str = "") -> str | None:
    """Community status implied by the HTTP status of a forum's main page; None when readable."""
    if status in (404, 410):
        return CommunityStatus.DELETED
    if status in (401, 403):
        return CommunityStatus.PRIVATE
    if status == 451:
        return CommunityStatus.REMOVED
    return None
