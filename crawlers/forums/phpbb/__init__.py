"""phpBB forums."""

from __future__ import annotations

from crawlers.base import Source
from crawlers.links import LinkRecogniser, phpbb_link
from crawlers.registry import PlatformPlugin, forum_plugin, lazy_plugin
from model.records import Platform

#: Its topics and boards are told by their paths, on whatever host the forum runs.
LINKS = LinkRecogniser(Platform.PHPBB, phpbb_link, by_shape=True)


def _source() -> type[Source]:
    from crawlers.forums.phpbb.source import PhpbbSource

    return PhpbbSource


def _plugin() -> PlatformPlugin:
    return forum_plugin(Platform.PHPBB, _source, LINKS)


__getattr__ = lazy_plugin(_plugin)
