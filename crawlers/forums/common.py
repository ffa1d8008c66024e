"""Small pure helpers shared by the forum crawlers (Discourse, phpBB, XenForo, recognition)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from model.records import STATUS_DEFINITIVE, STATUS_EVIDENCE, CommunityStatus

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


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    """A community status read from a forum's answer, how sure it is, and what was seen."""

    status: str
    definitive: bool
    evidence: str

    def extra(self, http_status: int) -> dict[str, Any]:
        """The snapshot's ``extra`` (see :data:`model.records.STATUS_DEFINITIVE`)."""
        return {"http_status": http_status, STATUS_DEFINITIVE: self.definitive, STATUS_EVIDENCE: self.evidence}


def status_from_answer(status: int, *, login_page: bool = False, forum_says: str | None = None,
                       redirected_to_login: bool = False) -> StatusVerdict | None:
    """Community status implied by how a forum's main page (or ``/about.json``) answered; None when
    it is readable. Only answers no proxy, CDN or rate limiter would give are definitive:

    - the forum's own login page (served with 200, 401 or 403) or a redirect to ``/login``: private;
    - 410 Gone: deleted; 451 Unavailable For Legal Reasons: removed;
    - a bare 401/403 (no login form): private, not definitive (a WAF or a blocked IP answers the same);
    - 404: deleted, not definitive (a moved path, a proxy or a DNS takeover answer the same); when the
      forum's own software says so (``forum_says``, e.g. a phpBB "board disabled" message) the
      evidence names it, still not definitive on its own.

    429 and 5xx never reach here: the HTTP client retries them and raises
    :class:`crawlers.errors.TransientError`, so rate limiting is never mistaken for a shutdown.
    """
    if redirected_to_login:
        return StatusVerdict(CommunityStatus.PRIVATE, True, f"HTTP {status} after a redirect to the login page")
    if login_page:
        return StatusVerdict(CommunityStatus.PRIVATE, True, f"HTTP {status} with the forum's login form")
    said = f" ({forum_says})" if forum_says else ""
    if status == 410:
        return StatusVerdict(CommunityStatus.DELETED, True, f"HTTP 410 Gone{said}")
    if status == 451:
        return StatusVerdict(CommunityStatus.REMOVED, True, f"HTTP 451 Unavailable For Legal Reasons{said}")
    if status == 404:
        return StatusVerdict(CommunityStatus.DELETED, False, f"HTTP 404{said or ' without forum markup'}")
    if status in (401, 403):
        return StatusVerdict(CommunityStatus.PRIVATE, False, f"bare HTTP {status} without a login form{said}")
    return None
