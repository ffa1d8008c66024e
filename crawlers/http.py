"""The synchronous HTTP client of crawlers that do not run on Scrapy (Discourse, Reddit JSON,
image downloads).

What it adds to httpx, and why:

- **Address guard on every hop.** Redirects are followed by hand so that each ``Location`` is
  checked by :mod:`crawlers.safety` before any connection: a public page redirecting to
  ``http://169.254.169.254/`` is refused. The connection goes to the address that was checked
  (the URL is rewritten to the IP, with the name in the Host header and as TLS SNI), so a DNS
  answer that changes between check and connect (rebinding) cannot redirect us. Connections are
  not kept alive, because httpcore pools by IP and port only and could otherwise reuse a TLS
  session made for another name. Environment proxies are ignored (``trust_env=False``).
- **Byte cap.** The body is streamed and the download aborted as soon as it passes the cap (or
  at once if Content-Length says it will), without reading the rest.
- **Deadline.** ``timeout_seconds`` bounds each read and also the whole exchange, so a server
  dripping one byte at a time cannot hold a crawler forever.
- **Per-host rate limit** with an injectable clock and sleep (tests never sleep).
- **Retries** (tenacity) on 429, 5xx and connection errors, exponential backoff with jitter,
  honouring Retry-After. A Retry-After longer than ``max_retry_wait`` is not slept through:
  :class:`~crawlers.errors.RateLimited` is raised with ``retry_after`` so the runner can
  reschedule the source instead of blocking a worker.

Other 4xx answers are returned, not raised: crawlers map 403/404/410 to community statuses.
"""

from __future__ import annotations

import email.utils
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx
import tenacity

from config.settings import CrawlSettings
from crawlers.errors import BadResponse, RateLimited, ResponseTooLarge, TransientError
from crawlers.safety import AddressGuard, CheckedURL, IPNetwork, Resolver

log = logging.getLogger(__name__)

#: Statuses worth retrying (shared with the Scrapy settings so both clients agree).
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TooManyRedirects(BadResponse):
    """More redirects than ``max_redirects``."""


class RedirectLoop(BadResponse):
    """A redirect chain came back to a URL it had already visited."""


