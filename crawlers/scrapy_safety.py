"""The address guard and crawl policy for Scrapy-based crawlers (Telegram web, phpBB, XenForo).

Run spiders with the settings of :func:`scrapy_settings`, at process level (``CrawlerProcess`` /
``AsyncCrawlerRunner`` settings, not only ``custom_settings``: the DNS resolver is built from the
process settings)::

    process = CrawlerProcess(scrapy_settings(settings.crawl))

Two layers, because Scrapy resolves host names itself:

1. :class:`AddressGuardMiddleware` checks every request with :mod:`crawlers.safety` before it is
   downloaded. Redirects and meta refreshes produce new requests that pass through the
   downloader middlewares again, so every hop is checked. A refused request raises
   ``IgnoreRequest`` (logged with its reason and counted in the ``resurface/blocked_address``
   stat). A host that does not resolve raises Scrapy's DNS error, which the retry middleware
   retries like any DNS failure.
2. :class:`GuardedResolver` replaces Scrapy's DNS resolver and refuses non-public answers at
   connection time, which closes the DNS-rebinding gap between the middleware's lookup and
   Twisted's. The middleware's lookup is a blocking ``getaddrinfo`` in the reactor thread; for
   a handful of platform hosts at about one request per second that is acceptable, and it keeps
   the check a plain function call that can be tested without a reactor.

Hostile servers get the same treatment as in :mod:`crawlers.http`, with the same typed errors
(from :mod:`crawlers.errors`) reaching the request's errback:

- **Deadline.** Scrapy's ``DOWNLOAD_TIMEOUT`` is already a wall deadline on one try (headers and
  body). :class:`AddressGuardMiddleware` adds the request's budget across retries and redirects
  (``RESURFACE_REQUEST_DEADLINE``, default ``DOWNLOAD_TIMEOUT × (RETRY_TIMES + 1)``): each try's
  ``download_timeout`` is what is left of it, and a timeout that ends the retries becomes
  :class:`~crawlers.errors.DeadlineExceeded` naming the URL.
- **Bad redirects.** :class:`BadLocationMiddleware` sees each 3xx before Scrapy's
  RedirectMiddleware and raises :class:`~crawlers.errors.BadRedirect` for a Location that
  :func:`crawlers.http.resolve_location` rejects (instead of a raw ``ValueError`` from
  ``urljoin``, or a lenient join that follows ``http:host``).
- **Byte cap.** A download cancelled for passing ``DOWNLOAD_MAXSIZE`` becomes
  :class:`~crawlers.errors.ResponseTooLarge` naming URL and cap (a bad page), not a generic
  cancellation that a spider would report as "unreachable".

``ROBOTSTXT_OBEY`` is off, deliberately: Resurface fetches a short, human-curated list of public
pages at about one request per second with an identifying User-Agent; it is not an indexing
crawler. The communities it watches are the ones an investigator needs to see, and a
``Disallow`` in their robots.txt would let an abuse forum opt out of being monitored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.resolver import CachingThreadedResolver

from config.settings import CrawlSettings
from crawlers.errors import BadRedirect, BlockedAddress, DeadlineExceeded, ResponseTooLarge
from crawlers.http import REDIRECT_STATUSES, RETRY_STATUSES, rate_for, resolve_location
from crawlers.safety import AddressGuard, HostUnresolvable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector
    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

MIDDLEWARE_PATH = "crawlers.scrapy_safety.AddressGuardMiddleware"
RESOLVER_PATH = "crawlers.scrapy_safety.GuardedResolver"
#: Before OffsiteMiddleware (50) and RobotsTxtMiddleware (100): nothing else sees a refused request.
#: Its process_exception runs after RetryMiddleware's (550), so only a final failure is translated.
MIDDLEWARE_PRIORITY = 25
BAD_LOCATION_PATH = "crawlers.scrapy_safety.BadLocationMiddleware"
#: Above RedirectMiddleware (600): responses reach it first.
BAD_LOCATION_PRIORITY = 650

_DEADLINE_KEY = "resurface_deadline"
_BYTES_KEY = "resurface_bytes_received"


class ScrapyResponseTooLarge(ResponseTooLarge, DownloadCancelledError):
    """:class:`~crawlers.errors.ResponseTooLarge` on the Scrapy path; also the cancellation Scrapy
    itself would have raised, so an errback written for Scrapy's own error still recognises it."""


