"""Crawler plugin interface and registry.

A crawler is a :class:`Source` subclass with a stable ``name`` (a storage key: checkpoints are
stored under it) and a ``crawl`` generator that yields records for one target. The crawl runner
(:mod:`service.crawl`) feeds what it yields to ingest, so a source never touches the store.

Sources are built with :meth:`Source.from_settings`; a source that cannot run with the given
settings (no API credentials, say) raises :class:`NotConfigured` and is skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from config.settings import Settings
from model.records import Record


class NotConfigured(Exception):
    """This source cannot run with the current settings; the runner skips it with a log line."""


@dataclass(frozen=True, slots=True)
class Target:
    """One watched community, as the runner hands it to a source."""

    community_id: int
    platform: str
    handle: str | None
    url: str | None
    native_id: str | None = None
    cursor: Mapping[str, Any] = field(default_factory=dict)  # the stored checkpoint, {} if none


class Source(ABC):
    name: ClassVar[str]
    platform: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Source:
        return cls(settings)  # type: ignore[call-arg]

    def handles(self, target: Target) -> bool:
        """Whether this source can crawl the target (default: same platform)."""
        return target.platform == self.platform

    @abstractmethod
    def crawl(self, target: Target) -> Iterator[Record]:
        """Yield a CommunitySnapshot first, then posts/memberships, with a Checkpoint after each page.

        Raise :class:`crawlers.errors.CrawlError` subclasses for failures; a snapshot with a
        non-active status is the way to report a banned, private or vanished community.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients (sessions, reactors). Called once when the runner is done."""


_REGISTRY: dict[str, type[Source]] = {}


def register_source(cls: type[Source]) -> type[Source]:
    """Add a source to the registry (platform plugins do this for theirs). Names are unique."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a crawler named {name!r} is already registered ({_REGISTRY[name].__qualname__})")
    _REGISTRY[name] = cls
    return cls


#: Class decorator form, for sources outside a platform plugin (tests' fake sources).
register = register_source


def registered() -> dict[str, type[Source]]:
    """Every source: those of the registered platform plugins, and any registered directly."""
    load_builtin_sources()
    return dict(_REGISTRY)


#: Comma-separated extra modules that register sources (test plugins for subprocess tests).
EXTRA_SOURCES_ENV = "RESURFACE_EXTRA_SOURCES"


def load_builtin_sources() -> None:
    import importlib
    import os

    for extra in filter(None, (x.strip() for x in os.environ.get(EXTRA_SOURCES_ENV, "").split(","))):
        importlib.import_module(extra)  # named on purpose: a missing one is an error, not a skip
    importlib.import_module("crawlers.registry").plugins()
