"""Reddit: subreddits through the official API (PRAW), behind the address guard."""

from __future__ import annotations

from config.settings import Settings
from crawlers.recognisers import recogniser
from crawlers.registry import NameSearchFn, PlatformPlugin, lazy_plugin
from model.records import Platform


def _name_search(settings: Settings) -> NameSearchFn:
    from crawlers.reddit.source import name_search

    return name_search(settings)


def _plugin() -> PlatformPlugin:
    from crawlers.reddit.source import REASONS, RedditSource

    return PlatformPlugin(
        platform=Platform.REDDIT,
        sources=(RedditSource,),
        settings_section="reddit",
        default_interval=lambda s: s.reddit.interval_minutes,
        recognise=recogniser(Platform.REDDIT),
        name_search=_name_search,
        cli="cli.platforms.reddit",
        statuses=dict(REASONS),
    )


__getattr__ = lazy_plugin(_plugin)
