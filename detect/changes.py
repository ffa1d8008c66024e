"""What changed since the last detection cycle, kept across processes.

``resurface crawl --once`` and ``resurface detect`` are separate processes, so what ingest reports in
memory is lost by the time detection runs. Each cycle therefore leaves a watermark in the kv table
(``detect.watermark``): the highest post, link, media fingerprint, crawl run and event id it saw, the
time, a digest per community of everything about it that detection reads (its row, its snapshots, its
memberships), the member universe per platform (the population member overlaps are judged against)
and a digest of the detect settings and the registered signals.

The next cycle compares the store with it. A community is *dirty* when it has rows above the
watermark (posts, links, fingerprints, crawl runs, events naming it on either side), or its digest
moved: a new snapshot, a repeated observation (ingest counts a repeated "unreachable" answer in the
existing snapshot row, so the count and ``last_observed_at`` move without a new id), a new member
or an earlier first sighting, a new title, status, watch state or member count. A community that did
not exist last time is dirty too.

Everything is read at the start of a cycle, before any stage runs, with two exceptions for what the
cycle itself changes before it decides which communities are of interest: communities that lead
discovery creates or starts watching are dirty in the same cycle and their digests are taken once it
has (so the next cycle does not look at them again), and the events the cycle stores are counted as
seen (it read them). What it changes later (a candidate it starts watching) is a change the next cycle
sees, exactly as a full rebuild would see it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from detect.content import MediaLinks
from detect.cycle import PostPhrases
from detect.overlap import platform_universes
from detect.pdq_index import BYTES
from detect.signals import signals
from store import models as m

WATERMARK_KEY = "detect.watermark"
MEDIA_LINKS_KEY = "detect.media_links"
NAME_KEYS_KEY = "detect.name_keys"
POST_PHRASES_KEY = "detect.post_phrases"
#: Bump when what a watermark means changes: an older one then makes the next cycle a full rebuild.
VERSION = 2


@dataclass
class Watermark:
    version: int = VERSION
    post_id: int = 0
    link_id: int = 0
    fingerprint_id: int = 0
    crawl_run_id: int = 0
    event_id: int = 0
    at: str = ""
    #: when the last full rebuild ran (ISO 8601)
    full_at: str = ""
    settings: str = ""
    communities: dict[str, str] = field(default_factory=dict)
    universe: dict[str, int] = field(default_factory=dict)


@dataclass
class Dirty:
    """What an incremental cycle works from."""

    communities: set[int]
    #: platforms whose member universe moved (every members figure there changes a little)
    universe_moved: set[str]
    mark: Watermark


def settings_digest(settings: Settings) -> str:
    """What the last cycle's results depend on besides the store: the detect settings and the registered
    signals (a signal added or removed changes every pair's score, and may find pairs of its own), so a
    change of either makes the next cycle a full rebuild."""
    registered = [[s.name, s.weighted, getattr(s, "discovery_order", None), sorted(s.evidence_fields),
                   f"{type(s).__module__}.{type(s).__qualname__}"] for s in signals()]
    basis = {"detect": settings.detect.model_dump(mode="json"), "signals": registered}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _put(session: Session, key: str, value: dict[str, Any]) -> None:
    """Write one ``kv`` row (insert or update)."""
    row = session.get(m.KeyValue, key)
    if row is None:
        session.add(m.KeyValue(key=key, value=value, updated_at=m.utcnow()))
    else:
        row.value = value
        row.updated_at = m.utcnow()


def load_watermark(session: Session) -> Watermark | None:
    row = session.get(m.KeyValue, WATERMARK_KEY)
    if row is None or not row.value or row.value.get("version") != VERSION:
        return None
    known = set(Watermark.__dataclass_fields__)
    try:
        return TypeAdapter(Watermark).validate_python({k: v for k, v in row.value.items() if k in known})
    except ValidationError as exc:  # a damaged row costs one full rebuild, never a failing cycle
        logging.getLogger("resurface.detect").warning(
            "kv row %s is not a watermark (%s); this cycle rebuilds in full", WATERMARK_KEY,
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]))
        return None


def save_watermark(session: Session, mark: Watermark) -> None:
    # (asdict would deep-copy the ten thousand digests; the row is written as it is)
    _put(session, WATERMARK_KEY, {name: getattr(mark, name) for name in Watermark.__dataclass_fields__})


def load_media_links(session: Session) -> MediaLinks:
    """What the image searches of earlier cycles found. Empty and unknown (every image is then read and
    searched again) when nothing is kept; likewise, logged, when the row is damaged or from before each
    file's PDQ was kept."""
    row = session.get(m.KeyValue, MEDIA_LINKS_KEY)
    if row is None or not row.value or row.value.get("version") != VERSION:
        logging.getLogger("resurface.detect").warning("no kv row %s of this version; images are searched afresh",
                                                      MEDIA_LINKS_KEY)
        return MediaLinks()
    value = row.value
    try:
        files, odd = value["files"], value["odd"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("files is not a list of file hashes")
        if not isinstance(odd, dict) or not all(isinstance(p, str) and p for p in odd.values()):
            raise TypeError("odd is not a map of files to hashes")
        codes = np.frombuffer(bytes.fromhex(value["pdqs"]), dtype=np.uint8)
        if codes.size != BYTES * len(files):
            raise ValueError(f"{codes.size // BYTES} hashes for {len(files)} files")
        return MediaLinks({(str(a), str(b)): float(d) for a, b, d in value["pairs"]}, int(value["since"]), True,
                          files, codes.reshape(-1, BYTES).copy(), odd, int(value["count"]))
    except (KeyError, TypeError, ValueError) as exc:  # damaged: every image is searched again (MediaLinks(): unknown)
        logging.getLogger("resurface.detect").warning("kv row %s is damaged (%s); images are searched afresh",
                                                      MEDIA_LINKS_KEY, exc)
        return MediaLinks()


def save_media_links(session: Session, links: MediaLinks) -> None:
    value = {"version": VERSION, "since": links.since, "count": links.count, "files": links.files,
             "pdqs": links.codes.tobytes().hex(), "odd": links.odd,
             "pairs": [[a, b, d] for (a, b), d in sorted(links.pairs.items())]}
    _put(session, MEDIA_LINKS_KEY, value)


def load_post_phrases(session: Session, wording: str) -> PostPhrases:
    """The successor wording earlier cycles found per post (none kept when it was found with another phrase
    list; logged and found afresh when the row is damaged)."""
    row = session.get(m.KeyValue, POST_PHRASES_KEY)
    if row is None or not row.value or row.value.get("version") != VERSION or row.value.get("wording") != wording:
        return PostPhrases(wording)
    value = row.value
    try:
        ids, digests, phrases = value["ids"], value["digests"], value["phrases"]
        if not isinstance(ids, list) or not isinstance(digests, str) or len(digests) != 16 * len(ids):
            raise ValueError(f"{len(digests) // 16} digests for {len(ids)} posts")
        if not isinstance(phrases, dict) or not all(isinstance(p, list) and all(isinstance(x, str) for x in p)
                                                    for p in phrases.values()):
            raise TypeError("phrases is not a map of posts to phrases")
        found = {int(pid): (digests[16 * k:16 * k + 16], tuple(phrases.get(str(pid), ())))
                 for k, pid in enumerate(ids)}
    except (KeyError, TypeError, ValueError) as exc:
        logging.getLogger("resurface.detect").warning("kv row %s is damaged (%s); posts' wording is found afresh",
                                                      POST_PHRASES_KEY, exc)
        return PostPhrases(wording)
    return PostPhrases(wording, found)


def save_post_phrases(session: Session, kept: PostPhrases) -> None:
    ids = list(kept.found)
    value = {"version": VERSION, "wording": kept.wording, "ids": ids,
             "digests": "".join(kept.found[pid][0] for pid in ids),
             "phrases": {str(pid): list(p) for pid, (_, p) in kept.found.items() if p}}
    _put(session, POST_PHRASES_KEY, value)


def load_name_keys(session: Session) -> dict[str, str]:
    """Names already reduced to their comparison key (``detect.names.normalise_name``) by earlier cycles."""
    row = session.get(m.KeyValue, NAME_KEYS_KEY)
    if row is None or not row.value or row.value.get("version") != VERSION:
        return {}
    keys = row.value.get("keys") or {}
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        # damaged: every name is reduced again (and the row rewritten), never a failing cycle
        logging.getLogger("resurface.detect").warning("kv row %s is damaged; names are reduced afresh",
                                                      NAME_KEYS_KEY)
        return {}
    return {str(k): v for k, v in keys.items()}


def save_name_keys(session: Session, keys: dict[str, str]) -> None:
    value = {"version": VERSION, "keys": keys}
    _put(session, NAME_KEYS_KEY, value)


def _max_id(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.max(column))) or 0)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def community_digests(session: Session, only: Collection[int] | None = None,
                      member_counts: dict[int, int] | None = None) -> dict[str, str]:
    """Per community (or per community in ``only``), a digest of what detection reads about it (see the
    module docstring). ``member_counts``, when given, receives each community's number of memberships
    (read for the digest anyway; the member overlaps of an incremental cycle use them as sizes)."""
    if only is not None:
        wanted = sorted(set(only))
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            out.update(_digests(session, set(wanted[start:start + 500]), member_counts))
        return out
    return _digests(session, None, member_counts)


