"""The Celery tasks: a crawl per community, and the service's jobs (detect, deliver, index, purge).

Both are idempotent and keyed: a crawl by its community id, a job by its name. A PostgreSQL advisory lock on
that key (:mod:`service.locks`) lets exactly one run at a time across every worker; a second delivery of the
same task (redelivered after a worker died, or enqueued again while one still runs) finds the lock taken and
ends at once. A worker killed mid-crawl loses its database session, and with it the lock.
"""

from __future__ import annotations

import logging
import time

from service import jobs
from service.celery_app import celery, job_queue, settings, shared_redis, worker_app, worker_pool
from service.crawl import crawl_once
from service.locks import CRAWL_LOCKS, JOB_LOCKS, advisory_lock, job_key

log = logging.getLogger("resurface.worker")

JOBS = {"detect": jobs.detect, "deliver": jobs.deliver, "index": jobs.index, "purge": jobs.purge}
DETECT_AFTER_CRAWL_SECONDS = 60
CRAWL_TASK = "resurface.crawl"
JOB_TASK = "resurface.job"


@celery.task(name=CRAWL_TASK)
def crawl_task(community_id: int) -> str:
    """Crawl one community; ``busy`` when another worker is crawling it right now."""
    app = worker_app()
    started = time.perf_counter()
    with advisory_lock(app.store, CRAWL_LOCKS, community_id) as ours:
        if not ours:
            log.info("community #%d is being crawled by another worker; this delivery ends here", community_id)
            return "busy"
        results = crawl_once(app, [community_id], pool=worker_pool())
    summary = "skipped"
    for result in results:
        summary = result.outcome
        log.info("crawl of community #%d by %s: %s, %d new posts of %d seen (%.1fs)%s", community_id, result.source,
                 result.outcome, result.stats.posts_new, result.stats.posts_seen, time.perf_counter() - started,
                 f": {result.error}" if result.error else "")
        if result.outcome in ("ok", "unavailable", "failed", "interrupted"):
            _detect_soon()
    return summary


def _detect_soon() -> None:
    """One detection run a minute after a burst of crawls (a key in the broker's Redis says one is queued)."""
    current = settings()
    try:
        fresh = shared_redis().set(f"{current.service.queue_prefix}:detect-soon", b"1", nx=True,
                                   ex=DETECT_AFTER_CRAWL_SECONDS)
    except Exception as exc:  # the periodic detect job still runs; a missed after-crawl run is no loss
        log.warning("could not queue detection after this crawl: %s: %s", type(exc).__name__, exc)
        return
    if fresh:
        job_task.apply_async(args=["detect"], countdown=DETECT_AFTER_CRAWL_SECONDS,
                             queue=job_queue(current, "detect"))


@celery.task(name=JOB_TASK)
def job_task(name: str) -> str:
    """Run one of :data:`JOBS`; one instance of each at a time across all workers."""
    if name in jobs.RETIRED:  # queued by a scheduler from before an upgrade
        log.info("%s is no longer a job (%s); this delivery ends here", name, jobs.RETIRED[name])
        return "retired"
    if name not in JOBS:
        raise ValueError(f"unknown job {name!r}: the jobs are {', '.join(JOBS)}")
    app = worker_app()
    started = time.perf_counter()
    with advisory_lock(app.store, JOB_LOCKS, job_key(name)) as ours:
        if not ours:
            log.info("%s is already running on another worker; this run is skipped", name)
            return "busy"
        summary = JOBS[name](app)
    log.info("%s: %s (%.1fs)", name, summary, time.perf_counter() - started)
    return summary
