"""Crawl error tree. The runner maps these to crawl outcomes; the retry helper retries only
:class:`TransientError`. Messages name the URL or target so that a log line is actionable.

Two families matter most to a crawler deciding what a failure says about a community:

- :class:`BadResponse` -- **the server answered, badly**: a page that is not what the platform
  sends, a body over the byte cap (:class:`ResponseTooLarge`), a redirect whose ``Location`` cannot
  be followed (:class:`BadRedirect`), a redirect loop. The host is up; this one page/link is bad.
  Catch it per page and go on with the next one.
- :class:`TransientError` -- **we could not get an answer**: connection refused or reset, DNS
  failure, 5xx/429 after retries, and :class:`DeadlineExceeded` (no complete answer within the
  deadline, e.g. a server dripping bytes). The runner records these as "unreachable"
  observations, which only become a shutdown after several in a row.

:class:`BlockedAddress` is neither: our own policy refused the URL before any connection.
"""

from __future__ import annotations


class CrawlError(Exception):
    """Base of every crawl failure."""


class InvalidTarget(CrawlError):
    """The watched URL or handle cannot be crawled (malformed, wrong platform)."""


class BlockedAddress(CrawlError):
    """The address guard refused a URL: non-HTTP scheme or a non-public address."""


class BadResponse(CrawlError):
    """The server answered, badly: a response that cannot be parsed as what the platform should
    send (invalid JSON, missing elements, an error page served with 200, wrong content type), or
    one of the subclasses below. A per-page error: the host itself was reached."""


class ResponseTooLarge(BadResponse):
    """A response body exceeded the byte cap (a bad page, not an unreachable host)."""

    def __init__(self, message: str, url: str | None = None, cap: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.cap = cap


class BadRedirect(BadResponse):
    """A redirect whose ``Location`` cannot be followed: unparseable (``http://[::1``, control
    characters, a bad port), not http(s) (``data:``, ``file:``, ``javascript:``), or without a
    host (``http:host``). One bad link, not a failed crawl."""

    def __init__(self, message: str, url: str, location: str) -> None:
        super().__init__(message)
        self.url = url
        self.location = location


class TransientError(CrawlError):
    """Worth retrying: connection errors, 5xx, 429."""


class DeadlineExceeded(TransientError):
    """No complete answer (headers and body) within the deadline: a silent or dripping server,
    or a request whose retries used up its whole budget. ``deadline_seconds`` is the limit hit."""

    def __init__(self, message: str, url: str, deadline_seconds: float) -> None:
        super().__init__(message)
        self.url = url
        self.deadline_seconds = deadline_seconds


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CommunityUnavailable(CrawlError):
    """The community exists no more or is not public. ``status`` is a CommunityStatus value."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class RescheduleSource(CrawlError):
    """Stop crawling this source now and try again after ``delay_seconds`` (e.g. a long FloodWait)."""

    def __init__(self, message: str, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds
