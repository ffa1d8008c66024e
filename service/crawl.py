"""Crawl watched communities: pick a source, stream its records into ingest, record the outcome.

Records are ingested in batches that end at each Checkpoint, each batch in its own transaction, so a
crawl that dies keeps every finished page and resumes from the last saved checkpoint. A failing source
ends with a logged reason and never stops the others.

Every crawl is an observation of its community. One that could not read the community records a
failed observation (an "unreachable" snapshot, never definitive): the network failed us
(:class:`~crawlers.errors.TransientError`), or the platform served a page or body with no structure we
recognise, or one over the byte cap (:class:`~crawlers.errors.BadResponse`,
:class:`~crawlers.errors.ResponseTooLarge`; ``attrs.observation = "bad_page"``). Detection turns a run
of failed observations into a shutdown only after ``detect.shutdown_confirmations`` of them, so a
channel that is later deleted is noticed even when what it then serves is junk.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from crawlers import errors
from crawlers.base import NotConfigured, Source, Target, registered
from model import records as r
from service.app import App
from store import models as m
from store.ingest import IngestStats, ingest, load_checkpoint, save_checkpoint

log = logging.getLogger("resurface.crawl")

BATCH_RECORDS = 500


@dataclass
class RunResult:
    community_id: int
    source: str
    outcome: str  # ok, unavailable, failed, skipped, rescheduled, interrupted
    stats: IngestStats = field(default_factory=IngestStats)
    error: str | None = None


def _batches(records: Iterable[r.Record]) -> Iterator[list[r.Record]]:
    batch: list[r.Record] = []
    for record in records:
        batch.append(record)
        if isinstance(record, r.Checkpoint) or len(batch) >= BATCH_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


def _start(name: str, cls: type[Source], settings: Settings) -> Source | None:
    try:
        return cls.from_settings(settings)
    except NotConfigured as exc:
        log.info("crawler %s not configured: %s", name, exc)
    except Exception:  # e.g. an API that cannot be reached: skip this source, crawl with the others
        log.exception("crawler %s could not start; its communities are skipped this time", name)
    return None


def make_sources(app: App) -> list[Source]:
    """Every source that can start with these settings (each one built now)."""
    return [source for name, cls in sorted(registered().items()) if (source := _start(name, cls, app.settings))]


def pick_source(sources: list[Source], target: Target) -> Source | None:
    return next((s for s in sources if s.handles(target)), None)


class SourcePool:
    """Long-lived sources, started per platform the first time a community of that platform is crawled
    and kept until :meth:`close`: a source keeps its pacing state (per-host rate limits, flood waits)
    across jobs, and a platform's clients start only when one of its communities is due (the Telegram
    API client does not connect for a subreddit job)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_platform: dict[str, list[Source]] = {}
        self._lock = threading.Lock()

    def sources_for(self, platform: str) -> list[Source]:
        with self._lock:
            if platform not in self._by_platform:
                self._by_platform[platform] = [
                    source for name, cls in sorted(registered().items())
                    if cls.platform == platform and (source := _start(name, cls, self.settings))]
            return self._by_platform[platform]

    def pick(self, target: Target) -> Source | None:
        return pick_source(self.sources_for(target.platform), target)

    def started(self) -> dict[str, list[str]]:
        """Which sources have started, per platform (for status and tests)."""
        with self._lock:
            return {platform: [s.name for s in sources] for platform, sources in self._by_platform.items()}

    def close(self) -> None:
        with self._lock:
            sources = [s for group in self._by_platform.values() for s in group]
            self._by_platform.clear()
        for source in sources:
            try:
                source.close()
            except Exception:
                log.exception("closing crawler %s failed", source.name)


