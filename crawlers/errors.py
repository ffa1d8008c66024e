"""Crawl error tree. The runner maps these to crawl outcomes; the retry helper retries only
:class:`TransientError`. Messages name the URL or target so that a log line is actionable."""

from __future__ import annotations


class CrawlError(Exception):
    """Base of every crawl failure."""


class InvalidTarget(CrawlError):
    """The watched URL or handle cannot be crawled (malformed, wrong platform)."""


class BlockedAddress(CrawlError):
    """The address guard refused a URL: non-HTTP scheme or a non-public address."""


class ResponseTooLarge(CrawlError):
    """A response body exceeded the configured byte cap."""


class BadResponse(CrawlError):
    """A response that cannot be parsed as what the platform should send (invalid JSON,
    missing elements, an error page served with 200, wrong content type)."""


class TransientError(CrawlError):
    """Worth retrying: connection errors, 5xx, 429."""


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