def _text(column: Any) -> Any:
    """A column read as the database's text of it: a digest compares values with the last cycle's, so
    parsing dates and JSON into objects (most of the time of reading every community) is not needed."""
    return cast(column, String)


#: What a digest reads of a community's own row (everything detection reads of it).
_ROW = (m.Community.platform, m.Community.handle, m.Community.title, m.Community.status, m.Community.kind,
        m.Community.watch_state, m.Community.member_count, m.Community.depth, m.Community.created_at_platform,
        m.Community.first_seen, m.Community.removed_at, m.Community.url, m.Community.case_name, m.Community.attrs,
        m.Community.description)


def _digests(session: Session, ids: set[int] | None, member_counts: dict[int, int] | None = None) -> dict[str, str]:
    parts: dict[int, list[str]] = defaultdict(list)
    rows = select(m.Community.id, *(_text(c) for c in _ROW))
    snaps = (select(m.Snapshot.community_id, func.count(), func.sum(m.Snapshot.observations),
                    func.max(m.Snapshot.id), _text(func.max(m.Snapshot.last_observed_at)))
             .group_by(m.Snapshot.community_id))
    members = (select(m.Membership.community_id, func.count(), _text(func.min(m.Membership.first_seen)),
                      _text(func.max(m.Membership.first_seen)))
               .group_by(m.Membership.community_id))
    if ids is not None:
        rows = rows.where(m.Community.id.in_(ids))
        snaps = snaps.where(m.Snapshot.community_id.in_(ids))
        members = members.where(m.Membership.community_id.in_(ids))
    for cid, *row in session.execute(rows):
        parts[int(cid)].append("\x1f".join(map(str, row)))
    for cid, count, observations, last_id, last_seen in session.execute(snaps):
        parts[int(cid)].append(f"s{count}:{observations}:{last_id}:{last_seen}")
    for cid, count, first, last in session.execute(members):
        parts[int(cid)].append(f"m{count}:{first}:{last}")
        if member_counts is not None:
            member_counts[int(cid)] = int(count)
    return {str(cid): hashlib.sha256("|".join(p).encode()).hexdigest()[:12] for cid, p in parts.items()}


