"""Content that reappears: media (same SHA-256 or PDQ within 31), near-duplicate texts, forwards.

For each directed pair (A → B) we count the posts of B that repeat something first seen *earlier*
in A, so the direction says where content came from. Forwards (posts in B forwarded from A) are
counted separately because they are explicit rather than inferred.

Scale: nothing here compares posts pairwise. Posts are grouped by *item*: a distinct media hash or
a distinct text signature. Near items are linked through the PDQ index (:mod:`detect.pdq_index`)
and LSH banding (:mod:`detect.textsig`), run over distinct items only, so a picture reposted ten
thousand times costs one query. For each item we keep, per community, its first appearance; a post
in B then counts for every other community whose first appearance of the same or a linked item is
earlier. Work grows with posts × communities-sharing-an-item, not with posts².

Evidence examples are dicts ``{post_url, matched_post_url, kind, distance, at}``: kind is
``media_sha256``, ``media_pdq``, ``text`` or ``forward``; distance is the PDQ Hamming distance, 0
for identical files, ``1 - similarity`` (rounded) for texts, ``None`` for forwards; ``at`` is when
the post in B appeared (ISO 8601).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from detect import textsig
from detect.pdq_index import BYTES, MATCH_DISTANCE, MIN_QUALITY, InvalidHash, PdqIndex, parse_hex
from store import models as m

MAX_EXAMPLES = 5

log = logging.getLogger("resurface.detect")


@dataclass
class ContentOverlap:
    source: int
    target: int
    media_matches: int = 0  # posts of target repeating media first seen in source
    text_matches: int = 0  # posts of target repeating text first seen in source
    forwards: int = 0  # posts of target forwarded from source
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _PostInfo:
    community: int
    at: datetime
    url: str | None


class _Accumulator:
    def __init__(self, wanted: set[int] | None, max_examples: int) -> None:
        self.wanted = wanted
        self.max_examples = max_examples
        self.pairs: dict[tuple[int, int], ContentOverlap] = {}
        self.counted: dict[str, set[tuple[int, int, int]]] = defaultdict(set)

    def add(self, kind: str, counter: str, source: int, target: int, post: _PostInfo, post_id: int,
            matched: _PostInfo, distance: float | None) -> None:
        if source == target:
            return
        if self.wanted is not None and source not in self.wanted and target not in self.wanted:
            return
        seen = self.counted[counter]
        if (source, target, post_id) in seen:
            return
        seen.add((source, target, post_id))
        pair = self.pairs.get((source, target))
        if pair is None:
            pair = self.pairs[(source, target)] = ContentOverlap(source=source, target=target)
        setattr(pair, counter, getattr(pair, counter) + 1)
        if len(pair.examples) < self.max_examples:
            pair.examples.append({"post_url": post.url, "matched_post_url": matched.url, "kind": kind,
                                  "distance": distance, "at": post.at.isoformat()})


def _post_infos(session: Session, post_ids: Iterable[int]) -> dict[int, _PostInfo]:
    ids = sorted(set(post_ids))
    out: dict[int, _PostInfo] = {}
    when = func.coalesce(m.Post.created_at, m.Post.fetched_at)
    for start in range(0, len(ids), 1000):
        for pid, cid, at, url in session.execute(
            select(m.Post.id, m.Post.community_id, when, m.Post.url).where(m.Post.id.in_(ids[start:start + 1000]))
        ):
            if at is not None and at.tzinfo is None:  # coalesce() loses the UTC type decorator on SQLite
                at = at.replace(tzinfo=UTC)
            out[int(pid)] = _PostInfo(int(cid), at, url)
    return out


def _first_seen(posts_by_item: dict[int, list[int]], infos: dict[int, _PostInfo]) -> dict[int, dict[int, int]]:
    """item -> community -> earliest post id of that item in that community."""
    first: dict[int, dict[int, int]] = {}
    for item, post_ids in posts_by_item.items():
        per: dict[int, int] = {}
        for pid in post_ids:
            info = infos.get(pid)
            if info is None:
                continue
            best = per.get(info.community)
            if best is None or (info.at, pid) < (infos[best].at, best):
                per[info.community] = pid
        first[item] = per
    return first


def _propagate(acc: _Accumulator, posts_by_item: dict[int, list[int]], links: dict[int, dict[int, float]],
               infos: dict[int, _PostInfo], kind_of: Any, counter: str) -> None:
    """For every post, count each other community whose first copy of a linked item is earlier."""
    first = _first_seen(posts_by_item, infos)
    for item, post_ids in posts_by_item.items():
        # nearest first, then by item: the same order however the links were found
        neighbours = [(item, 0.0), *sorted(links.get(item, {}).items(), key=lambda kv: (kv[1], kv[0]))]
        for pid in post_ids:
            post = infos.get(pid)
            if post is None:
                continue
            for other, distance in neighbours:
                for community, earliest in first.get(other, {}).items():
                    if community == post.community:
                        continue
                    matched = infos[earliest]
                    if matched.at < post.at:
                        acc.add(kind_of(item, other), counter, community, post.community, post, pid, matched,
                                distance)


@dataclass
class MediaLinks:
    """What the range searches over images found so far, kept between cycles (:mod:`detect.pipeline`
    stores it): the pairs of files (SHA-256, smaller first) whose PDQ hashes are within the match
    distance, with their distance, and the PDQ each file is compared by (its first fingerprint of
    usable quality). A search is symmetric and two stored images never move, so an incremental cycle
    reads only the fingerprints stored since ``since`` (a fingerprint id), searches the PDQ of the files
    new there against the kept ones and takes the older links from here."""

    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    since: int = 0
    #: False: nothing kept yet, so every image is read and searched
    known: bool = False
    #: the files with a PDQ of usable quality, in the order they were kept, and that PDQ of each (n × 32 bytes)
    files: list[str] = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: np.zeros((0, BYTES), dtype=np.uint8))
    #: files whose PDQ is not a hash (never searched, but it stays the one they are compared by)
    odd: dict[str, str] = field(default_factory=dict)
    #: how many fingerprints had an id up to ``since`` when this was kept (fewer later: some were deleted)
    count: int = 0

    def forget(self) -> None:
        self.pairs, self.since, self.known, self.count = {}, 0, False, 0
        self.files, self.codes, self.odd = [], np.zeros((0, BYTES), dtype=np.uint8), {}


def _media(session: Session, acc: _Accumulator, dihedral: bool, around: set[int] | None = None,
           kept: MediaLinks | None = None) -> None:
    """Reposted images. ``around``: only pairs with a side in it are wanted, so only the items (distinct
    files) with a post there, and the items near them, are counted: a pair with a side there counts
    posts whose item is, or is near, an item of that side. ``kept``: what earlier searches found; only
    newer images are searched (the distance is symmetric, so each link is kept both ways), and what is
    found is added to it."""
    if around is not None:
        _media_around(session, acc, dihedral, around, kept if kept is not None else MediaLinks())
        return
    stmt = select(m.MediaFingerprint.post_id, m.MediaFingerprint.sha256, m.MediaFingerprint.pdq,
                  m.MediaFingerprint.pdq_quality, m.MediaFingerprint.id).join(
        m.Post, m.Post.id == m.MediaFingerprint.post_id)
    rows = session.execute(stmt.order_by(m.MediaFingerprint.id)).all()
    if not rows:
        return
    # Items: distinct sha256 values, numbered in order of first appearance. Their PDQ links items that look alike.
    kept = kept if kept is not None else MediaLinks()
    if not kept.known:
        kept.forget()
    since = kept.since if kept.known else -1
    near = _extend_links([(sha, pdq, quality, fid) for _, sha, pdq, quality, fid in rows if fid > since], dihedral,
                         kept)
    item_of_sha: dict[str, int] = {}
    posts_by_item: dict[int, list[int]] = defaultdict(list)
    for post_id, sha, *_ in rows:
        posts_by_item[item_of_sha.setdefault(sha, len(item_of_sha))].append(int(post_id))
    links = _item_links(near, item_of_sha)
    infos = _post_infos(session, (pid for pids in posts_by_item.values() for pid in pids))
    _propagate(acc, posts_by_item, links, infos, _media_kind, "media_matches")


def _extend_links(rows: Sequence[tuple[str, str | None, int | None, int]], dihedral: bool,
                  kept: MediaLinks) -> dict[str, dict[str, float]]:
    """Bring ``kept`` up to the fingerprints ``rows`` (sha256, pdq, quality, fingerprint id; in id order,
    all newer than ``kept.since``): each new file's PDQ (its first of usable quality) is kept, the new
    files are range-searched against every kept PDQ, and the links found are added. A file kept before
    needs no search: its links with everything stored since were found when those were searched. Returns
    every link, both ways."""
    known = {*kept.files, *kept.odd}
    files: list[str] = []
    codes: list[bytes] = []
    for sha, pdq, quality, _ in rows:
        if not pdq or (quality is not None and quality < MIN_QUALITY) or sha in known:
            continue
        known.add(sha)
        try:
            codes.append(parse_hex(pdq))
            files.append(sha)
        except InvalidHash:
            kept.odd[sha] = pdq
    if files:
        new = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, BYTES)
        kept.files.extend(files)
        kept.codes = np.concatenate([kept.codes, new])
        kept.pairs.update(_search_near(kept.files, kept.codes, len(kept.files) - len(files), dihedral))
    if rows:
        kept.since = max(kept.since, max(int(r[3]) for r in rows))
        kept.count += len(rows)
    kept.known = True
    near: dict[str, dict[str, float]] = defaultdict(dict)
    for (a, b), distance in kept.pairs.items():
        near[a][b] = near[b][a] = distance
    return near


def _search_near(files: list[str], codes: np.ndarray, first_new: int, dihedral: bool) -> dict[tuple[str, str], float]:
    """The pairs of ``files`` (smaller sha256 first) whose ``codes`` are within the match distance, with a
    side from ``first_new`` on, with their distance. Files with the same hash are linked at distance 0;
    each distinct hash is indexed and searched once, so a picture reposted many times is one query."""
    distinct, group = np.unique(np.ascontiguousarray(codes).view(np.dtype((np.void, BYTES))).ravel(),
                                return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(len(distinct) + 1))

    def files_of(code: int) -> list[str]:
        return [files[i] for i in order[starts[code]:starts[code + 1]].tolist()]

    queries = np.unique(group[first_new:])
    index = PdqIndex()
    index.add_codes(np.arange(len(distinct), dtype=np.int64), distinct.view(np.uint8).reshape(-1, BYTES))
    index.flush()
    q, ids, dist = index.nearest_codes(distinct.view(np.uint8).reshape(-1, BYTES)[queries], radius=MATCH_DISTANCE,
                                       dihedral=dihedral)
    found: dict[tuple[str, str], float] = {}
    for qi, match, distance in zip(queries[q].tolist(), ids.tolist(), dist.tolist(), strict=True):
        for a in files_of(qi):
            for b in files_of(match):
                if a != b:
                    found[(a, b) if a < b else (b, a)] = float(distance)
    return found


def _item_links(near: dict[str, dict[str, float]], item_of_sha: dict[str, int]) -> dict[int, dict[int, float]]:
    """The links between files, between the items of ``item_of_sha`` (files not there are left out)."""
    links: dict[int, dict[int, float]] = defaultdict(dict)
    for sha, others in near.items():
        item = item_of_sha.get(sha)
        if item is None:
            continue
        for other, distance in others.items():
            other_item = item_of_sha.get(other)
            if other_item is not None:
                links[item][other_item] = distance
    return links


def _media_kind(item: int, other: int) -> str:
    return "media_sha256" if item == other else "media_pdq"


def _kept_is_whole(session: Session, kept: MediaLinks) -> bool:
    """Whether every fingerprint ``kept`` was brought up to is still stored (none was deleted since)."""
    fp = m.MediaFingerprint
    return int(session.scalar(select(func.count()).select_from(fp).where(fp.id <= kept.since)) or 0) == kept.count


def _media_around(session: Session, acc: _Accumulator, dihedral: bool, around: set[int], kept: MediaLinks) -> None:
    """:func:`_media` for the pairs with a side in ``around``, with the same figures and examples: only the
    fingerprints stored since ``kept`` are read and searched (all of them when nothing is kept, or when a
    fingerprint it counted was deleted since), and posts only for the files of ``around``'s communities and
    the files near them. A file's item is its first fingerprint's id (items are ordered as a whole-store
    read numbers them: by first appearance)."""
    fp = m.MediaFingerprint
    if kept.known and not _kept_is_whole(session, kept):
        log.info("image fingerprints were deleted since the last cycle: every image is searched again")
        kept.forget()
    rows = session.execute(select(fp.sha256, fp.pdq, fp.pdq_quality, fp.id)
                           .where(fp.id > (kept.since if kept.known else -1)).order_by(fp.id)).all()
    near = _extend_links([(sha, pdq, quality, fid) for sha, pdq, quality, fid in rows], dihedral, kept)
    ids = sorted(around)
    mine: set[str] = set()
    for start in range(0, len(ids), 500):
        mine.update(session.scalars(select(fp.sha256).join(m.Post, m.Post.id == fp.post_id)
                                    .where(m.Post.community_id.in_(ids[start:start + 500])).distinct()))
    shas = sorted(mine | {other for sha in mine for other in near.get(sha, {})})
    found: list[tuple[int, int, str]] = []
    for start in range(0, len(shas), 500):
        found.extend((int(fid), int(pid), str(sha)) for fid, pid, sha in session.execute(
            select(fp.id, fp.post_id, fp.sha256).where(fp.sha256.in_(shas[start:start + 500]))))
    item_of_sha: dict[str, int] = {}
    posts_by_item: dict[int, list[int]] = defaultdict(list)
    for fid, pid, sha in sorted(found):  # in fingerprint order, as a whole-store read groups them
        posts_by_item[item_of_sha.setdefault(sha, fid)].append(pid)
    infos = _post_infos(session, (pid for pids in posts_by_item.values() for pid in pids))
    _propagate(acc, posts_by_item, _item_links(near, item_of_sha), infos, _media_kind, "media_matches")


def _texts(session: Session, acc: _Accumulator, threshold: float) -> None:
    post_ids, matrix = textsig.load_signatures(session)
    if len(post_ids) == 0:
        return
    unique, inverse = np.unique(matrix, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    posts_by_item: dict[int, list[int]] = defaultdict(list)
    for pid, item in zip(post_ids.tolist(), inverse.tolist(), strict=True):
        posts_by_item[int(item)].append(int(pid))
    links: dict[int, dict[int, float]] = defaultdict(dict)
    i, j, sim = textsig.near_duplicate_pairs(unique, threshold)
    for a, b, s in zip(i.tolist(), j.tolist(), sim.tolist(), strict=True):
        distance = round(1.0 - float(s), 3)
        links[a][b] = distance
        links[b][a] = distance
    infos = _post_infos(session, post_ids.tolist())
    _propagate(acc, posts_by_item, links, infos, lambda _a, _b: "text", "text_matches")


def forwarded_posts() -> Select[int, int, datetime, str, str | None, str | None, str | None, str | None]:
    """Every forwarded post, with where it was forwarded from (read through the partial index of them)."""
    when = func.coalesce(m.Post.created_at, m.Post.fetched_at)
    return (select(m.Post.id, m.Post.community_id, when, m.Post.url, m.Post.fwd_platform, m.Post.fwd_native_id,
                   m.Post.fwd_handle, m.Post.fwd_post_id)
            .where(or_(m.Post.fwd_native_id.is_not(None), m.Post.fwd_handle.is_not(None))))


def _forwards(session: Session, acc: _Accumulator) -> None:
    by_native: dict[tuple[str | None, str], int] = {}
    by_handle: dict[tuple[str | None, str], int] = {}
    for cid, platform, native_id, handle in session.execute(
        select(m.Community.id, m.Community.platform, m.Community.native_id, m.Community.handle)
    ):
        if native_id:
            by_native[(platform, native_id)] = int(cid)
        if handle:
            by_handle[(platform, handle.lower())] = int(cid)
    rows = session.execute(forwarded_posts()).all()
    for pid, cid, at, url, fwd_platform, fwd_native, fwd_handle, fwd_post in rows:
        source: int | None = by_native.get((fwd_platform, fwd_native)) if fwd_native else None
        if source is None and fwd_handle:
            source = by_handle.get((fwd_platform, fwd_handle.lower()))
        if source is None:
            continue
        at = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
        post = _PostInfo(int(cid), at, url)
        matched = _PostInfo(source, at, _forward_url(fwd_platform, fwd_handle, fwd_post))
        acc.add("forward", "forwards", source, int(cid), post, int(pid), matched, None)


def _forward_url(platform: str | None, handle: str | None, post_id: str | None) -> str | None:
    if platform == "telegram" and handle:
        return f"https://t.me/{handle}/{post_id}" if post_id else f"https://t.me/{handle}"
    return None


def content_overlaps(
    session: Session,
    community_ids: Collection[int] | None = None,
    *,
    text_threshold: float = textsig.DEFAULT_THRESHOLD,
    dihedral: bool = True,
    max_examples: int = MAX_EXAMPLES,
    around: Collection[int] | None = None,
    media_links: MediaLinks | None = None,
) -> dict[tuple[int, int], ContentOverlap]:
    """Directed content overlaps keyed ``(source_id, target_id)``: content first seen in source
    that later reappears in target. With ``community_ids``, only pairs with at least one side in
    it. ``dihedral`` also matches mirrored/rotated images (8 queries per distinct hash).

    ``around`` (an incremental cycle): only pairs with a side in it, reading only the posts that can
    count for them; the figures of those pairs are the same as a whole-store run's. ``media_links``
    (see :class:`MediaLinks`): only images newer than it are range-searched against all the others (the
    expensive part of a whole-store run), and it is brought up to date."""
    wanted = set(community_ids) if community_ids is not None else None
    near = set(around) if around is not None else None
    acc = _Accumulator(near if near is not None else wanted, max_examples)
    _media(session, acc, dihedral, near, media_links)
    _texts(session, acc, text_threshold)
    _forwards(session, acc)
    return acc.pairs
