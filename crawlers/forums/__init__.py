"""Web forums: Discourse, phpBB and XenForo (one plugin package each), their shared HTML and date
handling, and the "web" platform: a forum watched by URL whose software the first crawl recognises."""

from __future__ import annotations

from crawlers.forums.statuses import FORUM_STATUSES
from crawlers.recognisers import recogniser
from crawlers.registry import PlatformPlugin, lazy_plugin
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


__getattr__ = lazy_plugin(_plugin)
