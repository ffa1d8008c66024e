"""Which stored community a reference means: one set of rules for ingest, the graph and detection.

A reference is what a post or a link carries about a community: a platform with a native id (the
platform's stable id, exact), a handle (compared case-folded: Telegram usernames and subreddit names
are case-insensitive, and forums and manual entries are keyed by native id, not handle), or a URL.
The rules, in order:

1. **native id**: the community stored with that (platform, native id);
2. **handle**: the community whose current handle it is, else one that had it in an earlier readable
   snapshot (so a link to a renamed channel's old handle still reaches the channel);
3. **URL**: the community stored with that URL (trailing slash and case ignored), for references with
   neither.

Two forms, the same rules:

- :class:`CommunityResolver`, an index in memory, built once from community rows and their old handles,
  for readers that resolve many references at once (the graph, detection's cycle);
- :func:`find_by_native` and :func:`find_by_handle`, one query each, for ingest, which resolves few
  references per batch against a store that changes as it writes (:func:`ref_keys` are its cache keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.records import GONE_STATUSES
from store import models as m


def fold_handle(platform: str, handle: str) -> str:
    """A handle as references to it are compared. Every platform with handles today (Telegram, Reddit)
    compares them case-insensitively; a platform that did not would be named here."""
    del platform  # one rule for now; the parameter is where a case-sensitive platform would be told apart
    return handle.lower()


def _fold_url(url: str) -> str:
    return url.rstrip("/").lower()


def ref_keys(platform: str, native_id: str | None, handle: str | None) -> list[tuple[str, str]]:
    """Keys under which a reference is cached within one ingest run: its native id, then its handle."""
    keys = []
    if native_id:
        keys.append((platform, "id:" + native_id))
    if handle:
        keys.append((platform, "@" + fold_handle(platform, handle)))
    return keys


# --- one query each (ingest) ----------------------------------------------------------------------


def find_by_native(session: Session, platform: str, native_id: str) -> m.Community | None:
    return session.scalar(
        select(m.Community).where(m.Community.platform == platform, m.Community.native_id == native_id)
    )


def find_by_handle(session: Session, platform: str, handle: str) -> m.Community | None:
    """The community with this current handle. When several have it, a seed not yet read (no native id)
    first, so that its first snapshot fills it in, then the oldest row."""
    return session.scalar(
        select(m.Community)
        .where(m.Community.platform == platform,
               func.lower(m.Community.handle) == fold_handle(platform, handle))
        .order_by(m.Community.native_id.is_(None).desc(), m.Community.id)
        .limit(1)
    )


# --- an index in memory (graph, detection) --------------------------------------------------------


class CommunityKeys(Protocol):
    """What the index reads of a community (a ``store.models.Community`` row, or a
    ``model.vocab.CommunityInfo`` with its native id given apart)."""

    @property
    def id(self) -> int: ...

    @property
    def platform(self) -> str: ...

    @property
    def handle(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...


@dataclass
class CommunityResolver:
    """References → community ids, by the rules above. Where two communities share a key, the first one
    given keeps it (give them in id order: the oldest row wins)."""

    by_native: dict[tuple[str, str], int] = field(default_factory=dict)
    by_handle: dict[tuple[str, str], int] = field(default_factory=dict)
    by_url: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, communities: Iterable[CommunityKeys], native_ids: dict[int, str | None] | None = None,
              old_handles: Iterable[tuple[int, str]] = ()) -> CommunityResolver:
        """From community rows (their own ``native_id`` unless ``native_ids`` gives it by id) and
        ``(community id, handle)`` pairs of handles they had before (earlier readable snapshots)."""
        index = cls()
        platform_of: dict[int, str] = {}
        for c in communities:
            platform_of[c.id] = c.platform
            native = native_ids.get(c.id) if native_ids is not None else getattr(c, "native_id", None)
            if native:
                index.by_native.setdefault((c.platform, native), c.id)
            if c.handle:
                index.by_handle.setdefault((c.platform, fold_handle(c.platform, c.handle)), c.id)
            if c.url:
                index.by_url.setdefault(_fold_url(c.url), c.id)
        for cid, handle in old_handles:  # after every current handle: a current one is never overridden
            platform = platform_of.get(cid)
            if platform and handle:
                index.by_handle.setdefault((platform, fold_handle(platform, handle)), cid)
        return index

    @classmethod
    def load(cls, session: Session) -> CommunityResolver:
        """Every stored community, with the handles their readable snapshots had."""
        rows = list(session.scalars(select(m.Community).order_by(m.Community.id)))
        old = session.execute(
            select(m.Snapshot.community_id, m.Snapshot.handle)
            .where(m.Snapshot.handle.is_not(None), m.Snapshot.native_id.is_not(None),
                   m.Snapshot.status.not_in(GONE_STATUSES))
            .distinct().order_by(m.Snapshot.community_id, m.Snapshot.handle)
        )
        return cls.build(rows, old_handles=((cid, handle) for cid, handle in old if handle))

    def native(self, platform: str | None, native_id: str | None) -> int | None:
        if not platform or not native_id:
            return None
        return self.by_native.get((platform, native_id))

    def handle(self, platform: str | None, handle: str | None) -> int | None:
        if not platform or not handle:
            return None
        return self.by_handle.get((platform, fold_handle(platform, handle)))

    def url(self, url: str | None) -> int | None:
        return self.by_url.get(_fold_url(url)) if url else None

    def resolve(self, platform: str | None, native_id: str | None = None, handle: str | None = None,
                url: str | None = None) -> int | None:
        """The community a reference means: by native id, else by handle, else by URL; None if none."""
        found = self.native(platform, native_id)
        if found is None:
            found = self.handle(platform, handle)
        if found is None:
            found = self.url(url)
        return found