class ScrapyBadRedirect(BadRedirect, ValueError):
    """:class:`~crawlers.errors.BadRedirect` on the Scrapy path; also the ``ValueError`` that
    ``urljoin`` raised here before, for errbacks written against that."""


def _resolver_setting() -> str:
    """Recent Scrapy renamed DNS_RESOLVER to TWISTED_DNS_RESOLVER (the old name warns)."""
    from scrapy.settings import default_settings

    return "TWISTED_DNS_RESOLVER" if hasattr(default_settings, "TWISTED_DNS_RESOLVER") else "DNS_RESOLVER"


def _no_jitter() -> dict[str, Any]:
    """Recent Scrapy replaced RANDOMIZE_DOWNLOAD_DELAY (deprecated) with DOWNLOAD_DELAY_JITTER."""
    from scrapy.settings import default_settings

    if hasattr(default_settings, "DOWNLOAD_DELAY_JITTER"):
        return {"DOWNLOAD_DELAY_JITTER": 0}
    return {"RANDOMIZE_DOWNLOAD_DELAY": False}


def _dns_error(message: str) -> Exception:
    """The exception Scrapy's retry middleware treats as a DNS failure in this Scrapy version."""
    try:
        from scrapy.exceptions import CannotResolveHostError  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # older Scrapy
        from twisted.internet.error import DNSLookupError

        return DNSLookupError(message)
    return CannotResolveHostError(message)  # type: ignore[no-any-return,unused-ignore]


def guard_from_settings(settings: BaseSettings) -> AddressGuard:
    """The guard configured by ``RESURFACE_ALLOW_PRIVATE_ADDRESSES`` and
    ``RESURFACE_ALLOWED_NETWORKS`` (CIDRs always allowed; tests use it to allow one loopback
    address and prove that another is refused)."""
    return AddressGuard.build(
        allow_private=settings.getbool("RESURFACE_ALLOW_PRIVATE_ADDRESSES", False),
        allowed_networks=settings.getlist("RESURFACE_ALLOWED_NETWORKS", []),
    )


