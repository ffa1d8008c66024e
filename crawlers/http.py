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
- **Deadline, on the wall clock.** httpx timeouts bound each read, so a server dripping its
  headers or body one byte at a time never trips them. Each try therefore runs under a watchdog
  that shuts the connection down when ``timeout_seconds`` have passed, headers and body included;
  and the whole ``get()`` (redirects, retries, the waits between them) has one budget,
  ``deadline_seconds`` (default ``timeout_seconds × (max_retries + 1)``): a try gets what is left
  of it, and a retry whose wait would end past it is not made. Running out raises
  :class:`~crawlers.errors.DeadlineExceeded` naming the URL.
- **Bad redirects.** httpx parses a redirect's ``Location`` itself and raises its own errors on
  ``data:`` or ``http:host``; the client takes the header away from httpx and resolves it strictly
  (RFC 3986): anything that is not an absolute or relative http(s) URL with a host is a
  :class:`~crawlers.errors.BadRedirect` naming the page and the Location (one bad link, never a
  crash of the whole crawl).
- **Per-host rate limit** with an injectable clock and sleep (tests never sleep).
- **Retries** (tenacity) on 429, 5xx and connection errors, exponential backoff with jitter,
  honouring Retry-After. A Retry-After longer than ``max_retry_wait`` (or than what is left of the
  deadline) is not slept through: :class:`~crawlers.errors.RateLimited` is raised with
  ``retry_after`` so the runner can reschedule the source instead of blocking a worker.

Other 4xx answers are returned, not raised: crawlers map 403/404/410 to community statuses.
Errors are typed (see :mod:`crawlers.errors`): :class:`~crawlers.errors.BadResponse` and its
subclasses mean the server answered badly (a bad page), :class:`~crawlers.errors.TransientError`
and its subclasses that no usable answer came (the host is unreachable for now).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from config.settings import CrawlSettings
from crawlers.errors import (
    BadRedirect,
    BadResponse,
    CrawlError,
    DeadlineExceeded,
    RateLimited,
    ResponseTooLarge,
    TransientError,
)
from crawlers.safety import ALLOWED_SCHEMES, AddressGuard, CheckedURL, IPNetwork, Resolver

log = logging.getLogger(__name__)

#: Statuses worth retrying (shared with the Scrapy settings so both clients agree).
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

Clock = Callable[[], float]
Sleep = Callable[[float], None]
WallClock = Callable[[], datetime]

#: Where the response hook parks a redirect's Location, out of httpx's reach (see the docstring).
_LOCATION_KEY = "resurface_location"
#: ASCII control characters and space: never valid in a URL, whatever a lenient parser accepts.
_CONTROL = frozenset(chr(c) for c in range(0x21)) | {"\x7f"}


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


@runtime_checkable
class HostPacer(Protocol):
    """What a client asks before each request: :class:`RateLimiter` in one process, or a limiter shared by
    every worker (``service.ratelimit``), plugged in with :func:`use_shared_pacer`."""

    def wait(self, host: str, rate: float) -> float: ...

    def slow_down(self, host: str, seconds: float) -> None:
        """A 429 or Retry-After from ``host``: no request to it from anyone for ``seconds``."""


_SHARED_PACER: HostPacer | None = None


def use_shared_pacer(pacer: HostPacer | None) -> None:
    """Clients created from now on without their own ``rate_limiter`` pace through ``pacer`` (None: per client)."""
    global _SHARED_PACER
    _SHARED_PACER = pacer


def rate_for(host: str, settings: CrawlSettings) -> float:
    """Requests per second for ``host``: its own entry in ``rate_limits``, else the entry of its
    closest parent domain (``old.reddit.com`` -> ``reddit.com``), else ``default_rate_limit``."""
    labels = host.lower().rstrip(".").split(".")
    for i in range(len(labels)):
        rate = settings.rate_limits.get(".".join(labels[i:]))
        if rate is not None:
            return rate
    return settings.default_rate_limit


def resolve_location(url: str, location: str) -> str:
    """The absolute URL a redirect from ``url`` to ``location`` leads to, resolved strictly
    (RFC 3986 §5.2: a reference with a scheme is taken as it is, so ``http:host`` has no host).

    Raises :class:`~crawlers.errors.BadRedirect` naming both when the Location does not parse,
    holds control characters, is not http(s) (``data:``, ``file:``, ``javascript:``) or has no
    host. Whether the host may be contacted is the address guard's decision, not this one's.
    """

    def bad(reason: str) -> BadRedirect:
        return BadRedirect(f"bad redirect from {url}: Location {location!r} {reason}", url, location)

    value = location.strip(" \t\r\n")
    if any(c in _CONTROL for c in value):
        raise bad("contains whitespace or control characters")
    try:
        ref = urlsplit(value)
        if ref.scheme and ref.scheme.lower() not in ALLOWED_SCHEMES:
            raise bad(f"is not an http(s) URL (scheme {ref.scheme!r})")
        if ref.scheme and not ref.hostname:
            raise bad("has a scheme but no host")
        target = value if ref.scheme else urljoin(url, value)
        parts = urlsplit(target)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise bad(f"is not an http(s) URL (scheme {parts.scheme!r})")
        if not parts.hostname:
            raise bad("has no host")
        _ = parts.port  # raises ValueError on a bad or out-of-range port
        httpx.URL(target)  # what the connection will need to parse
    except (ValueError, httpx.InvalidURL) as exc:  # incl. idna.IDNAError (a UnicodeError)
        raise bad(f"does not parse ({exc})") from exc
    return target


