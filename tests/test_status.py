"""`resurface status`: per-source crawl state, backlogs and open alerts, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import main
from store import lock
from store import models as m
from store.db import Store, open_store
from store.status import backlog, error_streaks, open_alerts_by_level, source_statuses, status_report
from store.watchlist import add_watch, parse_target

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(session: object, cid: int, outcome: str, minutes: int, error: str | None = None) -> None:
    started = T0 + timedelta(minutes=minutes)
    session.add(m.CrawlRun(community_id=cid, source="telegram_web", started_at=started,  # type: ignore[attr-defined]
                           finished_at=started + timedelta(seconds=30), outcome=outcome, error=error))


def fill(store: Store) -> dict[str, int]:
    with store.session() as s:
        ids = {h: add_watch(s, parse_target(f"@{h}"))[0].id for h in ("steady_chan", "broken_chan", "new_chan")}
        ignored = add_watch(s, parse_target("@ignored_chan"))[0]
        ignored.watch_state = "ignored"
        s.flush()
        run(s, ids["steady_chan"], "failed", 0, "timeout")
        run(s, ids["steady_chan"], "ok", 60)
        run(s, ids["broken_chan"], "ok", 0)
        run(s, ids["broken_chan"], "failed", 60, "HTTP 500")
        run(s, ids["broken_chan"], "interrupted", 90)  # a shutdown is no failure and no success
        run(s, ids["broken_chan"], "failed", 120, "HTTP 502")
        s.add(m.CrawlRun(community_id=ids["steady_chan"], source="telegram_web", started_at=T0 + timedelta(hours=3),
                         outcome="running"))
        alerts = [m.Alert(kind="migration", dedup_key=f"k{i}", level=level, state=state)
                  for i, (level, state) in enumerate([("likely", "new"), ("likely", "delivered"), ("strong", "new"),
                                                      ("strong", "dismissed"), ("possible", "confirmed")])]
        s.add_all(alerts)
        s.flush()
        s.add_all([m.Delivery(alert_id=alerts[0].id, audience="ngo", level="likely", idempotency_key=f"d{i}",
                              state=state) for i, state in enumerate(["pending", "sending", "sent", "failed"])])
        s.add_all([m.IndexOutbox(doc_type="post", doc_id=i) for i in range(7)])
    return ids


def test_status_per_source_backlog_and_alerts(any_store: Store) -> None:
    ids = fill(any_store)
    with any_store.session() as s:
        rows = {row.community_id: row for row in source_statuses(s)}
        assert set(rows) == set(ids.values())  # ignored communities are not listed
        steady, broken, new = rows[ids["steady_chan"]], rows[ids["broken_chan"]], rows[ids["new_chan"]]
        assert (steady.last_outcome, steady.error_streak, steady.last_error) == ("ok", 0, None)
        assert (broken.last_outcome, broken.error_streak, broken.last_error) == ("failed", 2, "HTTP 502")
        assert broken.last_crawl_at == T0 + timedelta(minutes=120, seconds=30)
        assert (new.last_outcome, new.last_crawl_at, new.error_streak) == (None, None, 0)
        assert all(row.next_run_at is None for row in rows.values())  # no scheduler has run on this store
        assert backlog(s).__dict__ == {"index_outbox": 7, "deliveries_pending": 2, "deliveries_failed": 1}
        assert open_alerts_by_level(s) == {"likely": 2, "strong": 1}


def test_error_streak_counts_every_failure_when_nothing_ever_succeeded(any_store: Store) -> None:
    with any_store.session() as s:
        cid = add_watch(s, parse_target("@never_ok"))[0].id
        s.flush()
        for minutes in (0, 60, 120):
            run(s, cid, "failed", minutes, "refused")
    with any_store.session() as s:
        assert error_streaks(s) == {cid: 3}


def test_next_run_comes_from_the_scheduler_job_table(any_store: Store) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    ids = fill(any_store)
    when = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    retry = datetime(2029, 12, 31, 23, 0, tzinfo=UTC)
    sched = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=any_store.engine)}, timezone=UTC)
    sched.start(paused=True)
    try:
        sched.add_job("scheduler:crawl_job", "interval", minutes=60, args=[ids["steady_chan"]],
                      id=f"crawl:{ids['steady_chan']}", next_run_time=when)
        sched.add_job("scheduler:crawl_job", "interval", minutes=60, args=[ids["broken_chan"]],
                      id=f"crawl:{ids['broken_chan']}", next_run_time=when)
        sched.add_job("scheduler:crawl_job", "date", run_date=retry, args=[ids["broken_chan"]],
                      id=f"crawl-retry:{ids['broken_chan']}")
    finally:
        sched.shutdown(wait=False)
    with any_store.session() as s:
        rows = {row.community_id: row.next_run_at for row in source_statuses(s)}
    assert rows == {ids["steady_chan"]: when, ids["broken_chan"]: retry, ids["new_chan"]: None}


def test_status_shows_whether_a_service_holds_the_lock(any_store: Store) -> None:
    token = lock.acquire(any_store, "box-a:7", stale_after=timedelta(minutes=3))
    with any_store.session() as s:
        live = status_report(s)["service"]
        stale = status_report(s, now=m.utcnow() + timedelta(minutes=10))["service"]
    assert (live["running"], live["owner"]) == (True, "box-a:7")
    assert (stale["running"], stale["owner"]) == (False, "box-a:7")  # its heartbeat stopped: it died
    lock.release(any_store, token)


def test_resurface_status_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'resurface.db'}")
    ids = fill(store)
    store.close()
    with pytest.raises(SystemExit) as info:
        main(["--config", str(config), "status", "--format", "json"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    doc = json.loads(out)
    assert doc["service"] == {"running": False, "owner": None, "heartbeat_at": None}
    assert doc["backlog"] == {"index_outbox": 7, "deliveries_pending": 2, "deliveries_failed": 1}
    assert doc["open_alerts"] == {"likely": 2, "strong": 1}
    broken = next(row for row in doc["sources"] if row["community_id"] == ids["broken_chan"])
    assert broken["error_streak"] == 2
    assert broken["last_crawl_at"] == "2026-03-01T14:00:30+00:00"

    with pytest.raises(SystemExit) as info:
        main(["--config", str(config), "status"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "service: not running" in out and "sources" in out
    assert "backlog: 7 documents to index, 2 deliveries pending, 1 failed" in out
    assert "open alerts: 2 likely, 1 strong" in out
