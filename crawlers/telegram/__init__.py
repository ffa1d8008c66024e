"""Telegram: public channel previews (t.me/s/…) and, when configured, the Telegram API."""

from __future__ import annotations

from config.settings import Settings
from crawlers.links import (
    LinkRecogniser,
    LinkVerdict,
    UrlParts,
    telegram_path_link,
    telegram_scheme_link,
    telegram_subdomain_link,
)
from crawlers.recognisers import recogniser
from crawlers.registry import NameSearchFn, PlatformPlugin, lazy_plugin
from model.records import CommunityStatus, Platform
from model.targets import TELEGRAM_HOSTS, is_telegram_handle


def _link(url: UrlParts) -> LinkVerdict:
    """Telegram's own links: ``tg://`` URLs, the t.me hosts and ``handle.t.me``."""
    if url.scheme == "tg":
        return telegram_scheme_link(url)
    if url.host in TELEGRAM_HOSTS:
        return telegram_path_link(url)
    if url.host.endswith(".t.me") and url.host.count(".") == 2 and is_telegram_handle(url.host[:-5]):
        return telegram_subdomain_link(url, url.host[:-5])
    return None


LINKS = LinkRecogniser(Platform.TELEGRAM, _link, addresses_move=True)


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
        links=LINKS,
        name_search=_name_search,
        cli="cli.platforms.telegram",
        statuses={"channel_does_not_exist": CommunityStatus.DELETED, "invite_expired": CommunityStatus.DELETED,
                  "private_invite": CommunityStatus.PRIVATE},
    )


__getattr__ = lazy_plugin(_plugin)
