"""A test crawler for subprocess tests, loaded with ``RESURFACE_EXTRA_SOURCES=tests.support.slow_source``.

It crawls communities of the made-up platform ``testfeed`` from a scripted local HTTP server: the
community URL serves ``?page=N`` as ``{"posts": [ids], "last": bool}``. One page per checkpoint,
resuming at ``next_page``, so a test can hold a page back (the server blocks) and kill the service
mid-crawl.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from config.settings import Settings
from crawlers.base import Source, Target, register
from crawlers.http import SafeHttpClient
from model import records as r

PLATFORM = "testfeed"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@register
class SlowFeedSource(Source):
    name: ClassVar[str] = "slow_feed_test"
    platform: ClassVar[str] = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.client = SafeHttpClient(settings.crawl)

    def crawl(self, target: Target) -> Iterator[r.Record]:
        assert target.url
        now = datetime.now(UTC)
        ref = r.CommunityRef(PLATFORM, "feed-1", "feed")
        yield r.CommunitySnapshot(platform=PLATFORM, native_id="feed-1", handle="feed", url=target.url,
                                  fetched_at=now, title="Scripted feed", status=r.CommunityStatus.ACTIVE,
                                  source_url=target.url)
        page = int(target.cursor.get("next_page", 1))
        while True:
            data = self.client.get_json(f"{target.url}?page={page}")
            for n in data["posts"]:
                yield r.Post(community=ref, native_post_id=str(n), url=f"{target.url}/{n}", fetched_at=now,
                             created_at=T0 + timedelta(minutes=n), text=f"post number {n}")
            page += 1
            yield r.Checkpoint(ref, self.name, {"next_page": page})
            if data["last"]:
                return

    def close(self) -> None:
        self.client.close()