class AddressGuardMiddleware:
    """Downloader middleware: refuse requests to non-public addresses and non-HTTP schemes; hold
    each request (its retries and redirects included) to one deadline; give timeouts and the byte
    cap typed errors."""

    def __init__(
        self,
        guard: AddressGuard,
        stats: StatsCollector | None = None,
        *,
        timeout: float = 180.0,
        budget: float | None = None,
        max_bytes: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.stats = stats
        self.timeout = timeout
        self.budget = budget if budget is not None else timeout
        self.max_bytes = max_bytes
        self._clock = clock

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        settings = crawler.settings
        timeout = settings.getfloat("DOWNLOAD_TIMEOUT", 180.0)
        budget = settings.getfloat("RESURFACE_REQUEST_DEADLINE", 0.0) or timeout * (
            settings.getint("RETRY_TIMES", 0) + 1
        )
        mw = cls(guard_from_settings(settings), crawler.stats, timeout=timeout, budget=budget,
                 max_bytes=settings.getint("DOWNLOAD_MAXSIZE", 0))
        crawler.signals.connect(mw._count_bytes, signal=signals.bytes_received)
        return mw

    def _count_bytes(self, data: bytes, request: Request, spider: Spider | None = None) -> None:
        request.meta[_BYTES_KEY] = request.meta.get(_BYTES_KEY, 0) + len(data)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        self._check_address(request)
        now = self._clock()
        deadline = float(request.meta.setdefault(_DEADLINE_KEY, now + self.budget))
        left = deadline - now
        if left <= 0:
            raise DeadlineExceeded(
                f"timed out fetching {request.url}: the request's deadline of {self.budget:g}s has passed",
                request.url, self.budget,
            )
        request.meta["download_timeout"] = min(self.timeout, left)
        request.meta.pop(_BYTES_KEY, None)

    def process_exception(self, request: Request, exception: Exception, spider: Spider | None = None) -> None:
        """Reached once RetryMiddleware has given up: translate into the crawler's typed errors."""
        from scrapy.exceptions import DownloadTimeoutError

        if isinstance(exception, DownloadTimeoutError):
            seconds = float(request.meta.get("download_timeout") or self.timeout)
            raise DeadlineExceeded(
                f"timed out fetching {request.url}: no complete answer within the deadline of {seconds:g}s; "
                "connection closed", request.url, seconds,
            ) from exception
        received = int(request.meta.get(_BYTES_KEY, 0))
        over = "max size" in str(exception) or (self.max_bytes and received > self.max_bytes)
        if isinstance(exception, DownloadCancelledError) and over:
            cap = int(request.meta.get("download_maxsize") or self.max_bytes)
            raise ScrapyResponseTooLarge(
                f"response from {request.url} is larger than the {cap}-byte cap", request.url, cap
            ) from exception

    def _check_address(self, request: Request) -> None:
        try:
            self.guard.check(request.url)
        except BlockedAddress as exc:
            chain = request.meta.get("redirect_urls") or []
            via = f" (redirected from {' -> '.join(chain)})" if chain else ""
            logger.warning("blocked request %s%s: %s", request.url, via, exc)
            if self.stats is not None:
                self.stats.inc_value("resurface/blocked_address")
            raise IgnoreRequest(f"{exc}{via}") from exc
        except HostUnresolvable as exc:
            raise _dns_error(str(exc)) from exc


class BadLocationMiddleware:
    """Downloader middleware: a redirect whose Location cannot be followed raises
    :class:`~crawlers.errors.BadRedirect` naming the page and the Location (one bad page)."""

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        if response.status in REDIRECT_STATUSES and b"Location" in response.headers:
            raw = response.headers.get(b"Location") or b""
            location = raw.decode("latin-1")
            if location.strip():
                try:
                    resolve_location(request.url, location)
                except BadRedirect as exc:
                    raise ScrapyBadRedirect(str(exc), exc.url, exc.location) from exc
        return response


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's default resolver, refusing answers the guard does not allow. It checks the very
    address Twisted is about to connect to, so a DNS answer that changed since the middleware's
    check (rebinding) is caught here."""

    guard: AddressGuard

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.guard = guard_from_settings(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        return super().getHostByName(name, timeout).addCallback(self._check, name)

    def _check(self, address: str, name: str) -> str:
        import ipaddress

        if not self.guard.address_allowed(ipaddress.ip_address(address)):
            logger.warning("blocked connection to %s: it resolves to non-public %s", name, address)
            raise BlockedAddress(f"refused host {name!r}: it resolves to {address}, which is not public")
        return address


def scrapy_settings(crawl: CrawlSettings) -> dict[str, Any]:
    """Scrapy settings that mirror our crawl policy (see the module docstring for robots.txt).

    The delay is per download slot (host): ``DOWNLOAD_DELAY`` from ``default_rate_limit`` and
    ``DOWNLOAD_SLOTS`` for the hosts in ``rate_limits``, one request at a time per host, without
    Scrapy's random jitter (which would go below the delay by up to half of it).
    """
    slots = {host: {"concurrency": 1, "delay": 1.0 / rate_for(host, crawl)} for host in crawl.rate_limits}
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Size and time.
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": crawl.timeout_seconds,
        # Retries (same statuses as crawlers.http).
        "RETRY_ENABLED": True,
        "RETRY_TIMES": crawl.max_retries,
        "RETRY_HTTP_CODES": sorted(RETRY_STATUSES),
        # Rate.
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 1.0 / crawl.default_rate_limit,
        **_no_jitter(),
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_SLOTS": slots,
        # Redirects (each hop is checked by the middleware).
        "REDIRECT_ENABLED": True,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        # Safety: guard on, nothing cached to disk, no proxies from the environment, no non-HTTP handlers.
        "RESURFACE_ALLOW_PRIVATE_ADDRESSES": crawl.allow_private_addresses,
        "DOWNLOADER_MIDDLEWARES": {MIDDLEWARE_PATH: MIDDLEWARE_PRIORITY, BAD_LOCATION_PATH: BAD_LOCATION_PRIORITY},
        "RESURFACE_REQUEST_DEADLINE": crawl.timeout_seconds * (crawl.max_retries + 1),
        _resolver_setting(): RESOLVER_PATH,
        "HTTPCACHE_ENABLED": False,
        "HTTPPROXY_ENABLED": False,
        "COOKIES_ENABLED": False,
        "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "s3": None, "data": None},
    }
