"""Per-host rate limits shared by every worker, kept in Redis (the broker's, or ``service.rate_limit_url``).

Four workers on four machines send a host no more than its ``crawl.rate_limits`` rate *in total*. Each request
reserves the host's next free slot in Redis (one atomic script: the slot is the later of now and the host's next
free time, which then moves on by ``1 / rate``), and its worker sleeps until then: the same spacing the
single-process :class:`crawlers.http.RateLimiter` keeps, shared. Time is Redis's own clock, so workers on
machines whose clocks differ still agree. Spacing, rather than a window that admits ``rate`` requests at once,
keeps the requests even within each second, so what the host sees stays at the rate even when a loaded worker
is a little late sending one.

A 429 or Retry-After seen by any worker sets a pause for that host that every worker honours before its next
request (:meth:`SharedRateLimiter.slow_down`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from config.settings import ServiceSettings
from crawlers.errors import TransientError

log = logging.getLogger("resurface.ratelimit")

OUTAGE_SECONDS = 120.0
OUTAGE_RETRY_SECONDS = 0.5

# KEYS[1]: the host's next free time (microseconds, Redis clock); ARGV[1]: spacing in microseconds.
# Returns the microseconds to wait for the reserved slot.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - now) / 1000) + 60000)
return slot - now
"""


def spacing_micros(rate: float) -> int:
    """Microseconds between two requests to a host allowed ``rate`` requests a second."""
    return max(1, round(1_000_000 / rate))


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
        self._redis = redis.Redis.from_url(url)
        self._reserve = self._redis.register_script(_RESERVE)

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
        waited = 0.0
        while True:
            pause_ms = self._pttl(self._pause_key(host))
            if pause_ms <= 0:
                break
            self._sleep(pause_ms / 1000)
            waited += pause_ms / 1000
        delay = int(self._reserve(keys=[f"{self.namespace}:next:{host}"], args=[spacing_micros(rate)])) / 1e6
        if delay > 0:
            self._sleep(delay)
        return waited + delay

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