def current_watermark(session: Session, settings: Settings, previous: Watermark | None, full: bool,
                      member_counts: dict[int, int] | None = None) -> Watermark:
    """The store as it is now (read before any stage runs). ``member_counts``: see :func:`community_digests`."""
    now = m.utcnow().isoformat()
    return Watermark(post_id=_max_id(session, m.Post.id), link_id=_max_id(session, m.Link.id),
                     fingerprint_id=_max_id(session, m.MediaFingerprint.id),
                     crawl_run_id=_max_id(session, m.CrawlRun.id), event_id=_max_id(session, m.Event.id), at=now,
                     full_at=now if full or previous is None else previous.full_at,
                     settings=settings_digest(settings),
                     communities=community_digests(session, member_counts=member_counts),
                     universe=platform_universes(session))


def dirty_since(session: Session, mark: Watermark, now: Watermark) -> Dirty:
    """Communities with anything new or changed between ``mark`` (the last cycle) and ``now``."""
    dirty = {int(cid) for cid, digest in now.communities.items() if mark.communities.get(cid) != digest}
    dirty |= {int(cid) for cid in mark.communities if cid not in now.communities}
    ranges = [
        select(m.Post.community_id).where(m.Post.id > mark.post_id, m.Post.id <= now.post_id),
        select(m.Link.community_id).where(m.Link.id > mark.link_id, m.Link.id <= now.link_id),
        select(m.Post.community_id).join(m.MediaFingerprint, m.MediaFingerprint.post_id == m.Post.id)
        .where(m.MediaFingerprint.id > mark.fingerprint_id, m.MediaFingerprint.id <= now.fingerprint_id),
        select(m.CrawlRun.community_id).where(m.CrawlRun.id > mark.crawl_run_id, m.CrawlRun.id <= now.crawl_run_id),
        select(m.Event.community_id).where(m.Event.id > mark.event_id, m.Event.id <= now.event_id),
        select(m.Event.related_community_id).where(m.Event.id > mark.event_id, m.Event.id <= now.event_id,
                                                   m.Event.related_community_id.is_not(None)),
    ]
    for stmt in ranges:
        dirty.update(int(cid) for cid in session.scalars(stmt.distinct()) if cid is not None)
    moved = {p for p in set(now.universe) | set(mark.universe) if now.universe.get(p) != mark.universe.get(p)}
    return Dirty(dirty, moved, mark)


__all__ = ["MEDIA_LINKS_KEY", "NAME_KEYS_KEY", "POST_PHRASES_KEY", "WATERMARK_KEY", "Dirty", "Watermark",
           "current_watermark", "dirty_since", "load_media_links", "load_name_keys", "load_post_phrases",
           "load_watermark", "save_media_links", "save_name_keys", "save_post_phrases", "save_watermark",
           "settings_digest"]
