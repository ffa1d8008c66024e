"""The scheduler's periodic task bodies. Each takes the App and returns a one-line summary for the log."""

from __future__ import annotations

from service.app import App

# Jobs an earlier version scheduled, with why they are gone. A deployment's persistent job store (or a broker's
# queue) may still hold one after an upgrade; the scheduler removes it at start and a worker drops it, each
# with a log line, instead of failing on a name nothing answers to.
RETIRED: dict[str, str] = {
    "hashlists": "every detection run matches new fingerprints against the hash lists (same watermark)",
}


def detect(app: App) -> str:
    from service.detection import configured_name_search, run_detection

    search = configured_name_search(app.settings)
    with app.store.session() as session:
        report = run_detection(session, app.settings, search=search)
    return f"{len(report.events)} events, {len(report.candidates)} candidates, {len(report.alerts)} alerts"


def deliver(app: App) -> str:
    from alerts.deliver import deliver_pending

    report = deliver_pending(app.store, app.settings)
    return f"{report.rows_sent} sent, {report.rows_retrying} retrying, {report.rows_failed} failed"


def index(app: App) -> str:
    from search.indexer import index_pending

    result = index_pending(app.store, app.settings)
    return f"{result.indexed} indexed, {result.remaining} left"


def purge(app: App) -> str:
    from store.retention import run_purge

    report = run_purge(app.store, app.settings.privacy.retention_days)
    return f"{report.posts} post texts purged"
