"""Telegram: public channel previews (t.me/s/…) and, when configured, the Telegram API."""

from __future__ import annotations

from config.settings import Settings
from crawlers.recognisers import recogniser
from crawlers.registry import NameSearchFn, PlatformPlugin, lazy_plugin
from model.records import CommunityStatus, Platform


def _name_search(settings: Settings) -> NameSearchFn:
    from crawlers.telegram.api import name_search

    return name_search(settings)


def _plugin() -> PlatformPlugin:
    from crawlers.telegram.api import TelegramApiSource
    from crawlers.telegram.web import TelegramWebSource

    return PlatformPlugin(
        platform=Platform.TELEGRAM,
        sources=(TelegramApiSource, TelegramWebSource),
        settings_section="telegram",
        default_interval=lambda s: s.telegram.interval_minutes,
        recognise=recogniser(Platform.TELEGRAM),
        name_search=_name_search,
        cli="cli.platforms.telegram",
        statuses={"channel_does_not_exist": CommunityStatus.DELETED, "invite_expired": CommunityStatus.DELETED,
                  "private_invite": CommunityStatus.PRIVATE},
    )


__getattr__ = lazy_plugin(_plugin)
