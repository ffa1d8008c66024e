"""The detection pipeline: stages registered in order, each reading and extending one context.

Stages: events → leads → announcements → name search → text signatures → hash lists → pair discovery
→ signals → scoring → candidates → event alerts. The pipeline never raises an alert itself: it
returns :class:`~model.vocab.AlertDraft` s in order, and the service hands them to the alert lifecycle
(:func:`service.detection.run_detection`). ``resurface detect``, the scheduler's detect job and the
demo all run it through that one function.

Incrementality: each cycle leaves a watermark (:mod:`detect.changes`), and the next one works from what
changed since: ``ctx.dirty`` holds the communities with anything new (posts, links, images, snapshots
or repeated observations, members, events, their own row), and a stage narrows its work to pairs with a
side there (:meth:`Context.touched`), gathering *all* the evidence of those pairs, so each is scored as
a whole-store cycle would score it. Pairs not touched keep their stored candidate rows. ``full=True``
(``resurface detect --full``), the first cycle, a change of the detect settings or of the registered
signals, or a watermark older than ``detect.full_every_hours`` rebuild everything. A caller may also
pass :class:`Changes` (what ingest reported in the same process); their communities are added to the
dirty ones.

It runs in the caller's transaction and is idempotent: events are deduplicated by key, leads by URL,
candidates by (source, target), and alerts by the lifecycle's dedup key.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from detect import changes as ch
from detect import cycle as c
from detect import events as ev
from detect import hold
from detect.hashlists import hash_match_drafts
from detect.leads import NameSearch, discover_leads, follow_site_links, search_similar
from detect.names import normalise_name
from detect.scoring import ContentEvidence, MemberEvidence, PairEvidence, PairScore, score_pair
from detect.signals import signals
from detect.signals.base import PairFinder
from detect.textsig import signature_missing_posts
from model.vocab import WATCHED_STATES, AlertDraft, CommunityInfo
from store import models as m
from store.resolve import CommunityResolver

log = logging.getLogger("resurface.detect")


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last cycle, as ingest reports it. ``None`` fields mean "not known"."""

    new_post_ids: frozenset[int] | None = None
    changed_community_ids: frozenset[int] | None = None
    new_fingerprint_ids: frozenset[int] | None = None


PostTimes = tuple[datetime | None, datetime | None]


