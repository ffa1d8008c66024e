"""The one detection path: ``resurface detect``, the scheduler's detect job and the demo all call
:func:`run_detection`. It runs the detection pipeline (:mod:`detect.pipeline`: events, leads, text
signatures, hash lists, pairs, signals, scores, candidates) and hands its alert drafts, in order, to
the alert lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from alerts.lifecycle import raise_alert
from config.settings import Settings
from crawlers.base import NotConfigured
from crawlers.registry import plugins
from detect.cycle import CycleReport
from detect.hashlists import hash_match_drafts
from detect.leads import NameSearch
from detect.pipeline import Changes, run_pipeline
from model.errors import MissingSecret
from store import models as m

log = logging.getLogger("resurface.detect")


def run_detection(session: Session, settings: Settings, *, search: NameSearch | None = None,
                  changes: Changes | None = None, full: bool | None = None,
                  on_stage: Callable[[str], None] | None = None) -> CycleReport:
    """One detection cycle in the caller's transaction; raises its alerts. Returns what was found.
    Incremental by default (it works from what changed since the last cycle, with a full rebuild every
    ``detect.full_every_hours``); ``full=True`` rebuilds from the whole store, ``full=False`` never
    rebuilds on a timer (see :func:`detect.pipeline.run_pipeline`)."""
    result = run_pipeline(session, settings, search=search, changes=changes, full=full, on_stage=on_stage)
    report = result.report
    raised: list[m.Alert] = []
    for draft in result.drafts:
        alert = raise_alert(session, draft, settings)
        if alert is not None:
            raised.append(alert)
    session.flush()
    report.alerts = [{"id": a.id, "kind": a.kind, "level": a.level, "score": round(a.score, 4),
                      "source_community_id": a.source_community_id, "target_community_id": a.target_community_id,
                      "escalations": a.escalations} for a in raised]
    log.info("detection (%s): %d new events, %d new leads, %d candidates, %d alerts in %.1fs",
             "full" if report.full else "incremental", len(report.events), len(report.leads), len(report.candidates),
             len(report.alerts), report.seconds)
    return report


def match_hash_lists(session: Session, settings: Settings) -> int:
    """Only the hash-list stage (new fingerprints against every list). Returns alerts raised."""
    return sum(1 for draft in hash_match_drafts(session, settings) if raise_alert(session, draft, settings))


def configured_name_search(settings: Settings) -> NameSearch | None:
    """The name searches of the registered platforms this deployment can run, combined (Reddit's
    subreddit search when Reddit credentials are set, Telegram's global search when the Telegram API is
    configured). Each one
    that is not available is skipped with a log line saying why; None when none is (detection still
    runs; it just finds no name-search candidates). Each search answers ``[]`` for platforms not its
    own, so the combination asks every one and concatenates."""
    Hits = Sequence[tuple[str, str | None, str]]
    searches: list[Callable[[str, str], Hits]] = []
    factories: list[tuple[str, Callable[[Settings], Callable[[str, str], Hits]]]] = [
        (p.platform.capitalize(), p.name_search) for p in plugins().values() if p.name_search is not None]
    for label, factory in factories:
        try:
            searches.append(factory(settings))
        except (MissingSecret, NotConfigured) as exc:
            log.info("no %s name search: %s", label, exc)
    if not searches:
        return None

    def search(platform: str, query: str) -> Sequence[tuple[str, str | None, str]]:
        hits: list[tuple[str, str | None, str]] = []
        for each in searches:
            try:
                hits.extend(each(platform, query))
            except Exception as exc:  # a platform being down must not stop the detection cycle
                log.warning("name search for %r on %s failed: %s: %s", query, platform, type(exc).__name__, exc)
        return hits

    return search
