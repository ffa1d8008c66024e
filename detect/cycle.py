"""The building blocks of a detection cycle (loading, links and announcements, candidates, alert drafts);
the stages that call them in order are in :mod:`detect.pipeline`, and each signal finds its own pairs
(``find`` in its module under :mod:`detect.signals`).

Which pairs are scored: every pair (A, B) where A is *of interest* (watched, or shut down / renamed)
and B is reached from A by a link, by shared members, by reposted content, by a similar name (only
for A that shut down or renamed, since a live community's namesakes are no evidence of anything) or
by a name search. Direction: A is the one that shut down or renamed, else the watched one, else the
older one; content overlaps are already directed (first seen in A, reappearing in B).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from config.settings import Settings
from detect import events as ev
from detect.hold import Hold
from detect.language import load_phrases, successor_phrases
from detect.leads import COMMUNITY_LINKS, invite_handle
from detect.names import key_similarity
from detect.overlap import pair_metrics
from detect.scoring import (
    Announcement,
    PairScore,
    Signal,
)
from model.records import GONE_STATUSES
from model.vocab import WATCHED_STATES, AlertDraft, CommunityInfo, level_rank
from store import models as m
from store.resolve import CommunityResolver

log = logging.getLogger("resurface.detect")


@dataclass
class CycleReport:
    events: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    pairs_scored: int = 0
    seconds: float = 0.0
    #: whether the cycle rebuilt from the whole store (else it worked from what changed since the last)
    full: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "leads": self.leads, "candidates": self.candidates, "alerts": self.alerts,
                "pairs_scored": self.pairs_scored, "seconds": round(self.seconds, 3), "full": self.full}


# --- loading -------------------------------------------------------------------------------------


def _communities(session: Session, ids: Iterable[int] | None = None) -> dict[int, CommunityInfo]:
    """Every community (or those with the given ids) as detection reads it."""
    if ids is not None:
        wanted = sorted(set(ids))
        return {k: v for start in range(0, len(wanted), 500)
                for k, v in _communities_where(session, m.Community.id.in_(wanted[start:start + 500])).items()}
    return _communities_where(session, None)


def _communities_where(session: Session, where: Any) -> dict[int, CommunityInfo]:
    stmt = select(m.Community.id, m.Community.platform, m.Community.handle, m.Community.title, m.Community.status,
                  m.Community.kind, m.Community.watch_state, m.Community.member_count, m.Community.depth,
                  m.Community.created_at_platform, m.Community.first_seen, m.Community.last_seen,
                  m.Community.case_name, cast(m.Community.labels, String).label("labels"), m.Community.url,
                  m.Community.removed_at)
    if where is not None:
        stmt = stmt.where(where)
    return {row.id: CommunityInfo(id=row.id, platform=row.platform, handle=row.handle, title=row.title,
                                  status=row.status, kind=row.kind, watch_state=row.watch_state,
                                  member_count=row.member_count, case_name=row.case_name,
                                  labels=_labels(row.labels), url=row.url, first_seen=row.first_seen,
                                  last_seen=row.last_seen, created_at_platform=row.created_at_platform,
                                  removed_at=row.removed_at, depth=row.depth or 0)
            for row in session.execute(stmt)}


def _labels(text: str | None) -> tuple[str, ...]:
    """A community's labels from the database's text of the JSON column: most communities have none, and
    decoding ten thousand empty lists was a tenth of reading every community."""
    if not text or text in ("[]", "null"):
        return ()
    return tuple(str(label) for label in json.loads(text) or ())


#: Per community, the handle and title of each snapshot and whether it was read normally (a native id and
#: no gone status: its handle was the community's then), oldest first.
SnapshotNames = dict[int, list[tuple[str | None, str | None, bool]]]


def _snapshot_names(session: Session) -> SnapshotNames:
    """Every snapshot's handle and title (the names a community had): three narrow columns, not the
    snapshots themselves, which an incremental cycle reads only for the communities that changed."""
    stmt = (select(m.Snapshot.community_id, m.Snapshot.handle, m.Snapshot.title, m.Snapshot.native_id.is_not(None),
                   m.Snapshot.status)
            .order_by(m.Snapshot.community_id, m.Snapshot.observed_at, m.Snapshot.id))
    out: SnapshotNames = defaultdict(list)
    for cid, handle, title, has_native, status in session.execute(stmt):
        out[int(cid)].append((handle, title, bool(has_native) and status not in GONE_STATUSES))
    return out


def _names(communities: dict[int, CommunityInfo], snapshots: SnapshotNames) -> dict[int, list[str]]:
    """Every title and handle a community has had, newest first."""
    names: dict[int, list[str]] = {}
    for cid, info in communities.items():
        seen: dict[str, None] = {}
        for name in (info.title, info.handle):
            if name:
                seen.setdefault(name, None)
        for handle, title, _ in reversed(snapshots.get(cid, [])):
            for name in (title, handle):
                if name:
                    seen.setdefault(name, None)
        names[cid] = list(seen)
    return names


def _resolver(communities: dict[int, CommunityInfo], snapshots: SnapshotNames) -> CommunityResolver:
    """Which community a link's handle names, by the store's rules (:mod:`store.resolve`): a current handle,
    else one a community had in a readable snapshot; where two share one, the older community."""
    old = ((cid, handle) for cid in sorted(snapshots) for handle, _, readable in snapshots[cid] if readable and handle)
    return CommunityResolver.build(sorted(communities.values(), key=lambda info: info.id), {}, old)


def _post_times(session: Session, ids: Iterable[int] | None = None
                ) -> dict[int, tuple[datetime | None, datetime | None]]:
    """Per community, its first and last post's time (with ``ids``, of those communities only)."""
    stmt = (select(m.Post.community_id, func.min(m.Post.created_at), func.max(m.Post.created_at))
            .group_by(m.Post.community_id))
    if ids is None:
        return {cid: (first, last) for cid, first, last in session.execute(stmt)}
    wanted = sorted(set(ids))
    return {cid: (first, last) for start in range(0, len(wanted), 500)
            for cid, first, last in session.execute(stmt.where(m.Post.community_id.in_(wanted[start:start + 500])))}