class _PostTimes(Mapping[int, PostTimes]):
    """First and last post time per community: every community's at once (a full cycle), or read on
    first use (an incremental one, which looks at a few communities only)."""

    def __init__(self, session: Session | None = None, *, everything: bool = False) -> None:
        self._session = session
        self._known: dict[int, PostTimes] = c._post_times(session) if session is not None and everything else {}
        self._complete = everything or session is None
        self._none: set[int] = set()

    def prefetch(self, ids: Iterable[int]) -> None:
        if self._complete or self._session is None:
            return
        missing = {i for i in ids if i not in self._known and i not in self._none}
        if missing:
            found = c._post_times(self._session, missing)
            self._known.update(found)
            self._none |= missing - found.keys()

    def __getitem__(self, cid: int) -> PostTimes:
        if cid not in self._known:
            self.prefetch([cid])
        return self._known[cid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


class _Started(Mapping[int, datetime]):
    """When each community started: its platform creation date, else its first post, else when we
    first saw it (computed on use, so it follows communities added during the cycle)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def __getitem__(self, cid: int) -> datetime:
        info = self._ctx.communities[cid]
        return info.created_at_platform or self._ctx.post_times.get(cid, (None, None))[0] or info.first_seen

    def __iter__(self) -> Iterator[int]:
        return iter(self._ctx.communities)

    def __len__(self) -> int:
        return len(self._ctx.communities)


@dataclass
class Context:
    """Everything a stage may read or extend. Stages add to the working state in order."""

    session: Session
    settings: Settings
    search: NameSearch | None = None
    changes: Changes = field(default_factory=Changes)
    full: bool = True
    #: an incremental cycle: the stored candidates, when read at its start (else read for the report)
    stored: list[c.StoredCandidate] | None = None
    #: an incremental cycle: the communities with anything new since the last cycle (None: full)
    dirty: set[int] | None = None
    #: an incremental cycle: further pairs (min id, max id) to score again (their member universe moved)
    extra: set[tuple[int, int]] = field(default_factory=set)
    #: an incremental cycle: stored candidates whose only change is their member significance, updated
    patched: list[PairScore] = field(default_factory=list)
    #: what an incremental cycle reads evidence around: the dirty communities and both sides of ``extra``
    focus: set[int] = field(default_factory=set)
    #: the watermark of the last cycle (None: none yet), and the one this cycle leaves
    mark: ch.Watermark | None = None
    new_mark: ch.Watermark | None = None
    #: the communities as they were when the cycle started
    at_start: dict[int, CommunityInfo] = field(default_factory=dict)
    #: per platform, the population member overlaps are judged against (read once, at the start)
    universes: dict[str, int] | None = None
    #: memberships per community (read with the watermark, at the start)
    member_counts: dict[int, int] = field(default_factory=dict)
    #: names reduced to their comparison key, kept between cycles (an incremental cycle reuses them)
    name_keys: dict[str, str] = field(default_factory=dict)
    report: c.CycleReport = field(default_factory=c.CycleReport)
    drafts: list[AlertDraft] = field(default_factory=list)
    now: datetime = field(default_factory=m.utcnow)
    # working state
    #: every snapshot's names (see :data:`detect.cycle.SnapshotNames`)
    snapshots: c.SnapshotNames = field(default_factory=dict)
    event_drafts: list[ev.EventDraft] = field(default_factory=list)
    communities: dict[int, CommunityInfo] = field(default_factory=dict)
    handles: CommunityResolver = field(default_factory=CommunityResolver)
    names: dict[int, list[str]] = field(default_factory=dict)
    first_events: list[m.Event] = field(default_factory=list)
    new_events: list[m.Event] = field(default_factory=list)
    gone: dict[int, c.SourceEvent] = field(default_factory=dict)
    surges: dict[int, list[datetime]] = field(default_factory=dict)
    surge_details: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    interest: set[int] = field(default_factory=set)
    post_times: _PostTimes = field(default_factory=_PostTimes)
    started: Mapping[int, datetime] = field(default_factory=dict)
    links: c._Links = field(default_factory=c._Links)
    pairs: set[tuple[int, int]] = field(default_factory=set)
    content: dict[tuple[int, int], ContentEvidence] = field(default_factory=dict)
    members: dict[tuple[int, int], MemberEvidence] = field(default_factory=dict)
    #: what plugin signals found for their pairs (``PairFinder``), by signal name and pair
    found: dict[str, dict[tuple[int, int], Any]] = field(default_factory=dict)
    scores: list[PairScore] = field(default_factory=list)

    def reload_communities(self) -> None:
        self.communities = c._communities(self.session)
        self.handles = c._resolver(self.communities, self.snapshots)
        self.names = c._names(self.communities, self.snapshots)

    def refresh_communities(self, ids: Iterable[int]) -> None:
        """Read again the given communities and any created since the cycle started (lead discovery)."""
        newest = max(self.communities, default=0)
        fresh = c._communities(self.session, ids)
        fresh.update(c._communities_where(self.session, m.Community.id > newest))
        self.communities = {**self.communities, **fresh}
        self.handles = c._resolver(self.communities, self.snapshots)
        self.names = c._names(self.communities, self.snapshots)

    def compute_started(self) -> None:
        self.started = _Started(self)

    def predecessor(self, a: int, b: int) -> bool:
        return c._orient(a, b, {a, b}, self.gone, self.started) == (a, b)

    def orient(self, a: int, b: int) -> tuple[int, int] | None:
        """The pair as (source, target): the side of interest, else the one that ended, else the older;
        None when neither side is of interest."""
        return c._orient(a, b, self.interest, self.gone, self.started)

    def key_of(self, name: str) -> str:
        key = self.name_keys.get(name)
        if key is None:
            key = self.name_keys[name] = normalise_name(name)
        return key

    def touched(self, a: int, b: int) -> bool:
        """Whether this cycle scores the pair: always in a full cycle; in an incremental one when a side
        changed, or the pair is among the extra ones."""
        return self.dirty is None or a in self.dirty or b in self.dirty or (min(a, b), max(a, b)) in self.extra


Stage = Callable[[Context], None]
#: The stages in the order they run. Add one with :func:`stage`; order is registration order.
STAGES: list[tuple[str, Stage]] = []


def stage(name: str) -> Callable[[Stage], Stage]:
    def register(fn: Stage) -> Stage:
        if any(existing == name for existing, _ in STAGES):
            raise ValueError(f"detection stage {name!r} is registered twice")
        STAGES.append((name, fn))
        return fn
    return register


@stage("events")
def _events(ctx: Context) -> None:
    # events of the communities that changed (of all in a full cycle) from their snapshots; the names of
    # every snapshot, since old handles and titles name communities
    changed = None if ctx.dirty is None else sorted(ctx.dirty)
    ctx.event_drafts = ev.derive_events(ctx.session, ctx.settings.detect, ev.load_snapshots(ctx.session, changed),
                                        changed)
    ctx.snapshots = c._snapshot_names(ctx.session)
    # the communities were read when the cycle started; events change none of them
    ctx.handles = c._resolver(ctx.communities, ctx.snapshots)
    ctx.names = c._names(ctx.communities, ctx.snapshots)


@stage("leads")
def _leads(ctx: Context) -> None:
    leads = discover_leads(ctx.session, ctx.settings.crawl)
    if leads.watched:
        ctx.refresh_communities({*leads.watched, *(lead.community_id for lead in leads.new_leads
                                                   if lead.community_id is not None)})
    ctx.report.leads = [{"url": lead.url, "state": lead.state, "kind": lead.kind, "platform": lead.platform,
                         "handle": lead.handle, "depth": lead.depth, "source_community_id": lead.source_community_id,
                         "reason": (lead.attrs or {}).get("reason")} for lead in leads.new_leads]
    ctx.first_events = ev.persist_events(ctx.session, ctx.event_drafts)
    ctx.gone, ctx.surges = c._event_summary(ctx.session)
    ctx.surge_details = c.surge_details(ctx.session)
    followed = follow_site_links(ctx.session, sorted(ctx.gone), ctx.settings.crawl)
    if followed:
        ctx.refresh_communities(followed)
    ctx.interest = ({cid for cid, info in ctx.communities.items() if info.watch_state in WATCHED_STATES}
                    | set(ctx.gone))
    # Communities that lead discovery created or started watching just now are of interest from this
    # cycle on: they are dirty now, and their state as read here is what the next cycle compares with.
    changed = {cid for cid, info in ctx.communities.items() if ctx.at_start.get(cid) != info}
    if ctx.dirty is not None:  # (a community that shut down was of interest already, watched or not)
        now_of_interest = {cid for cid in changed if cid not in ctx.at_start or (
            cid not in ctx.gone and ctx.at_start[cid].watch_state not in WATCHED_STATES
            and ctx.communities[cid].watch_state in WATCHED_STATES)}
        ctx.dirty |= now_of_interest
        ctx.focus |= now_of_interest
    if ctx.new_mark is not None and changed:
        ctx.new_mark.communities.update(ch.community_digests(ctx.session, changed))
    ctx.post_times = _PostTimes(ctx.session, everything=ctx.dirty is None)
    ctx.post_times.prefetch(ctx.focus)
    ctx.compute_started()


@stage("announcements")
def _announcements(ctx: Context) -> None:
    wording = c.wording_digest()
    kept = c.PostPhrases(wording) if ctx.dirty is None else ch.load_post_phrases(ctx.session, wording)
    ctx.links = c._link_announcements(ctx.session, ctx.interest, ctx.handles, ctx.predecessor,
                                      None if ctx.dirty is None else ctx.focus, kept)
    if kept.changed or ctx.dirty is None:
        ch.save_post_phrases(ctx.session, kept)
    if ctx.dirty is not None:
        ctx.links.pairs = {p for p in ctx.links.pairs if ctx.touched(*p)}
    ctx.new_events = ctx.first_events + ev.persist_events(ctx.session, ctx.links.events)
    if ctx.new_mark is not None:  # the events stored so far were read by this cycle (gone, surges)
        ctx.new_mark.event_id = max([ctx.new_mark.event_id, *(e.id for e in ctx.new_events)])
    ctx.report.events = [{"kind": e.kind, "community_id": e.community_id,
                          "related_community_id": e.related_community_id, "occurred_at": e.occurred_at.isoformat(),
                          "evidence": e.evidence} for e in ctx.new_events]


@stage("name search")
def _name_search(ctx: Context) -> None:
    if ctx.search is not None:
        for event in ctx.first_events:
            if event.kind in ("shutdown", "rename") and event.community_id in ctx.communities:
                community = ctx.session.get(m.Community, event.community_id)
                assert community is not None
                found = search_similar(ctx.session, community, ctx.search, ctx.settings.crawl,
                                       ctx.names.get(event.community_id, []))
                if found:
                    ctx.communities = c._communities(ctx.session)
                    ctx.names = c._names(ctx.communities, ctx.snapshots)
    ctx.compute_started()


@stage("text signatures")
def _text_signatures(ctx: Context) -> None:
    """Signatures for posts that have none yet (the content signal's text matches read them)."""
    since = ctx.mark.post_id if ctx.dirty is not None and ctx.mark is not None else 0
    written = signature_missing_posts(ctx.session, ctx.settings, since=since)
    if written:
        log.info("text signatures: %d post(s) signed", written)


@stage("hash lists")
def _hash_lists(ctx: Context) -> None:
    ctx.drafts.extend(hash_match_drafts(ctx.session, ctx.settings))


@stage("pair discovery")
def _pair_discovery(ctx: Context) -> None:
    """Each signal that finds pairs adds its own, with their evidence, in its discovery order."""
    finders = [s for s in signals() if isinstance(s, PairFinder)]
    for finder in sorted(finders, key=lambda f: f.discovery_order):
        finder.discover(ctx)


@stage("signals and scoring")
def _scoring(ctx: Context) -> None:
    sides = {cid for pair in ctx.pairs for cid in pair}
    keys = {cid: [(n, ctx.key_of(n)) for n in ns] for cid, ns in ctx.names.items() if cid in sides}
    invites = c.invite_details(ctx.session, {t for _, t in ctx.pairs})
    for source_id, target_id in ctx.pairs:
        if source_id not in ctx.communities or target_id not in ctx.communities or source_id == target_id:
            continue
        source_event = ctx.gone.get(source_id)
        evidence = PairEvidence(
            source_id=source_id, target_id=target_id,
            announcements=tuple(ctx.links.announcements.get((source_id, target_id), ())),
            name=c._best_name(keys.get(source_id, []), keys.get(target_id, [])),
            members=ctx.members.get((source_id, target_id)),
            content=ctx.content.get((source_id, target_id)),
            source_event=source_event.kind if source_event else None,
            source_event_at=source_event.at if source_event else None,
            source_last_post_at=ctx.post_times.get(source_id, (None, None))[1],
            target_started_at=ctx.started.get(target_id),
            target_surges=tuple(ctx.surges.get(target_id, ())),
            target_surge_details=tuple(ctx.surge_details.get(target_id, ())),
            target_invite=invites.get(target_id),
            found={name: found[(source_id, target_id)] for name, found in ctx.found.items()
                   if (source_id, target_id) in found},
        )
        ctx.scores.append(score_pair(evidence, ctx.settings.detect))
    ctx.report.pairs_scored = len(ctx.scores)
    scored = {(s.source_id, s.target_id) for s in ctx.scores}
    ctx.scores.extend(p for p in ctx.patched if (p.source_id, p.target_id) not in scored)


@stage("event alerts")
def _event_alerts(ctx: Context) -> None:
    hours = ctx.settings.detect.shutdown_hold_hours
    holds = {e.community_id: h for e in ctx.new_events if e.kind == "shutdown"
             for h in [hold.hold_for(ctx.session, ctx.communities.get(e.community_id), e.evidence, ctx.now, hours)]
             if h is not None}
    drafts = c.event_alert_drafts(ctx.new_events, ctx.communities, holds)
    ctx.drafts.extend(drafts)
    # shutdowns held by an earlier cycle whose leads have now been read (or whose hold ran out)
    ctx.drafts.extend(hold.released_drafts(ctx.session, ctx.now, [d.key for d in drafts]))


@stage("candidates")
def _candidates(ctx: Context) -> None:
    ctx.drafts.extend(c.candidate_drafts(ctx.session, ctx.scores, ctx.communities, ctx.settings, ctx.now,
                                         ctx.report))
    if ctx.dirty is not None:  # the pairs not scored again keep their stored rows: the report lists them too
        scored = {(s.source_id, s.target_id) for s in ctx.scores}
        stored = ctx.stored if ctx.stored is not None else c.read_candidates(ctx.session)
        ctx.report.candidates.extend(c.stored_candidates(stored, scored, ctx.communities))
        ctx.report.candidates.sort(key=lambda row: -row["score"])


@dataclass
class PipelineResult:
    report: c.CycleReport
    drafts: list[AlertDraft]
    timings: dict[str, float]


def run_pipeline(session: Session, settings: Settings, *, search: NameSearch | None = None,
                 changes: Changes | None = None, full: bool | None = None,
                 on_stage: Callable[[str], None] | None = None) -> PipelineResult:
    """Run every registered stage in order over one context. Returns the report and the alert drafts.
    ``full``: True rebuilds from the whole store; False works from what changed since the last cycle
    (a full rebuild all the same when there is no usable watermark); None (the default) is False unless
    the last full rebuild is older than ``detect.full_every_hours``. ``on_stage`` is told each stage's
    name once it is done (the CLI's progress bar)."""
    with _heap_frozen():
        return _run(session, settings, search=search, changes=changes, full=full, on_stage=on_stage)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Leave what the process held before the cycle (loaded modules, the platform plugins: a large heap) out of
    the garbage collector's full passes while the cycle runs: each pass would walk all of it again, and a cycle
    allocates enough for several passes (over a second of an incremental cycle's ~5 s of CPU at 1,000,000
    posts). Nothing is kept from collection: the frozen objects are scanned again from the next pass after. A
    caller that froze its own heap already is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(session: Session, settings: Settings, *, search: NameSearch | None, changes: Changes | None,
         full: bool | None, on_stage: Callable[[str], None] | None) -> PipelineResult:
    started = time.perf_counter()
    ctx = Context(session=session, settings=settings, search=search, changes=changes or Changes())
    ctx.mark = ch.load_watermark(session)
    ctx.full = _full_rebuild(ctx.mark, settings, full)
    ctx.communities = ctx.at_start = c._communities(session)
    ctx.new_mark = now_mark = ch.current_watermark(session, settings, ctx.mark, ctx.full,
                                                     member_counts=ctx.member_counts)
    ctx.universes = now_mark.universe
    ctx.name_keys = {} if ctx.full else ch.load_name_keys(session)
    kept_keys = dict(ctx.name_keys)
    if not ctx.full:
        assert ctx.mark is not None
        dirty = ch.dirty_since(session, ctx.mark, now_mark)
        ctx.dirty = dirty.communities | set(ctx.changes.changed_community_ids or ())
        if dirty.universe_moved:
            ctx.stored = c.read_candidates(session)
            ctx.extra, ctx.patched = c.pairs_with_members(ctx.stored, dirty.universe_moved, ctx.communities,
                                                          now_mark.universe, ctx.dirty)
        ctx.focus = ctx.dirty | {cid for pair in ctx.extra for cid in pair}
        log.info("incremental detection: %d changed communities; member universe moved: %d pairs scored again, "
                 "%d significances updated", len(ctx.dirty), len(ctx.extra), len(ctx.patched))
    timings: dict[str, float] = {}
    for name, fn in STAGES:
        t0 = time.perf_counter()
        fn(ctx)
        timings[name] = time.perf_counter() - t0
        if on_stage is not None:
            on_stage(name)
    ch.save_watermark(session, now_mark)
    in_use = {n for ns in ctx.names.values() for n in ns}
    name_keys = {n: k for n, k in ctx.name_keys.items() if n in in_use}
    if ctx.full or name_keys != kept_keys:  # (the row is large: written when a name came or went)
        ch.save_name_keys(session, name_keys)
    session.flush()
    ctx.report.seconds = time.perf_counter() - started
    ctx.report.full = ctx.full
    return PipelineResult(ctx.report, ctx.drafts, timings)


def _full_rebuild(mark: ch.Watermark | None, settings: Settings, full: bool | None) -> bool:
    if full or mark is None or mark.settings != ch.settings_digest(settings):
        return True
    if full is None:
        every = settings.detect.full_every_hours
        try:
            last = datetime.fromisoformat(mark.full_at)
        except ValueError:
            return True
        return every > 0 and m.utcnow() - last >= timedelta(hours=every)
    return False


def stage_names() -> list[str]:
    return [name for name, _ in STAGES]


__all__: list[str] = ["STAGES", "Changes", "Context", "PipelineResult", "run_pipeline", "stage", "stage_names"]