class HttpStatusError(BadResponse):
    """A non-2xx answer where only success makes sense (``get_json``). Carries the response."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers  # case-insensitive
    body: bytes
    elapsed: float  # seconds for the whole get(): redirects, retries and waits included

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        """The body decoded with the declared charset, else UTF-8; undecodable bytes replaced."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; :class:`BadResponse` naming the URL if it is not JSON."""
        ctype = self.content_type
        if not (ctype == "application/json" or ctype.endswith("+json") or ctype == "text/json"):
            raise BadResponse(
                f"expected JSON from {self.url}, got content type {ctype or 'none'!r} (HTTP {self.status})"
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadResponse(f"invalid JSON from {self.url}: {exc}") from exc


class RateLimiter:
    """Spaces requests to one host at least ``1 / rate`` seconds apart.

    A caller reserves its slot under the lock and sleeps outside it, so threads sharing the
    limiter queue up fairly without holding the lock while they wait.
    """

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, rate: float) -> float:
        """Block until ``host`` may be contacted; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + 1.0 / rate
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay


def rate_for(host: str, settings: CrawlSettings) -> float:
    """Requests per second for ``host``: its own entry in ``rate_limits``, else the entry of its
    closest parent domain (``old.reddit.com`` -> ``reddit.com``), else ``default_rate_limit``."""
    labels = host.lower().rstrip(".").split(".")
    for i in range(len(labels)):
        rate = settings.rate_limits.get(".".join(labels[i:]))
        if rate is not None:
            return rate
    return settings.default_rate_limit


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or
    unparseable. A date in the past means 0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class SafeHttpClient:
    """See the module docstring. One instance per source is fine; it is thread-safe.

    ``resolver`` and ``allowed_networks`` go to :class:`~crawlers.safety.AddressGuard`;
    ``clock`` and ``sleep`` drive the rate limiter, the retry waits and the deadline;
    ``transport`` replaces httpx's network transport and ``verify`` the TLS trust (tests only).
    """

    def __init__(
        self,
        settings: CrawlSettings,
        *,
        resolver: Resolver | None = None,
        allowed_networks: Iterable[str | IPNetwork] = (),
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rate_limiter: RateLimiter | None = None,
        max_retry_wait: float = 60.0,
        backoff_initial: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.settings = settings
        self.guard = AddressGuard.build(
            allow_private=settings.allow_private_addresses, resolver=resolver, allowed_networks=allowed_networks
        )
        self._clock = clock
        self._sleep = sleep
        self._limiter = rate_limiter or RateLimiter(clock, sleep)
        self.max_retry_wait = max_retry_wait
        self.backoff_initial = backoff_initial
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
            verify=verify,
            headers={"User-Agent": settings.user_agent},
        )

    def __enter__(self) -> SafeHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- public API --------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        accept: str | None = None,
    ) -> Response:
        """GET ``url`` following redirects; see the module docstring for what is raised.

        Raises :class:`~crawlers.errors.BlockedAddress`, :class:`~crawlers.errors.ResponseTooLarge`,
        :class:`TooManyRedirects`/:class:`RedirectLoop` (both :class:`BadResponse`), and
        :class:`~crawlers.errors.TransientError` (incl. ``RateLimited`` and
        :class:`~crawlers.safety.HostUnresolvable`) once retries are exhausted.
        """
        started = self._clock()
        cap = max_bytes if max_bytes is not None else self.settings.max_response_bytes
        request_headers = dict(headers or {})
        if accept is not None:
            request_headers["Accept"] = accept
        current = url
        visited: list[str] = []
        for _hop in range(self.settings.max_redirects + 1):
            status, response_headers, body = self._fetch_with_retries(current, request_headers, cap)
            location = response_headers.get("location")
            if status in REDIRECT_STATUSES and location:
                visited.append(current)
                target = urljoin(current, location.strip())
                if target in visited:
                    chain = " -> ".join([*visited, target])
                    raise RedirectLoop(f"redirect loop fetching {url}: {chain}")
                log.debug("redirect %s -> %s (%s)", current, target, status)
                current = target
                continue
            return Response(
                url=current, status=status, headers=response_headers, body=body, elapsed=self._clock() - started
            )
        raise TooManyRedirects(f"more than {self.settings.max_redirects} redirects fetching {url} (last: {current})")

    def get_json(self, url: str, *, headers: Mapping[str, str] | None = None, max_bytes: int | None = None) -> Any:
        """GET and parse JSON. Non-2xx answers raise :class:`HttpStatusError` (with the response);
        use ``get(url, accept="application/json").json()`` to read the JSON of an error answer."""
        response = self.get(url, headers=headers, max_bytes=max_bytes, accept="application/json")
        if not response.ok:
            raise HttpStatusError(f"HTTP {response.status} from {response.url}", response)
        return response.json()

    # -- internals ---------------------------------------------------------------------------

    def _fetch_with_retries(self, url: str, headers: dict[str, str], cap: int) -> tuple[int, httpx.Headers, bytes]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._should_retry),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._fetch_once, url, headers, cap)

    def _should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after <= self.max_retry_wait
        return isinstance(exc, TransientError)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        backoff = tenacity.wait_exponential_jitter(
            initial=self.backoff_initial, max=self.max_retry_wait, jitter=self.backoff_initial
        )
        return float(backoff(state))

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("retrying in %.1fs after attempt %d: %s", wait, state.attempt_number, exc)

    def _fetch_once(self, url: str, headers: dict[str, str], cap: int) -> tuple[int, httpx.Headers, bytes]:
        checked = self.guard.check(url)
        self._limiter.wait(checked.host, rate_for(checked.host, self.settings))
        request = self._build_request(checked, headers)
        deadline = self._clock() + self.settings.timeout_seconds
        try:
            with self._client.stream(
                request.method, request.url, headers=request.headers, extensions=request.extensions
            ) as response:
                status = response.status_code
                if status in RETRY_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    if status == 429:
                        raise RateLimited(f"HTTP 429 (rate limited) from {url}", retry_after)
                    if retry_after is not None:
                        raise RateLimited(f"HTTP {status} from {url}", retry_after)
                    raise TransientError(f"HTTP {status} from {url}")
                if status in REDIRECT_STATUSES:
                    return status, response.headers, b""
                body = self._read_body(response, url, cap, deadline)
                return status, response.headers, body
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out fetching {url}: {type(exc).__name__}") from exc
        except httpx.DecodingError as exc:
            raise BadResponse(f"undecodable body from {url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"connection failed fetching {url}: {type(exc).__name__}: {exc}") from exc

    def _build_request(self, checked: CheckedURL, headers: Mapping[str, str]) -> httpx.Request:
        extensions: dict[str, Any] = {}
        if checked.scheme == "https" and not checked.is_ip_literal:
            extensions["sni_hostname"] = checked.host
        merged = {k: v for k, v in headers.items() if k.lower() != "host"}
        merged["Host"] = checked.host_header
        return self._client.build_request("GET", checked.connect_url(), headers=merged, extensions=extensions)

    def _read_body(self, response: httpx.Response, url: str, cap: int, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"response from {url} declares {int(declared)} bytes, over the cap of {cap}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(f"response from {url} exceeded the cap of {cap} bytes")
            chunks.append(chunk)
            if self._clock() > deadline:
                raise TransientError(
                    f"timed out fetching {url}: body not complete after {self.settings.timeout_seconds:g}s"
                )
        return b"".join(chunks)
