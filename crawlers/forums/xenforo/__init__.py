"""XenForo forums."""

from __future__ import annotations

from crawlers.base import Source
from crawlers.links import LinkRecogniser, xenforo_link
from crawlers.registry import PlatformPlugin, forum_plugin, lazy_plugin
from model.records import Platform

#: Its topics and boards are told by their paths, on whatever host the forum runs.
LINKS = LinkRecogniser(Platform.XENFORO, xenforo_link, by_shape=True)


def _source() -> type[Source]:
    from crawlers.forums.xenforo.source import XenforoSource

    return XenforoSource


def _plugin() -> PlatformPlugin:
    return forum_plugin(Platform.XENFORO, _source, LINKS)


__getattr__ = lazy_plugin(_plugin)
