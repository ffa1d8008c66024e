"""Reddit: subreddits through the official API (PRAW), behind the address guard."""

from __future__ import annotations

from functools import cache

from config.settings import Settings
from crawlers.recognisers import recogniser
from crawlers.registry import NameSearchFn, PlatformPlugin
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


@cache
def _built() -> PlatformPlugin:
    return _plugin()


def __getattr__(name: str) -> PlatformPlugin:
    # PLUGIN is built on first use, so importing one module of this package (a crawl subprocess does)
    # does not import every source of the platform.
    if name == "PLUGIN":
        return _built()
    raise AttributeError(name)
