"""Reddit: subreddits through the official API (PRAW), behind the address guard."""

from __future__ import annotations

from config.settings import Settings
from crawlers.links import LinkRecogniser, LinkVerdict, UrlParts, reddit_link
from crawlers.recognisers import recogniser
from crawlers.registry import NameSearchFn, PlatformPlugin, lazy_plugin
from model.records import Platform


def _link(url: UrlParts) -> LinkVerdict:
    """Reddit's own links: reddit.com and its subdomains (www, old, np, ...), and redd.it."""
    if url.host == "reddit.com" or url.host.endswith(".reddit.com") or url.host == "redd.it":
        return reddit_link(url)
    return None


LINKS = LinkRecogniser(Platform.REDDIT, _link)


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
        links=LINKS,
        name_search=_name_search,
        cli="cli.platforms.reddit",
        statuses=dict(REASONS),
    )


__getattr__ = lazy_plugin(_plugin)
