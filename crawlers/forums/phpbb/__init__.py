"""phpBB forums."""

from __future__ import annotations

from functools import cache

from crawlers.forums.statuses import FORUM_STATUSES
from crawlers.registry import PlatformPlugin
from model.records import Platform


def _plugin() -> PlatformPlugin:
    from crawlers.forums.phpbb.source import PhpbbSource

    return PlatformPlugin(
        platform=Platform.PHPBB,
        sources=(PhpbbSource,),
        settings_section="forums",
        default_interval=lambda s: s.forums.interval_minutes,
        statuses=FORUM_STATUSES,
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
