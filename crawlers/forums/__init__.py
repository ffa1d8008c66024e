"""Web forums: Discourse, phpBB and XenForo (one plugin package each), their shared HTML and date
handling, and the "web" platform: a forum watched by URL whose software the first crawl recognises."""

from __future__ import annotations

from crawlers.forums.statuses import FORUM_STATUSES
from crawlers.recognisers import recogniser
from crawlers.registry import PlatformPlugin, lazy_plugin
from model.records import Platform
from model.targets import WatchTarget

_any_site = recogniser(Platform.WEB)


def _recognise(text: str) -> WatchTarget | None:
    """Any other http(s) site: the catch-all, so it declines a URL another plugin owns."""
    from crawlers.registry import plugins

    for plugin in plugins().values():
        if plugin.platform != Platform.WEB and plugin.recognise is not None and plugin.recognise(text) is not None:
            return None
    return _any_site(text)


def _plugin() -> PlatformPlugin:
    from crawlers.forums.detect import ForumDetectSource

    return PlatformPlugin(
        platform=Platform.WEB,
        sources=(ForumDetectSource,),
        settings_section="forums",
        default_interval=lambda s: s.forums.interval_minutes,
        recognise=_recognise,
        statuses=FORUM_STATUSES,
    )


__getattr__ = lazy_plugin(_plugin)
