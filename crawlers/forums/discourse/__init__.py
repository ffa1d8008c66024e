"""Discourse forums."""

from __future__ import annotations

from crawlers.base import Source
from crawlers.registry import PlatformPlugin, forum_plugin, lazy_plugin
from model.records import Platform


def _source() -> type[Source]:
    from crawlers.forums.discourse.source import DiscourseSource

    return DiscourseSource


def _plugin() -> PlatformPlugin:
    return forum_plugin(Platform.DISCOURSE, _source)


__getattr__ = lazy_plugin(_plugin)
