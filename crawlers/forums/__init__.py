"""Web forums: Discourse, phpBB and XenForo (one plugin package each), their shared HTML and date
handling, and the "web" platform: a forum watched by URL whose software the first crawl recognises."""

from __future__ import annotations

from functools import cache

from crawlers.forums.statuses import FORUM_STATUSES
from crawlers.recognisers import recogniser
from crawlers.registry import PlatformPlugin
from model.records import Platform


def _plugin() -> PlatformPlugin:
    from crawlers.forums.detect import ForumDetectSource

    return PlatformPlugin(
        platform=Platform.WEB,
        sources=(ForumDetectSource,),
        settings_section="forums",
        default_interval=lambda s: s.forums.interval_minutes,
        recognise=recogniser(Platform.WEB),
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
