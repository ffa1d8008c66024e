"""Per-host rate limits shared by every worker, kept in Redis (the broker's, or ``service.rate_limit_url``).

Four workers on four machines send a host no more than its ``crawl.rate_limits`` rate *in total*: each request
first takes a hit in a moving window (the ``limits`` library, Redis storage, one window per host) and waits for
the window to allow it. A 429 or Retry-After seen by any worker sets a pause for that host that every worker
honours before its next request (:meth:`SharedRateLimiter.slow_down`).

Rates below one a second become one request per ``ceil(1 / rate)`` seconds (the window's unit is whole seconds).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from config.settings import ServiceSettings
from crawlers.errors import TransientError

log = logging.getLogger("resurface.ratelimit")

MIN_SLEEP = 0.005
OUTAGE_SECONDS = 120.0
OUTAGE_RETRY_SECONDS = 0.5


def limit_item(rate: float) -> RateLimitItem:
    """The moving window for ``rate`` requests a second."""
    if rate >= 1:
        return RateLimitItemPerSecond(int(rate), 1)
    return RateLimitItemPerSecond(1, math.ceil(1 / rate))


def rate_limit_url(settings: ServiceSettings) -> str:
    url = settings.rate_limit_url or settings.broker_url
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"service.rate_limit_url must name a Redis server (the broker {settings.broker_url!r} "
                         "is not one)")
    return url


class SharedRateLimiter:
    """A :class:`crawlers.http.HostPacer` whose state lives in Redis."""

    def __init__(self, url: str, *, namespace: str = "resurface", sleep: Callable[[float], None] = time.sleep,
                 ) -> None:
        self.url = url
        self.namespace = namespace
        self._sleep = sleep
        self._limiter = MovingWindowRateLimiter(RedisStorage(url))
        self._redis = redis.Redis.from_url(url)

    def _pause_key(self, host: str) -> str:
        return f"{self.namespace}:pause:{host}"

    def wait(self, host: str, rate: float) -> float:
        """Block until ``host`` may be contacted (its pause over and a slot in its window); the seconds waited.
        While Redis is away the worker waits for it (never fetching unpaced), up to :data:`OUTAGE_SECONDS`."""
        waited = 0.0
        while True:
            try:
                return waited + self._wait(host, rate)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if waited >= OUTAGE_SECONDS:
                    raise TransientError(f"the shared rate limiter at {self.url} is unreachable: {exc}") from exc
                log.warning("shared rate limiter unreachable (%s); waiting for it before contacting %s", exc, host)
                self._sleep(OUTAGE_RETRY_SECONDS)
                waited += OUTAGE_RETRY_SECONDS

    def _wait(self, host: str, rate: float) -> float:
        item = limit_item(rate)
        waited = 0.0
        while True:
            pause_ms = self._pttl(self._pause_key(host))
            if pause_ms > 0:
                self._sleep(pause_ms / 1000)
                waited += pause_ms / 1000
                continue
            if self._limiter.hit(item, self.namespace, host):
                return waited
            stats = self._limiter.get_window_stats(item, self.namespace, host)
            delay = max(MIN_SLEEP, stats.reset_time - time.time())
            self._sleep(delay)
            waited += delay

    def _pttl(self, key: str) -> int:
        """Milliseconds left on ``key`` (negative or 0: no pause)."""
        left: object = self._redis.pttl(key)
        return left if isinstance(left, int) else 0

    def slow_down(self, host: str, seconds: float) -> None:
        """No worker contacts ``host`` for ``seconds`` (a longer pause already set is kept)."""
        key = self._pause_key(host)
        millis = max(1, int(seconds * 1000))
        current = self._pttl(key)
        if current < millis:
            self._redis.set(key, b"1", px=millis)
            log.info("%s asked us to slow down: no worker contacts it for %.1fs", host, seconds)

    def close(self) -> None:
        self._redis.close()
