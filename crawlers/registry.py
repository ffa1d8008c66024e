"""The platform registry: one :class:`PlatformPlugin` per platform package, declaring everything about it.

A plugin says which platform it crawls, which URLs are its own (``recognise``: what ``watch add`` takes;
``links``: which links in posts are its own, asked by :mod:`crawlers.links`, and which of its hosts posts name
without a scheme), its settings section and default
crawl interval, its sources, an optional name search, an optional CLI command group, and how its statuses map
to the shared ones. The scheduler's intervals, the runner's source factories, which platforms are crawlable,
detection's name searches, link classification and the contract tests all read it from here.

Adding a platform: a package under ``crawlers/`` whose ``__init__`` defines ``PLUGIN`` (and, when it
recognises links, the same recogniser as ``LINKS`` at module level), and one line in :data:`BUILTIN_PLUGINS`.
A plugin module outside this list (a test's, say) calls :func:`register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from crawlers.base import Source, register_source, registered
from model.records import CommunityStatus
from model.targets import WatchTarget

if TYPE_CHECKING:
    from crawlers.links import LinkRecogniser

#: ``(platform, query) -> [(handle, title, url)]``: see :class:`detect.leads.NameSearch`.
NameSearchFn = Callable[[str, str], Sequence[tuple[str, str | None, str]]]


@dataclass(frozen=True)
class PlatformPlugin:
    platform: str
    #: Source classes, in the order the runner tries them for a target of this platform.
    sources: tuple[type[Source], ...]
    #: The default crawl interval in minutes, read from this platform's settings section.
    default_interval: Callable[[Settings], int]
    #: Name of the platform's section in :class:`config.settings.Settings` (None: no own section).
    settings_section: str | None = None
    #: A URL or ``@handle`` this platform owns, as a watch target; None when not its own.
    recognise: Callable[[str], WatchTarget | None] | None = None
    #: Which links found in posts are this platform's own, and what they name (see :mod:`crawlers.links`).
    links: LinkRecogniser | None = None
    #: Build a name search for this deployment (raises NotConfigured/MissingSecret when it cannot).
    name_search: Callable[[Settings], NameSearchFn] | None = None
    #: Dotted module of this platform's typer command group in the CLI layer (exports ``app``).
    cli: str | None = None
    #: The platform's own words for statuses, mapped to the shared :class:`CommunityStatus`.
    statuses: Mapping[str, CommunityStatus] = field(default_factory=dict)
    #: Whether communities of this platform can be crawled (else they can only be entered by hand).
    crawlable: bool = True

    def settings_model(self, settings: Settings) -> Any:
        return getattr(settings, self.settings_section) if self.settings_section else None


#: The built-in platform packages: one line each.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "crawlers.telegram",
    "crawlers.reddit",
    "crawlers.forums.discourse",
    "crawlers.forums.phpbb",
    "crawlers.forums.xenforo",
    "crawlers.forums",  # the "web" platform: a forum whose software is not yet recognised
)

_PLUGINS: dict[str, PlatformPlugin] = {}
_loaded = False
_links: tuple[LinkRecogniser, ...] | None = None


def lazy_plugin(build: Callable[[], PlatformPlugin]) -> Callable[[str], PlatformPlugin]:
    """A plugin package's module ``__getattr__``: ``PLUGIN`` is built on first use (once), so importing
    one module of the package (a crawl subprocess does) does not import every source of the platform.

        __getattr__ = lazy_plugin(_plugin)
    """
    built: list[PlatformPlugin] = []

    def module_getattr(name: str) -> PlatformPlugin:
        if name != "PLUGIN":
            raise AttributeError(name)
        if not built:
            built.append(build())
        return built[0]

    return module_getattr


def forum_plugin(platform: str, source: Callable[[], type[Source]], links: LinkRecogniser | None = None,
                 ) -> PlatformPlugin:
    """A forum software's plugin: its one source and link recogniser, the forums' settings section, interval
    and statuses."""
    from crawlers.forums.statuses import FORUM_STATUSES

    return PlatformPlugin(platform=platform, sources=(source(),), settings_section="forums",
                          default_interval=lambda s: s.forums.interval_minutes, statuses=FORUM_STATUSES, links=links)


def register(plugin: PlatformPlugin) -> PlatformPlugin:
    """Add a plugin (and its sources). A second, different plugin for the same platform is an error."""
    known = _PLUGINS.get(plugin.platform)
    if known is not None and known is not plugin:
        raise ValueError(f"a plugin for platform {plugin.platform!r} is already registered")
    global _links
    _PLUGINS[plugin.platform] = plugin
    _links = None  # asked again, with this plugin's recogniser
    for source in plugin.sources:
        register_source(source)
    return plugin


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for module in BUILTIN_PLUGINS:
        register(importlib.import_module(module).PLUGIN)
    _loaded = True


def plugins() -> dict[str, PlatformPlugin]:
    """Every registered plugin by platform."""
    _load()
    return dict(_PLUGINS)


def plugin_for(platform: str) -> PlatformPlugin | None:
    return plugins().get(platform)


def crawlable_platforms() -> frozenset[str]:
    """Platforms something can crawl: each crawlable plugin's, and those of sources registered without a
    plugin (a test's fake source, ``RESURFACE_EXTRA_SOURCES``)."""
    declined = {p.platform for p in plugins().values() if not p.crawlable}
    sources = {source.platform for source in registered().values()}
    return frozenset({p.platform for p in plugins().values() if p.crawlable} | (sources - declined))


def link_recognisers() -> tuple[LinkRecogniser, ...]:
    """Every plugin's link recogniser, host owners first, then those that go by a URL's shape (each group in
    registration order). Built-in packages declare theirs at module level (``LINKS``), so classifying a
    link does not build the plugins, which would import every platform's sources (Telethon, Scrapy, ...)."""
    global _links
    if _links is None:
        found: dict[str, LinkRecogniser] = {}
        for module in BUILTIN_PLUGINS:
            declared: LinkRecogniser | None = getattr(importlib.import_module(module), "LINKS", None)
            if declared is not None:
                found[declared.platform] = declared
        for plugin in list(_PLUGINS.values()):
            if plugin.links is not None:
                found.setdefault(plugin.platform, plugin.links)
        _links = tuple(sorted(found.values(), key=lambda recogniser: recogniser.by_shape))
    return _links


def default_interval(settings: Settings, platform: str) -> int | None:
    plugin = plugin_for(platform)
    return plugin.default_interval(settings) if plugin else None


def recognise(text: str) -> WatchTarget | None:
    """The first plugin that owns ``text`` (a URL or ``@handle``), as a watch target."""
    for plugin in plugins().values():
        if plugin.recognise is not None:
            found = plugin.recognise(text)
            if found is not None:
                return found
    return None


def name_searches(settings: Settings) -> list[tuple[str, Callable[[Settings], NameSearchFn]]]:
    return [(p.platform, p.name_search) for p in plugins().values() if p.name_search is not None]
