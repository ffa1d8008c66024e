"""The service's sources live as long as the service: started per platform when first needed, then reused.

Before, every crawl job built every source: a subreddit job started the Telegram clients, and each job
began with fresh per-host pacing state."""

from __future__ import annotations

from config.settings import Settings
from crawlers.base import Target
from service.crawl import SourcePool


def test_a_platform_starts_only_its_own_sources_and_keeps_them_across_jobs(settings: Settings) -> None:
    pool = SourcePool(settings)
    try:
        first = pool.pick(Target(1, "discourse", None, "https://forum.example/"))
        assert first is not None and first.name == "discourse"
        assert pool.started() == {"discourse": ["discourse"]}  # nothing of Telegram or Reddit was started
        again = pool.pick(Target(2, "discourse", None, "https://other.example/"))
        assert again is first  # the same object, with its pacing state
    finally:
        pool.close()
    assert pool.started() == {}