def crawl_target(app: App, source: Source, community_id: int,
                 should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Crawl one community. ``should_stop`` is asked after each committed batch: when it answers
    True the crawl ends there ("interrupted"), its checkpoint saved, so the next run resumes."""
    with app.store.session() as session:
        row = session.get(m.Community, community_id)
        assert row is not None
        target = Target(community_id=row.id, platform=row.platform, handle=row.handle, url=row.url,
                        native_id=row.native_id, cursor=load_checkpoint(session, row.id, source.name))
        run = m.CrawlRun(community_id=row.id, source=source.name, started_at=m.utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    result = RunResult(community_id, source.name, "ok")
    ctx = app.ingest_context(target_community_id=community_id)
    observed: str | None = None  # a status seen instead of the community (gone, unreachable)
    observed_extra: dict[str, object] = {}
    stop_following = False  # a lead that is no community at all (a person's account): never crawl it again
    recognised: str | None = None  # a forum watched as "web" whose software the crawl recognised
    retry_after = 60.0
    try:
        for batch in _batches(source.crawl(target)):
            recognised = _recognised_platform(batch) or recognised
            with app.store.session() as session:
                result.stats.add(ingest(session, batch, ctx))
            if should_stop is not None and should_stop():
                result.outcome = "interrupted"
                log.info("crawl of %s by %s interrupted by shutdown after a saved batch",
                         target.url or target.handle, source.name)
                break
    except errors.CommunityUnavailable as exc:
        result.outcome, result.error = "unavailable", str(exc)
        observed = exc.status
    except errors.RescheduleSource as exc:
        result.outcome, result.error = "rescheduled", str(exc)
        retry_after = exc.delay_seconds
    except errors.TransientError as exc:
        # The network or the platform failed us: an "unreachable" observation, which the detector
        # only turns into a shutdown after several in a row.
        result.outcome, result.error = "failed", str(exc)
        observed = r.CommunityStatus.UNREACHABLE
        observed_extra = {"observation": "unreachable", r.STATUS_DEFINITIVE: False,
                          r.STATUS_EVIDENCE: f"unreachable: {exc}"}
    except (errors.BadResponse, errors.ResponseTooLarge) as exc:
        # An answer with no structure we recognise (an error page served with 200, a cut-off or
        # oversized page): the community was not read, which is a failed observation too.
        result.outcome, result.error = "failed", str(exc)
        observed = r.CommunityStatus.UNREACHABLE
        observed_extra = {"observation": "bad_page", r.STATUS_DEFINITIVE: False,
                          r.STATUS_EVIDENCE: f"a page with no structure we recognise: {exc}"}
    except errors.InvalidTarget as exc:
        result.outcome, result.error = "failed", str(exc)
        stop_following = True
    except errors.CrawlError as exc:
        result.outcome, result.error = "failed", str(exc)
    except Exception as exc:  # a bug in one crawler must not stop the others
        log.exception("crawler %s crashed on community %s", source.name, community_id)
        result.outcome, result.error = "failed", f"{type(exc).__name__}: {exc}"
    if observed is not None:
        snapshot = r.CommunitySnapshot(platform=target.platform, native_id=None, handle=target.handle,
                                       url=target.url or "", fetched_at=m.utcnow(), status=observed,
                                       source_url=target.url, extra=observed_extra)
        try:
            with app.store.session() as session:
                ingest(session, [snapshot], ctx)
        except Exception:  # the store failing here must not stop the other communities
            log.exception("could not record status %s of community %s", observed, community_id)
    if result.error:
        log.warning("crawl of %s by %s ended: %s: %s", target.url or target.handle, source.name, result.outcome,
                    result.error)
    with app.store.session() as session:
        finished = session.get(m.CrawlRun, run_id)
        assert finished is not None
        finished.finished_at = m.utcnow()
        finished.outcome = result.outcome
        finished.error = result.error
        finished.records = result.stats.posts_seen + result.stats.snapshots
        finished.new_posts = result.stats.posts_new
        if result.outcome == "rescheduled":
            finished.next_run_at = m.utcnow() + timedelta(seconds=retry_after)
        if recognised and result.outcome == "ok":
            _adopt_platform(session, community_id, source.name, recognised)
        community = session.get(m.Community, community_id)
        if stop_following and community is not None and community.watch_state in ("lead", "candidate"):
            # Found by detection, not chosen by the operator: stop. A seed stays for its operator to fix.
            community.watch_state = "ignored"
            community.attrs = {**(community.attrs or {}), "ignored_because": result.error}
    return result


def _recognised_platform(batch: list[r.Record]) -> str | None:
    for record in batch:
        if isinstance(record, r.CommunitySnapshot) and record.platform == r.Platform.WEB:
            platform = record.extra.get("recognised_platform")
            if isinstance(platform, str):
                return platform
    return None


def _adopt_platform(session: Session, community_id: int, detector: str, platform: str) -> None:
    """A forum watched as ``web`` whose software a crawl recognised: store it under its real platform
    so the next crawl uses that crawler directly, resuming from the checkpoint the detecting source
    kept for it (``{"platform": ..., "inner": cursor}``)."""
    from store.watchlist import recognise_platform

    row = recognise_platform(session, community_id, platform)
    if row.id != community_id:  # already stored under that platform: leave both rows as they are
        return
    crawler = next((name for name, cls in registered().items() if cls.platform == platform), None)
    cursor = load_checkpoint(session, community_id, detector)
    if crawler is not None and cursor.get("platform") == platform and isinstance(cursor.get("inner"), dict):
        save_checkpoint(session, community_id, crawler, dict(cursor["inner"]))
    log.info("community #%d recognised as %s; crawled by %s from now on", community_id, platform, crawler)


def due_communities(app: App, ids: list[int] | None = None) -> list[int]:
    with app.store.session() as session:
        query = select(m.Community.id).where(m.Community.watch_state.in_(["seed", "lead", "candidate"]))
        if ids:
            query = query.where(m.Community.id.in_(ids))
        return list(session.scalars(query.order_by(m.Community.id)))


def crawl_once(app: App, ids: list[int] | None = None,
               progress: Callable[[RunResult], None] | None = None,
               should_stop: Callable[[], bool] | None = None, *, pool: SourcePool | None = None) -> list[RunResult]:
    """Crawl the due communities (or ``ids``) once. With ``pool`` (the service's), its sources are reused
    and left open; without, sources start as needed and close at the end."""
    _ = app.key  # fail before any fetch when the pseudonymisation key is missing
    own = pool is None
    sources = pool if pool is not None else SourcePool(app.settings)
    results = []
    try:
        for community_id in due_communities(app, ids):
            if should_stop is not None and should_stop():
                break
            with app.store.session() as session:
                row = session.get(m.Community, community_id)
                assert row is not None
                target = Target(row.id, row.platform, row.handle, row.url, row.native_id)
                manual = bool((row.attrs or {}).get("manual"))
            source = None if manual else sources.pick(target)
            if source is None:
                result = RunResult(community_id, "-", "skipped",
                                   error="entered by hand" if manual else f"no crawler for {target.platform}")
            else:
                result = crawl_target(app, source, community_id, should_stop)
            results.append(result)
            if progress:
                progress(result)
    finally:
        if own:
            sources.close()
    return results
