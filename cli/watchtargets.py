"""What ``resurface watch add`` accepts: a target Resurface can crawl, or a manual entry it was told about.

- What a URL or ``@handle`` is, is each platform plugin's to say (``PlatformPlugin.recognise``); input no
  plugin takes is refused with the reason :func:`model.targets.parse_target` gives.
- ``--platform`` must name a platform Resurface knows (the shared vocabulary plus registered plugins).
- A URL of a platform without a crawler (Facebook, Discord, WhatsApp, Signal, ...) is not a forum:
  it is watched only as a manual entry, with ``--platform`` naming that platform.
- A URL that will be fetched (a forum, or a site watched as ``web``) must resolve, and to an address the
  crawler may fetch: checked now by the crawl safety layer's guard, with the host named when it fails.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from config.settings import Settings
from crawlers.errors import BlockedAddress
from crawlers.registry import crawlable_platforms, plugin_for, plugins, recognise
from crawlers.safety import AddressGuard, HostUnresolvable
from model.errors import UsageError
from model.records import CommunityKind, Platform
from model.targets import WatchTarget, parse_target
from store.watchlist import manual_platform_of_url

#: Platforms whose pages Resurface fetches itself (telegram and reddit URLs go to known public hosts).
_FETCHED_BY_URL = frozenset({Platform.WEB, Platform.DISCOURSE, Platform.PHPBB, Platform.XENFORO})


def known_platforms() -> list[str]:
    return sorted({*(str(p) for p in Platform), *plugins()})


def check_platform(platform: str | None) -> str | None:
    """``--platform`` lower-cased, or a usage error listing the platforms Resurface knows."""
    if platform is None:
        return None
    name = platform.strip().lower()
    known = known_platforms()
    if name not in known:
        raise UsageError(f"--platform {platform!r} is not a platform Resurface knows (known: {', '.join(known)})")
    return name


def is_manual(platform: str) -> bool:
    return platform not in crawlable_platforms()


def watch_target(settings: Settings, target: str | None, platform: str | None, name: str | None) -> WatchTarget:
    """Parse and check what the user typed; raises :class:`UsageError` naming what cannot be watched."""
    platform = check_platform(platform)
    if not target:
        if platform and name:
            return WatchTarget(platform, None, None, CommunityKind.UNKNOWN, native_id=f"manual:{name}")
        raise UsageError("give a URL or @handle, or --platform and --name for a community entered by hand")
    parsed = _owned(target, platform) or parse_target(target, platform)
    if platform is None and parsed.platform == Platform.WEB:
        manual = manual_platform_of_url(parsed.url or target)
        if manual is not None:
            raise UsageError(f"{target!r} is a {manual} URL, which Resurface cannot crawl; watch it as a manual "
                             f"entry: `resurface watch add {target} --platform {manual} --name NAME`")
    if platform is not None and is_manual(platform):
        return parsed  # a manual entry: never fetched, so nothing to resolve
    if parsed.platform in (Platform.TELEGRAM, Platform.REDDIT) and not parsed.handle:
        raise UsageError(f"{target!r} is not a {parsed.platform} URL Resurface can crawl")
    if parsed.platform in _FETCHED_BY_URL:
        check_fetchable(settings, parsed.url or target)
    return parsed


def _owned(target: str, platform: str | None) -> WatchTarget | None:
    """The target as the plugin that owns it reads it: any plugin's without ``--platform``, else that one's."""
    if platform is None:
        return recognise(target)
    plugin = plugin_for(platform)
    return plugin.recognise(target) if plugin is not None and plugin.recognise is not None else None


def check_fetchable(settings: Settings, url: str) -> None:
    """Resolve ``url``'s host through the crawler's address guard now, not at the first crawl."""
    host = urlsplit(url).hostname or url
    guard = AddressGuard.build(allow_private=settings.crawl.allow_private_addresses)
    try:
        guard.check(url)
    except HostUnresolvable:
        raise UsageError(f"cannot watch {url}: the host {host!r} does not resolve (check the spelling, or the "
                         "network's DNS)") from None
    except BlockedAddress as exc:
        raise UsageError(f"cannot watch {url}: the crawler would refuse it ({exc})") from None
