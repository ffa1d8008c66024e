"""``service.executor = "celery"``: one scheduler, several ``resurface worker`` processes, the machine's real
Redis (127.0.0.1:6379) and PostgreSQL (``RESURFACE_TEST_PG_URL``), and a loopback world of Discourse forums
(:mod:`tests.support.workers`). Workers are real subprocesses; nothing waits on a sleep: every wait polls
observable state (rows in the store, requests seen by the world) against a deadline.

The kill/restart test stops only a redis-server the test started itself on a free port; the shared one on
6379 is never touched.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from config.settings import ServiceSettings, Settings
from model.errors import ConfigError
from model.targets import parse_target
from service.celery_app import crawl_queue, job_queue
from service.executor import CeleryExecutor, worker_report
from service.locks import CRAWL_LOCKS, advisory_lock
from service.ratelimit import SharedRateLimiter, spacing_micros
from store import models as m
from store.db import Store, open_store
from store.watchlist import add_watch
from tests.conftest import PG_ENV, TEST_KEY
from tests.support.workers import (
    POSTS_PER_TOPIC,
    TOPICS_PER_FORUM,
    ForumWorld,
    PrivateRedis,
    kill_group,
    most_in_window,
    processes,
    start_scheduler,
    start_worker,
    topic_ids,
    write_config,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = TEST_KEY.decode()
POSTS_PER_FORUM = TOPICS_PER_FORUM * POSTS_PER_TOPIC


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the worker tests must run in CI (.ci/run starts Redis and PostgreSQL)")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                _missing("the Redis on 127.0.0.1:6379 does not answer PING")
    except OSError as exc:
        _missing(f"no Redis on 127.0.0.1:6379: {exc}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A queue prefix of the test's own on the shared Redis; its keys are deleted afterwards."""
    import redis

    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated schema of its own in the real PostgreSQL, named in the URL every process uses."""
    base = os.environ.get(PG_ENV)
    if not base:
        _missing(f"the worker tests need {PG_ENV}")
    assert base is not None
    schema = f"w_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        _missing(f"PostgreSQL at {base} unreachable: {exc}")
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    open_store(url).close()  # migrate once, before several processes open it
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def world() -> Iterator[ForumWorld]:
    forums = ForumWorld().start()
    yield forums
    forums.stop()


def watch_forums(store: Store, world: ForumWorld, count: int) -> dict[int, int]:
    """Watch forums f0..f<count-1>; their community ids by forum number."""
    ids = {}
    with store.session() as session:
        for n in range(count):
            row, _ = add_watch(session, parse_target(world.url(n), "discourse"))
            session.flush()
            ids[n] = row.id
    return ids


def finished_ok(store: Store) -> dict[int, int]:
    """Crawl runs that ended "ok", per community."""
    with store.session() as session:
        rows = session.execute(select(m.CrawlRun.community_id, func.count()).where(m.CrawlRun.outcome == "ok")
                               .group_by(m.CrawlRun.community_id)).all()
    return {cid: n for cid, n in rows}


def posts_per_community(store: Store) -> dict[int, int]:
    with store.session() as session:
        rows = session.execute(select(m.Post.community_id, func.count()).group_by(m.Post.community_id)).all()
    return {cid: n for cid, n in rows}


def distinct_posts(store: Store) -> tuple[int, int]:
    with store.session() as session:
        total = session.scalar(select(func.count()).select_from(m.Post))
        distinct = session.scalar(select(func.count()).select_from(
            select(m.Post.community_id, m.Post.native_post_id).distinct().subquery()))
    return int(total or 0), int(distinct or 0)


# --- configuration ------------------------------------------------------------------------------------


def test_celery_with_a_sqlite_store_is_a_config_error_naming_the_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), service=ServiceSettings(executor="celery"))
    with pytest.raises(ConfigError) as caught:
        CeleryExecutor(settings)
    message = str(caught.value)
    assert 'service.executor = "celery"' in message and "store.url" in message and "PostgreSQL" in message
    Settings(data_dir=str(tmp_path)).check_executor()  # the default, local, is fine on SQLite


def test_the_telethon_client_has_its_own_queue_for_crawls_and_detection() -> None:
    settings = Settings(service=ServiceSettings(executor="celery", queue_prefix="p"))
    assert crawl_queue(settings, "reddit") == crawl_queue(settings, "telegram") == "p.crawl"
    settings.telegram.use_api = True
    assert crawl_queue(settings, "telegram") == "p.telegram_api"
    assert crawl_queue(settings, "discourse") == "p.crawl"
    assert job_queue(settings, "detect") == "p.telegram_api"  # its name search uses the Telethon session
    assert job_queue(settings, "deliver") == "p.jobs"
    settings.telegram.use_api = False
    assert job_queue(settings, "detect") == "p.jobs"


def test_a_queued_job_of_a_retired_name_is_dropped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """A broker may still hold a ``hashlists`` job queued before the upgrade: the worker ends it, it does not fail."""
    import logging

    from service.tasks import JOBS, job_task

    assert "hashlists" not in JOBS
    with caplog.at_level(logging.INFO, "resurface.worker"):
        assert job_task("hashlists") == "retired"
    assert "hashlists is no longer a job (every detection run matches" in caplog.text
    with pytest.raises(ValueError, match="unknown job 'nonsense': the jobs are detect, deliver, index, purge"):
        job_task("nonsense")


def test_status_shows_the_waiting_tasks_on_the_broker_configured_last(tmp_path: Path, redis_url: str) -> None:
    """A process that configures Celery twice (tests, the benchmark) sends to the second broker, and status
    reads each queue's length and its oldest task's enqueue time there."""
    private = PrivateRedis(tmp_path).start()
    try:
        def settings_for(broker: str, prefix: str) -> Settings:
            return Settings(store={"url": "postgresql+psycopg://nobody@127.0.0.1/none"},
                            service=ServiceSettings(executor="celery", broker_url=broker, queue_prefix=prefix))

        shared = settings_for(redis_url, f"t{uuid.uuid4().hex[:8]}")
        first = CeleryExecutor(shared)
        first.crawl(1, "discourse")
        first.close()
        mine = settings_for(private.url, "mine")
        second = CeleryExecutor(mine)
        second.crawl(2, "discourse")
        second.crawl(3, "discourse")
        second.job("detect")
        second.close()
        report = worker_report(mine, timeout=0.2)
        assert report.error is None and report.workers == []
        queues = {q.name: q for q in report.queues}
        assert {name: q.waiting for name, q in queues.items()} == {
            "mine.crawl": 2, "mine.telegram_api": 0, "mine.jobs": 1}
        assert queues["mine.crawl"].oldest_enqueued_at is not None
        assert [q.waiting for q in worker_report(shared, timeout=0.2).queues] == [1, 0, 0]
    finally:
        private.kill()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{shared.service.queue_prefix}*"):
            client.delete(key)
        client.close()


def test_status_lists_workers_and_queues_and_worker_refuses_the_local_executor(
        tmp_path: Path, pg_url: str, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from cli import app

    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    config = write_config(tmp_path / "resurface.toml", store_url=pg_url, broker_url=redis_url, prefix=prefix,
                          rate=10)
    result = CliRunner().invoke(app, ["--config", str(config), "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    workers = json.loads(result.stdout)["workers"]
    assert workers["error"] is None and workers["workers"] == []
    assert [(q["name"], q["waiting"]) for q in workers["queues"]] == [
        (f"{prefix}.crawl", 0), (f"{prefix}.telegram_api", 0), (f"{prefix}.jobs", 0)]
    local = tmp_path / "local.toml"
    local.write_text(config.read_text().replace('executor = "celery"', 'executor = "local"'))
    refused = CliRunner().invoke(app, ["--config", str(local), "worker"])
    assert refused.exit_code != 0 and 'service.executor = "celery"' in f"{refused.output}{refused.exception}"


# --- locks and the shared limiter -------------------------------------------------------------------------


def test_a_community_crawl_lock_is_held_by_one_session_at_a_time(pg_url: str) -> None:
    first, second = open_store(pg_url, migrate=False), open_store(pg_url, migrate=False)
    try:
        with advisory_lock(first, CRAWL_LOCKS, 7) as ours:
            assert ours
            with advisory_lock(second, CRAWL_LOCKS, 7) as theirs, advisory_lock(second, CRAWL_LOCKS, 8) as other:
                assert (theirs, other) == (False, True)
        with advisory_lock(second, CRAWL_LOCKS, 7) as after:
            assert after  # released when the first crawl ended
    finally:
        first.close()
        second.close()


def test_a_second_delivery_of_a_running_crawl_ends_at_once_without_fetching(
        tmp_path: Path, pg_url: str, redis_url: str, prefix: str, world: ForumWorld,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from service import celery_app
    from service.tasks import crawl_task

    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    store = open_store(pg_url, migrate=False)
    config = write_config(tmp_path / "resurface.toml", store_url=pg_url, broker_url=redis_url,
                          prefix=prefix, rate=1000)
    try:
        ids = watch_forums(store, world, 1)
        celery_app.configure(store_settings(config))
        with advisory_lock(store, CRAWL_LOCKS, ids[0]) as ours:  # another worker is crawling forum 0
            assert ours
            assert crawl_task.run(ids[0]) == "busy"
        assert world.paths() == {} and finished_ok(store) == {}
        assert crawl_task.run(ids[0]) == "ok"  # once the lock is free, the same task crawls
        assert posts_per_community(store) == {ids[0]: POSTS_PER_FORUM}
    finally:
        celery_app.forget_worker_state()  # this process's HTTP clients pace themselves again
        store.close()


def test_a_429_seen_by_one_worker_pauses_the_host_for_every_worker(redis_url: str) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    slept: list[float] = []
    one = SharedRateLimiter(redis_url, namespace=namespace, sleep=slept.append)
    other = SharedRateLimiter(redis_url, namespace=namespace, sleep=lambda s: None)
    try:
        assert one.wait("slow.example", 1000.0) == 0.0
        other.slow_down("slow.example", 30.0)
        # the pause is honoured before the first try: the injected sleep returns at once, so the limiter asks
        # Redis again and sleeps again; stop it after the first sleep by lifting the pause
        slept.clear()
        one._sleep = lambda s: (slept.append(s), other._redis.delete(other._pause_key("slow.example")))
        assert one.wait("slow.example", 1000.0) > 25.0
        assert slept and slept[0] > 25.0
        assert one.wait("fast.example", 1000.0) == 0.0  # other hosts are not slowed
    finally:
        one.close()
        other.close()


def test_workers_sharing_a_host_get_slots_one_interval_apart(redis_url: str) -> None:
    """Three limiters (three workers) asking for the same host at 10/s reserve slots 100 ms apart (the sleeps
    are recorded, not slept); another host is not held up by them."""
    namespace = f"t{uuid.uuid4().hex[:8]}"
    slept: list[float] = []
    workers = [SharedRateLimiter(redis_url, namespace=namespace, sleep=slept.append) for _ in range(3)]
    try:
        waits = [limiter.wait("forum.example", 10.0) for limiter in workers for _ in range(2)]
        assert waits[0] == 0.0
        # each slot 0.1 s after the previous one; the reservations themselves take a few ms of Redis time
        assert all(abs(w - 0.1 * i) < 0.05 for i, w in enumerate(waits)), waits
        assert slept == waits[1:]
        assert workers[0].wait("other.example", 10.0) == 0.0
        assert spacing_micros(0.25) == 4_000_000 and spacing_micros(40.0) == 25_000
    finally:
        for limiter in workers:
            limiter.close()


# --- the whole service across processes --------------------------------------------------------------------


SECOND_MICROS = 1_000_000


@contextmanager
def granted_slots(redis_url: str, namespace: str, rate: float) -> Iterator[list[int]]:
    """The slot (Redis clock, microseconds) of every reservation the shared limiter makes under ``namespace``
    while the block runs, read off Redis's MONITOR stream: the limiter's script sets ``<namespace>:next:<host>``
    to the reserved slot plus the spacing, and MONITOR shows the commands a script runs. Nothing in the workers
    is instrumented; the list is complete once the block has ended."""
    import redis

    spacing, end = spacing_micros(rate), f"{namespace}:monitor-end:{uuid.uuid4().hex}"
    slots: list[int] = []
    listening = threading.Event()
    client = redis.Redis.from_url(redis_url)

    def listen() -> None:
        with client.monitor() as monitor:
            listening.set()
            for command in monitor.listen():
                words = str(command["command"]).split()
                if words == ["ECHO", end]:
                    return
                if command["client_type"] == "lua" and words[:1] == ["SET"] and \
                        words[1].startswith(f"{namespace}:next:"):
                    slots.append(int(words[2]) - spacing)

    thread = threading.Thread(target=listen, name="redis-monitor", daemon=True)
    thread.start()
    try:
        assert listening.wait(10), "MONITOR on the shared Redis did not start"
        yield slots
    finally:
        closer = redis.Redis.from_url(redis_url)
        closer.echo(end)  # the listener stops at its own sentinel, so every earlier command has been read
        closer.close()
        thread.join(30)
        client.close()


def most_in_one_second(micros: list[int]) -> int:
    """The most of ``micros`` inside any half-open second ``[t, t + 1 s)``."""
    return most_in_window(micros, SECOND_MICROS)


def realtime_offset() -> float:
    """``time.time() - time.monotonic()``: Redis's TIME reads the wall clock, the world's arrivals the monotonic."""
    return time.time() - time.monotonic()


def test_most_in_one_second_counts_a_half_open_window() -> None:
    assert most_in_one_second([]) == 0
    assert most_in_one_second([k * 40_000 for k in range(26)]) == 25  # 25/s spacing: the 26th starts a new second
    assert most_in_one_second([k * 39_999 for k in range(26)]) == 26
    assert most_in_one_second([5, 0, SECOND_MICROS, 3]) == 3


def test_scheduler_and_three_workers_crawl_200_forums_once_within_the_shared_rate(
        tmp_path: Path, pg_url: str, redis_url: str, prefix: str, world: ForumWorld) -> None:
    forums, rate = 200, 25  # three unpaced workers send about 50 a second here: the limit binds
    store = open_store(pg_url, migrate=False)
    try:
        ids = watch_forums(store, world, forums)
        config = write_config(tmp_path / "resurface.toml", store_url=pg_url, broker_url=redis_url,
                              prefix=prefix, rate=rate)
        offset_before = realtime_offset()
        with granted_slots(redis_url, prefix, rate) as granted, processes() as procs:
            procs += [start_worker(config, KEY, tmp_path / f"worker{i}.log", name=f"w{i}") for i in range(3)]
            procs.append(start_scheduler(config, KEY, tmp_path / "scheduler.log"))
            world.wait_for(lambda: len(finished_ok(store)) == forums, 180,
                           f"{forums} crawls (logs in {tmp_path})")
            report = worker_report(store_settings(config))
        offset_after = realtime_offset()
        assert finished_ok(store) == dict.fromkeys(ids.values(), 1)  # once per interval, each by one worker
        assert posts_per_community(store) == dict.fromkeys(ids.values(), POSTS_PER_FORUM)
        total, distinct = distinct_posts(store)
        assert total == distinct == forums * POSTS_PER_FORUM
        seen = world.paths()
        assert all(seen[f"/f{n}/about.json"] == 1 for n in range(forums)), "a forum was crawled twice"
        # Every request the world saw was granted a slot by the shared limiter, and no second of the grants
        # holds more than the rate: exact, whatever the machine's load did to the requests afterwards. (Arrivals
        # per second are not bounded here: a worker descheduled after its slot lands next to the following
        # request, 26 in a second at a limit of 25 measured; unshared limits give 48 to 61 grants and arrivals.)
        requests = forums * (2 + TOPICS_PER_FORUM)  # about, latest and each topic
        assert (len(granted), len(world.arrivals)) == (requests, requests)
        assert most_in_one_second(granted) <= rate
        # No request reached the world before its slot: the k-th arrival is not earlier than the k-th grant
        # (a late worker only delays arrivals). The two clocks are compared through their offset, measured
        # before and after; a reading of them takes microseconds, hence 2 ms.
        slack = 0.002 + abs(offset_after - offset_before)
        arrivals = sorted(t + offset_before for t, _ in world.arrivals)
        slots = [slot / SECOND_MICROS for slot in sorted(granted)]
        early = [(k, slot - at) for k, (slot, at) in enumerate(zip(slots, arrivals, strict=True)) if at < slot - slack]
        assert not early, f"requests (index, seconds early) sent before their slot: {early[:5]}"
        assert len(report.workers) == 3 and report.error is None
    finally:
        store.close()


def store_settings(config: Path) -> Settings:
    from config.loader import load_settings

    return load_settings(config)


def test_a_worker_killed_mid_crawl_is_redelivered_and_the_forum_finishes_once(
        tmp_path: Path, pg_url: str, redis_url: str, prefix: str, world: ForumWorld) -> None:
    store = open_store(pg_url, migrate=False)
    try:
        ids = watch_forums(store, world, 1)
        config = write_config(tmp_path / "resurface.toml", store_url=pg_url, broker_url=redis_url,
                              prefix=prefix, rate=1000, visibility_timeout=2)
        first_topic, second_topic = (f"/f0/t/{t}.json" for t in topic_ids(0))
        release = world.hold(second_topic)
        executor = CeleryExecutor(store_settings(config))
        task_id = executor.crawl(ids[0], "discourse")
        executor.close()
        with processes() as procs:
            victim = start_worker(config, KEY, tmp_path / "victim.log", name="victim")
            procs.append(victim)
            world.wait_for(lambda: world.count(second_topic) == 1, 60, "the crawl to reach its second topic")
            # the first topic and its checkpoint are committed; the crawl is in the middle of the second
            assert posts_per_community(store) == {ids[0]: POSTS_PER_TOPIC}
            kill_group(victim)
            victim.wait(10)
            release.set()
            procs.append(start_worker(config, KEY, tmp_path / "rescuer.log", name="rescuer"))
            world.wait_for(lambda: finished_ok(store).get(ids[0]) == 1, 90, f"the redelivered crawl ({tmp_path})")
        assert posts_per_community(store) == {ids[0]: POSTS_PER_FORUM}
        assert distinct_posts(store) == (POSTS_PER_FORUM, POSTS_PER_FORUM)
        # resumed from the checkpoint: the first topic was not fetched again, the second twice
        assert (world.count(first_topic), world.count(second_topic)) == (1, 2)
        # the rescuer's log lines of the crawl carry the task's name and id
        rescued = [line for line in (tmp_path / "rescuer.log").read_text().splitlines()
                   if f"crawl of community #{ids[0]}" in line]
        assert rescued and all(f"[resurface.crawl {task_id}]" in line for line in rescued), rescued
    finally:
        store.close()


def test_the_broker_going_away_and_coming_back_loses_no_work(
        tmp_path: Path, pg_url: str, redis_url: str, world: ForumWorld) -> None:
    forums = 20
    broker = PrivateRedis(tmp_path).start()
    store = open_store(pg_url, migrate=False)
    try:
        ids = watch_forums(store, world, forums)
        config = write_config(tmp_path / "resurface.toml", store_url=pg_url, broker_url=broker.url,
                              prefix=f"t{uuid.uuid4().hex[:8]}", rate=1000, visibility_timeout=30)
        held = f"/f5/t/{topic_ids(5)[0]}.json"
        release = world.hold(held)
        executor = CeleryExecutor(store_settings(config))
        for n in range(forums):
            executor.crawl(ids[n], "discourse")
        executor.close()
        with processes() as procs:
            procs.append(start_worker(config, KEY, tmp_path / "worker.log", name="w"))
            world.wait_for(lambda: world.count(held) == 1, 60, "the worker to reach forum 5")
            broker.kill()  # gone, with 14 crawls still queued and one in flight
            broker.start()  # back on the same port, from its append-only file
            release.set()
            world.wait_for(lambda: len(finished_ok(store)) == forums, 120, f"all {forums} crawls ({tmp_path})")
        assert posts_per_community(store) == dict.fromkeys(ids.values(), POSTS_PER_FORUM)
        assert distinct_posts(store) == (forums * POSTS_PER_FORUM, forums * POSTS_PER_FORUM)
    finally:
        store.close()
        broker.kill()