@dataclass(frozen=True, slots=True)
class SourceEvent:
    kind: str
    at: datetime


def invite_details(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """What the public page of each private Telegram invite among ``ids`` shows (title, description,
    member count), read without joining; communities that are not invites are left out."""
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        stmt = (select(m.Community.id, m.Community.url, m.Community.title, m.Community.description,
                       m.Community.member_count, m.Community.attrs, m.Community.last_seen)
                .where(m.Community.id.in_(wanted[start:start + 500])))
        for cid, url, title, description, members, attrs, seen in session.execute(stmt):
            if not (attrs or {}).get("private_invite"):
                continue
            out[int(cid)] = {"invite_url": url, "invite_title": title, "invite_description": description,
                             "invite_members": members, "needs_human": True,
                             "reason": "private invite: a person decides whether to act; never joined",
                             "page_read": False, "observed_at": seen.isoformat() if seen else None}
    if out:  # what the public page showed the last time it was read (ingest keeps it in the snapshots)
        stmt2 = (select(m.Snapshot.community_id, m.Snapshot.title, m.Snapshot.description, m.Snapshot.member_count,
                        m.Snapshot.last_observed_at, m.Snapshot.source_url)
                 .where(m.Snapshot.community_id.in_(list(out)), m.Snapshot.title.is_not(None))
                 .order_by(m.Snapshot.observed_at, m.Snapshot.id))
        for cid, title, description, members, seen, source_url in session.execute(stmt2):
            out[int(cid)].update({"invite_title": title, "invite_description": description, "invite_members": members,
                                  "page_read": True, "observed_at": seen.isoformat(), "source_url": source_url})
    return out


def surge_details(session: Session) -> dict[int, list[dict[str, Any]]]:
    """Per community: the evidence of its member-count surges (from, to, factor, observed_at)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    stmt = (select(m.Event.community_id, m.Event.occurred_at, m.Event.evidence)
            .where(m.Event.kind == "surge").order_by(m.Event.occurred_at))
    for cid, at, evidence in session.execute(stmt):
        detail = {k: v for k, v in (evidence or {}).items()
                  if k in ("measure", "from", "to", "factor", "joins", "day", "observed_at")}
        detail.setdefault("observed_at", (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat())
        out[cid].append(detail)
    return out


def _event_summary(session: Session) -> tuple[dict[int, SourceEvent], dict[int, list[datetime]]]:
    """Per community: its latest shutdown/rename, and its surges."""
    latest: dict[int, SourceEvent] = {}
    surges: dict[int, list[datetime]] = defaultdict(list)
    stmt = select(m.Event.community_id, m.Event.kind, m.Event.occurred_at).order_by(m.Event.occurred_at)
    for cid, kind, at in session.execute(stmt):
        if kind == "surge":
            surges[cid].append(at)
        elif kind == "recovered":  # back after its shutdown: not gone any more
            if cid in latest and latest[cid].kind == "shutdown":
                del latest[cid]
        elif kind in ("shutdown", "rename", "handle_reuse"):
            latest[cid] = SourceEvent("shutdown" if kind == "shutdown" else "rename", at)
    return latest, surges


# --- pair discovery ------------------------------------------------------------------------------


@dataclass
class _Links:
    announcements: dict[tuple[int, int], list[Announcement]] = field(default_factory=lambda: defaultdict(list))
    pairs: set[tuple[int, int]] = field(default_factory=set)
    events: list[ev.EventDraft] = field(default_factory=list)


def _resolve_link(handles: CommunityResolver, platform: str | None, handle: str | None,
                  code: str | None) -> int | None:
    if not handle and code:  # a private invite, stored as the community "+CODE" (detect.leads)
        handle = invite_handle(code)
    return handles.handle(platform, handle)


def _posters_around(session: Session, focus: set[int], handles: CommunityResolver) -> set[int]:
    """The communities whose links can make an announcement of a pair with a side in ``focus``: the
    focus itself and every community linking into it."""
    posters = set(focus)
    stmt = (select(m.Link.community_id, m.Link.target_platform, m.Link.target_handle, m.Link.invite_code)
            .where(m.Link.kind.in_([str(k) for k in COMMUNITY_LINKS]),
                   or_(m.Link.target_handle.is_not(None), m.Link.invite_code.is_not(None))))
    for cid, platform, handle, code in session.execute(stmt):
        if cid not in posters and _resolve_link(handles, platform, handle, code) in focus:
            posters.add(int(cid))
    return posters


def _text_digest(text: str | None) -> str:
    return hashlib.blake2b((text or "").encode(), digest_size=8).hexdigest()


@dataclass
class PostPhrases:
    """The successor wording found in each post that links a community, kept between cycles (the wording of
    the same old posts is otherwise found again each cycle): post id -> (digest of its text, phrases). A post
    whose text changed since (edited, or purged) is read again. ``wording``: a digest of the phrase list the
    wording was found with."""

    wording: str = ""
    found: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    #: whether a post was read since this was loaded (the kept row is then written again)
    changed: bool = False

    def of(self, post_id: int, text: str | None) -> tuple[str, ...]:
        digest = _text_digest(text)
        kept = self.found.get(post_id)
        if kept is not None and kept[0] == digest:
            return kept[1]
        phrases = tuple(f"{p.language}:{p.phrase}" for p in successor_phrases(text))
        self.found[post_id] = (digest, phrases)
        self.changed = True
        return phrases


def wording_digest() -> str:
    """A digest of the successor phrase list (kept wording found with another list is found again)."""
    return hashlib.sha256(json.dumps(load_phrases(), sort_keys=True).encode()).hexdigest()[:16]


def _link_announcements(session: Session, interest: set[int], handles: CommunityResolver,
                        predecessor: Callable[[int, int], bool], focus: set[int] | None = None,
                        kept_wording: PostPhrases | None = None) -> _Links:
    """Links between communities as announcements. A post in A linking to B supports A → B; a post in B
    linking back to A with successor wording ("backup of @A") supports A → B too, but only when A is
    the predecessor (it shut down or renamed, or is the older one).

    With ``focus`` (an incremental cycle), only pairs with a side in it, from every link of the
    communities posting about them (so a post's and a community's fan-out are whole). ``kept_wording``: the
    wording kept from earlier cycles (posts read now are added)."""
    stmt = (select(m.Link.community_id, m.Link.post_id, m.Link.target_platform, m.Link.target_handle,
                   m.Link.invite_code, m.Post.url, m.Post.created_at, m.Post.text, m.Link.id)
            .join(m.Post, m.Post.id == m.Link.post_id)
            .where(m.Link.kind.in_([str(k) for k in COMMUNITY_LINKS]),
                   or_(m.Link.target_handle.is_not(None), m.Link.invite_code.is_not(None))))
    if focus is None:
        found = list(session.execute(stmt.order_by(m.Link.id)))
    else:
        posters = sorted(_posters_around(session, focus, handles))
        found = sorted((row for start in range(0, len(posters), 500)
                        for row in session.execute(stmt.where(m.Link.community_id.in_(posters[start:start + 500])))),
                       key=lambda row: row[-1])
    rows: list[tuple[int, int, int, str, datetime | None, str | None]] = []
    post_targets: dict[int, set[int]] = defaultdict(set)
    community_targets: dict[int, set[int]] = defaultdict(set)
    for cid, post_id, platform, handle, code, url, created, text, _link_id in found:
        target = _resolve_link(handles, platform, handle, code)
        if target is None or target == cid or post_id is None:
            continue
        post_targets[post_id].add(target)
        community_targets[cid].add(target)
        rows.append((cid, post_id, target, url, created, text))
    out = _Links()
    wording = kept_wording if kept_wording is not None else PostPhrases()
    seen: set[tuple[int, int, int]] = set()
    for cid, post_id, target, url, created, text in rows:
        if (cid, post_id, target) in seen:
            continue
        seen.add((cid, post_id, target))
        if focus is not None and cid not in focus and target not in focus:
            continue
        phrases = wording.of(post_id, text)
        fanout, community_fanout = len(post_targets[post_id]), len(community_targets[cid])
        # A post pointing back at its own predecessor ("backup of the closed @A") is not an
        # announcement that the predecessor is where this community went.
        if cid in interest and not predecessor(target, cid):
            out.announcements[(cid, target)].append(
                Announcement(url, created, phrases, fanout, community_fanout, in_source=True))
            out.pairs.add((cid, target))
        if target in interest and phrases and predecessor(target, cid):
            out.announcements[(target, cid)].append(
                Announcement(url, created, phrases, fanout, community_fanout, in_source=False))
            out.pairs.add((target, cid))
        if phrases and created is not None:
            out.events.append(ev.EventDraft(
                "announcement", f"announcement:{post_id}:{target}", cid, created,
                {"post_url": url, "phrases": list(phrases), "post_links_to_communities": fanout},
                related_community_id=target))
    return out


def _orient(a: int, b: int, interest: set[int], gone: dict[int, SourceEvent],
            started: Mapping[int, datetime]) -> tuple[int, int] | None:
    if a not in interest and b not in interest:
        return None
    if (a in interest) != (b in interest):
        return (a, b) if a in interest else (b, a)
    if (a in gone) != (b in gone):
        return (a, b) if a in gone else (b, a)
    if a in gone and b in gone:
        return (a, b) if gone[a].at <= gone[b].at else (b, a)
    never = datetime.max.replace(tzinfo=UTC)
    return (a, b) if started.get(a, never) <= started.get(b, never) else (b, a)


def _best_name(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> tuple[float, str, str]:
    best = (0.0, "", "")
    for name_a, key_a in a:
        for name_b, key_b in b:
            sim = key_similarity(key_a, key_b)
            if sim > best[0]:
                best = (sim, name_a, name_b)
    return best


# --- persistence ---------------------------------------------------------------------------------


def _signals_json(score: PairScore) -> list[dict[str, Any]]:
    return [s.as_dict() for s in score.signals]


def _upsert_candidate(session: Session, existing: dict[tuple[int, int], m.Candidate], score: PairScore,
                      now: datetime) -> tuple[m.Candidate, bool]:
    assert score.level is not None
    signals = _signals_json(score)
    row = existing.get((score.source_id, score.target_id))
    if row is None:
        row = m.Candidate(source_id=score.source_id, target_id=score.target_id, score=score.score, level=score.level,
                          signals=signals, state="open", computed_at=now)
        session.add(row)
        return row, True
    if abs(row.score - score.score) > 1e-9 or row.level != score.level or row.signals != signals:
        row.score, row.level, row.signals, row.computed_at = score.score, score.level, signals, now
    return row, False


def _watch_candidate(session: Session, target_id: int, source_id: int) -> None:
    target = session.get(m.Community, target_id)
    source = session.get(m.Community, source_id)
    if target is None or source is None or target.watch_state != "seen":
        return
    target.watch_state = "candidate"
    target.origin_community_id = source.id
    target.depth = (source.depth or 0) + 1
    target.case_name = target.case_name or source.case_name
    target.labels = sorted({*(target.labels or []), *(source.labels or [])})


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


def event_alert_drafts(new_events: Sequence[m.Event], communities: dict[int, CommunityInfo],
                       holds: Mapping[int, Hold] | None = None) -> list[AlertDraft]:
    """Shutdown and rebrand alerts for watched communities, from the events this cycle stored. ``holds``:
    shutdowns that stay "likely" while links that may lead to the same channel are unread
    (:mod:`detect.hold`)."""
    drafts: list[AlertDraft] = []
    renames: dict[int, list[m.Event]] = defaultdict(list)
    for event in new_events:
        info = communities.get(event.community_id)
        if info is None or info.watch_state not in WATCHED_STATES:
            continue
        if event.kind in ("rename", "handle_reuse"):
            renames[event.community_id].append(event)
        elif event.kind == "shutdown":
            # strong only on an unambiguous "gone" answer; repetition of failures or of ambiguous
            # answers (a bare 403/404) confirms a shutdown at "likely"
            confirmed_gone = (event.evidence.get("status") in GONE_STATUSES
                              and event.evidence.get("definitive", True) is not False)
            hold = (holds or {}).get(event.community_id) if confirmed_gone else None
            strong = confirmed_gone and hold is None
            drafts.append(AlertDraft(kind="shutdown", level="strong" if strong else "likely",
                                     score=1.0 if strong else 0.8, source_community_id=event.community_id,
                                     target_community_id=None,
                                     signals=[{"name": "shutdown", "score": 1.0 if strong else 0.8,
                                               "evidence": [{**event.evidence,
                                                             "occurred_at": event.occurred_at.isoformat(),
                                                             **(hold.evidence() if hold else {})}]}],
                                     dedup_key=event.dedup_key))
        elif event.kind == "recovered" and event.evidence.get("shutdown_key"):
            # the shutdown alert of a community that came back is marked recovered (issue 15, class 8):
            # the lifecycle adds this signal to the alert under the shutdown's key and tells its audiences
            drafts.append(AlertDraft(kind="shutdown", level="possible", score=0.0,
                                     source_community_id=event.community_id, target_community_id=None,
                                     signals=[{"name": "recovered", "score": 0.0,
                                               "evidence": [{k: v for k, v in event.evidence.items()
                                                             if k != "shutdown_key"}]}],
                                     dedup_key=str(event.evidence["shutdown_key"])))
    for cid, items in renames.items():
        target = next((e.related_community_id for e in items if e.related_community_id), None)
        if target is None and any((e.evidence or {}).get("field") == "handle" for e in items):
            # a handle change of the same channel (same stable id): the target is the channel under its
            # new handle, and the alert's source names the old one (issue 15, class 4)
            target = cid
        evidence = [{**e.evidence, "kind": e.kind, "occurred_at": e.occurred_at.isoformat()} for e in items]
        drafts.append(AlertDraft(kind="rebrand", level="strong", score=1.0, source_community_id=cid,
                                 target_community_id=target,
                                 signals=[{"name": "rename", "score": 1.0, "evidence": evidence}],
                                 dedup_key=f"rebrand:{cid}:{_digest([e.dedup_key for e in items])}"))
    return drafts


def candidate_drafts(session: Session, scores: Sequence[PairScore], communities: dict[int, CommunityInfo],
                     settings: Settings, now: datetime, report: CycleReport) -> list[AlertDraft]:
    """Store the scored pairs as candidates (honouring analysts' verdicts), start watching the targets of
    alerting ones, and return their migration alert drafts, best first."""
    detect = settings.detect
    kept = [s for s in scores if s.level is not None]
    if len(kept) * 4 < len(communities):  # a few pairs (an incremental cycle): read only their rows
        sources = sorted({s.source_id for s in kept})
        existing = {(c.source_id, c.target_id): c for start in range(0, len(sources), 500)
                    for c in session.scalars(select(m.Candidate).where(
                        m.Candidate.source_id.in_(sources[start:start + 500])))}
    else:
        existing = {(c.source_id, c.target_id): c for c in session.scalars(select(m.Candidate))}
    threshold = level_rank(detect.alert_level)
    drafts: list[AlertDraft] = []
    for score in sorted(kept, key=lambda s: -s.score):
        row, created = _upsert_candidate(session, existing, score, now)
        if level_rank(score.level) >= threshold:
            reopen = (row.state == "dismissed" and row.dismissed_score is not None
                      and score.score >= row.dismissed_score + detect.dismiss_margin)
            if row.state != "dismissed" or reopen:
                if reopen:
                    row.state = "open"
                session.flush()
                _watch_candidate(session, score.target_id, score.source_id)
                assert score.level is not None
                # After a dismissal, a risen pair is a new alert (a fresh delivery), not the dismissed one.
                key = (f"migration:{score.source_id}:{score.target_id}:after-dismissal:{row.dismissed_score:.4f}"
                       if row.dismissed_score is not None else None)
                drafts.append(AlertDraft(
                    kind="migration", level=score.level, score=score.score, source_community_id=score.source_id,
                    target_community_id=score.target_id, signals=_signals_json(score), dedup_key=key))
        report.candidates.append({
            "source_id": score.source_id, "target_id": score.target_id,
            "source": _label(communities.get(score.source_id)), "target": _label(communities.get(score.target_id)),
            "score": round(score.score, 4), "level": score.level, "state": row.state, "new": created,
            "signals": {s.name: round(s.score, 3) for s in score.signals},
        })
    return drafts


@dataclass(frozen=True, slots=True)
class StoredCandidate:
    source_id: int
    target_id: int
    score: float
    level: str | None
    state: str
    signals: list[dict[str, Any]]


def read_candidates(session: Session) -> list[StoredCandidate]:
    """Every stored candidate as an incremental cycle reads it, once: its start (the pairs whose member
    universe moved) and its report (the pairs it did not score again, which nothing in the cycle changes)."""
    stmt = select(m.Candidate.source_id, m.Candidate.target_id, m.Candidate.score, m.Candidate.level,
                  m.Candidate.state, m.Candidate.signals)
    return [StoredCandidate(int(source), int(target), float(score), level, str(state), list(signals or ()))
            for source, target, score, level, state, signals in session.execute(stmt)]


def stored_candidates(rows: Iterable[StoredCandidate], skip: set[tuple[int, int]],
                      communities: dict[int, CommunityInfo]) -> list[dict[str, Any]]:
    """Report rows for the stored candidates an incremental cycle did not score again (nothing about
    them changed), in the shape :func:`candidate_drafts` reports."""
    return [{"source_id": r.source_id, "target_id": r.target_id, "source": _label(communities.get(r.source_id)),
             "target": _label(communities.get(r.target_id)), "score": round(r.score, 4), "level": r.level,
             "state": r.state, "new": False, "signals": {s["name"]: round(float(s["score"]), 3) for s in r.signals}}
            for r in rows if (r.source_id, r.target_id) not in skip]


def pairs_with_members(rows: Iterable[StoredCandidate], platforms: set[str], communities: dict[int, CommunityInfo],
                       universes: Mapping[str, int], dirty: set[int]
                       ) -> tuple[set[tuple[int, int]], list[PairScore]]:
    """Stored candidates with shared members on a side in ``platforms``, whose member significance is
    judged against the platform's population, which moved (``universes``: the new one). Pairs with a
    dirty side are scored again anyway and left out. For the others nothing but that figure changed:

    - when it was and stays clear of chance (−log10 p ≥ 2, where the members signal no longer depends
      on it), the signal's value and so the pair's score stay the same and only the evidence's
      significance moves: the stored candidate is returned with that figure updated (computed from the
      stored counts, exactly as the overlap computes it);
    - otherwise the pair (min id, max id) is returned to be scored again with all its evidence."""
    rescore: set[tuple[int, int]] = set()
    #: the pairs whose new significance is computed (all at once, below), with their counts and stored figure
    moved: list[tuple[int, int, float, str | None, Any, dict[str, Any], dict[str, Any], tuple[int, int, int, int],
                      float]] = []
    for row in rows:
        source, target, score, level, signals = row.source_id, row.target_id, row.score, row.level, row.signals
        if source in dirty or target in dirty or source not in communities or target not in communities:
            continue
        sides = [communities[source].platform, communities[target].platform]
        members = next((x for x in signals or () if x.get("name") == "members" and x.get("score", 0) > 0), None)
        if members is None or not set(sides) & platforms:
            continue
        evidence = dict(members["evidence"][0]) if members.get("evidence") else {}
        try:
            shared, size_s, size_t = (int(evidence[k]) for k in ("shared_members", "source_members",
                                                                   "target_members"))
            before = float(evidence["significance_neg_log10_p"])
        except (KeyError, TypeError, ValueError):
            rescore.add((min(source, target), max(source, target)))
            continue
        # the overlap computes it with the lower id first (same platform) or source first (two platforms)
        first, second = (size_s, size_t) if sides[0] != sides[1] or source < target else (size_t, size_s)
        universe = sum(universes.get(p, 0) for p in set(sides))
        moved.append((source, target, float(score), level, signals, members, evidence,
                      (shared, first, second, universe), before))
    counts = np.asarray([row[7] for row in moved], dtype=np.int64).reshape(-1, 4)
    after_all = pair_metrics(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3])[2].tolist() if moved else []
    patched: list[PairScore] = []
    for (source, target, score, level, signals, members, evidence, _, before), after in zip(
            moved, after_all, strict=True):
        if before < CHANCE_CLEAR or after < CHANCE_CLEAR:
            rescore.add((min(source, target), max(source, target)))
            continue
        evidence["significance_neg_log10_p"] = round(after, 2)
        patched.append(PairScore(source, target, score, level, tuple(
            Signal(x["name"], float(x["score"]), [evidence] if x is members else list(x.get("evidence") or []))
            for x in signals)))
    return rescore, patched


#: Member significance this far above the members signal's chance threshold (−log10 p = 2) no longer
#: changes the signal's value (the margin covers the two decimals the evidence keeps).
CHANCE_CLEAR = 2.02


def _label(info: CommunityInfo | None) -> str:
    if info is None:
        return "?"
    return f"{info.platform}:{info.handle or info.title or info.id}"