class _Watchdog:
    """Shuts down the connection of one try when ``seconds`` of real time have passed.

    httpcore reports each new connection through the ``trace`` request extension; the watchdog
    keeps the socket and, when its timer fires, calls ``shutdown`` on it, which wakes the thread
    blocked in ``recv`` at once (the socket stays open, so its owner closes it normally). Whether
    it fired is then the caller's to check: a close-delimited body ends "cleanly" on a shutdown.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sock = sock
            late = self.fired and not self._done
        if late:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket method, also on an SSLSocket (whose own shutdown drops its TLS state under
    # the reading thread's feet). OSError: already closed or never connected.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


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
    ``clock`` and ``sleep`` drive the rate limiter, the retry waits and the request budget
    (``deadline_seconds``, default ``timeout_seconds × (max_retries + 1)``); each try's own
    deadline (``timeout_seconds``) is enforced in real time by a watchdog; ``wall_clock`` is "now"
    for Retry-After dates; ``transport`` replaces httpx's network transport and ``verify`` the TLS
    trust (tests only).
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
        deadline_seconds: float | None = None,
        wall_clock: WallClock | None = None,
    ) -> None:
        self.settings = settings
        self.guard = AddressGuard.build(
            allow_private=settings.allow_private_addresses, resolver=resolver, allowed_networks=allowed_networks
        )
        self._clock = clock
        self._sleep = sleep
        self._limiter: RateLimiter | HostPacer = rate_limiter or _SHARED_PACER or RateLimiter(clock, sleep)
        self.max_retry_wait = max_retry_wait
        self.backoff_initial = backoff_initial
        self.deadline_seconds = (
            deadline_seconds
            if deadline_seconds is not None
            else settings.timeout_seconds * (settings.max_retries + 1)
        )
        self._wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
            verify=verify,
            headers={"User-Agent": settings.user_agent},
            event_hooks={"response": [_park_location]},
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

        Raises :class:`~crawlers.errors.BlockedAddress`; the bad-page errors
        :class:`~crawlers.errors.ResponseTooLarge`, :class:`~crawlers.errors.BadRedirect`,
        :class:`TooManyRedirects` and :class:`RedirectLoop` (all :class:`BadResponse`); and
        :class:`~crawlers.errors.TransientError` (incl. ``RateLimited``,
        :class:`~crawlers.errors.DeadlineExceeded` and :class:`~crawlers.safety.HostUnresolvable`)
        once retries or the deadline are exhausted.
        """
        started = self._clock()
        deadline = started + self.deadline_seconds
        cap = max_bytes if max_bytes is not None else self.settings.max_response_bytes
        request_headers = dict(headers or {})
        if accept is not None:
            request_headers["Accept"] = accept
        current = url
        visited: list[str] = []
        for _hop in range(self.settings.max_redirects + 1):
            status, response_headers, body = self._fetch_with_retries(current, request_headers, cap, deadline)
            location = response_headers.get("location")
            if status in REDIRECT_STATUSES and location and location.strip():
                visited.append(current)
                target = resolve_location(current, location)
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

    def _fetch_with_retries(
        self, url: str, headers: dict[str, str], cap: int, deadline: float
    ) -> tuple[int, httpx.Headers, bytes]:
        def out_of_budget(state: tenacity.RetryCallState) -> bool:
            if self._clock() + state.upcoming_sleep < deadline:
                return False
            log.info("not retrying %s: the wait of %.1fs would end past its deadline", url, state.upcoming_sleep)
            return True

        attempts = tenacity.stop_after_attempt(self.settings.max_retries + 1)
        retrying = tenacity.Retrying(
            stop=lambda state: attempts(state) or out_of_budget(state),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._should_retry),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._fetch_once, url, headers, cap, deadline)

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

    def _fetch_once(
        self, url: str, headers: dict[str, str], cap: int, deadline: float
    ) -> tuple[int, httpx.Headers, bytes]:
        checked = self.guard.check(url)
        self._limiter.wait(checked.host, rate_for(checked.host, self.settings))
        left = deadline - self._clock()
        if left <= 0:
            raise DeadlineExceeded(
                f"timed out fetching {url}: the request's deadline of {self.deadline_seconds:g}s has passed",
                url,
                self.deadline_seconds,
            )
        seconds = min(self.settings.timeout_seconds, left)
        status: int | None = None
        with _Watchdog(seconds) as watchdog:
            try:
                request = self._build_request(checked, headers, seconds, watchdog)
                with self._client.stream(
                    request.method, request.url, headers=request.headers, extensions=request.extensions,
                    timeout=httpx.Timeout(seconds),
                ) as response:
                    status = response.status_code
                    result = self._answer(response, url, cap, watchdog)
            except RateLimited as exc:
                if exc.retry_after and isinstance(self._limiter, HostPacer):
                    self._limiter.slow_down(checked.host, exc.retry_after)  # every worker waits, not only us
                raise
            except (httpx.TransportError, ResponseTooLarge, BadResponse) as exc:
                if watchdog.fired:
                    raise self._deadline_error(url, seconds, status) from exc
                if isinstance(exc, httpx.TransportError):
                    raise self._transport_error(url, exc, seconds) from exc
                raise
            if watchdog.fired:  # a shutdown ends a close-delimited body "cleanly": it is not complete
                raise self._deadline_error(url, seconds, status)
        return result

    @staticmethod
    def _deadline_error(url: str, seconds: float, status: int | None) -> DeadlineExceeded:
        part = "headers" if status is None else "body"
        return DeadlineExceeded(
            f"timed out fetching {url}: no complete answer within the deadline of {seconds:g}s "
            f"({part} still arriving); connection closed",
            url,
            seconds,
        )

    @staticmethod
    def _transport_error(url: str, exc: httpx.TransportError, seconds: float) -> CrawlError:
        if isinstance(exc, httpx.ConnectTimeout):
            return TransientError(f"timed out connecting to fetch {url} ({seconds:g}s)")
        if isinstance(exc, httpx.TimeoutException):
            return DeadlineExceeded(f"timed out fetching {url}: {type(exc).__name__} after {seconds:g}s", url, seconds)
        if isinstance(exc, httpx.DecodingError):
            return BadResponse(f"undecodable body from {url}: {exc}")
        return TransientError(f"connection failed fetching {url}: {type(exc).__name__}: {exc}")

    def _answer(
        self, response: httpx.Response, url: str, cap: int, watchdog: _Watchdog
    ) -> tuple[int, httpx.Headers, bytes]:
        status = response.status_code
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
            if status == 429:
                raise RateLimited(f"HTTP 429 (rate limited) from {url}", retry_after)
            if retry_after is not None:
                raise RateLimited(f"HTTP {status} from {url}", retry_after)
            raise TransientError(f"HTTP {status} from {url}")
        if status in REDIRECT_STATUSES:
            headers = response.headers
            parked = response.extensions.get(_LOCATION_KEY)
            if isinstance(parked, str):
                headers = headers.copy()
                headers["location"] = parked
            return status, headers, b""
        return status, response.headers, self._read_body(response, url, cap, watchdog)

    def _build_request(
        self, checked: CheckedURL, headers: Mapping[str, str], seconds: float, watchdog: _Watchdog
    ) -> httpx.Request:
        extensions: dict[str, Any] = {"trace": watchdog.trace}
        if checked.scheme == "https" and not checked.is_ip_literal:
            extensions["sni_hostname"] = checked.host
        merged = {k: v for k, v in headers.items() if k.lower() != "host"}
        merged["Host"] = checked.host_header
        return self._client.build_request(
            "GET", checked.connect_url(), headers=merged, extensions=extensions, timeout=httpx.Timeout(seconds)
        )

    @staticmethod
    def _read_body(response: httpx.Response, url: str, cap: int, watchdog: _Watchdog) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(
                f"response from {url} declares {int(declared)} bytes, over the cap of {cap} bytes", url, cap
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(f"response from {url} exceeded the cap of {cap} bytes", url, cap)
            chunks.append(chunk)
            if watchdog.fired:
                break
        return b"".join(chunks)


def _park_location(response: httpx.Response) -> None:
    """httpx response hook: take a redirect's Location away before httpx parses it.

    httpx builds the next request of a redirect even with ``follow_redirects=False`` and raises
    its own ``InvalidURL`` (or a ``RemoteProtocolError``) on a Location it cannot parse, losing the
    response. The client resolves Locations itself (:func:`resolve_location`), so the header is
    parked in the response's extensions, where :meth:`SafeHttpClient._answer` takes it back.
    """
    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
        values = response.headers.get_list("location")
        response.extensions[_LOCATION_KEY] = values[0] if len(set(values)) == 1 else ", ".join(values)
        del response.headers["location"]
