"""A minimal platform plugin (a made-up "example board"): one package-like module and one register call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from config.settings import Settings
from crawlers.base import Source, Target
from crawlers.registry import PlatformPlugin, register
from model import records as r

PLATFORM = "example_board"


class ExampleBoardSource(Source):
    name = "example_board"
    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def crawl(self, target: Target) -> Iterator[r.Record]:
        yield r.CommunitySnapshot(platform=PLATFORM, native_id=target.url, handle=None, url=target.url or "",
                                  fetched_at=datetime.now(UTC))


PLUGIN = register(PlatformPlugin(
    platform=PLATFORM,
    sources=(ExampleBoardSource,),
    default_interval=lambda s: s.forums.interval_minutes,
    statuses={"closed": r.CommunityStatus.DELETED},
))
