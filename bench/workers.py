"""Crawl throughput with 1, 2, 4 and 8 Celery workers, and the shared rate limit holding.

    RESURFACE_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/workers.py
    ... bench/workers.py --seconds 15 --latency 0.1 --limited-rate 10

A loopback world of 1,000 Discourse forums (tests/support/workers.py; four pages per forum: about, latest and
two topics) answering every page after ``--latency`` seconds, no rate limit. For each worker count, all 1,000
crawls are enqueued on the machine's Redis, that many ``resurface worker`` processes (one process each) start,
and the pages the server answers are counted over ``--seconds`` seconds, starting 5 s after the first request
(when every worker has started): pages per
second, and the ratio to the single-worker rate measured in the same run. Then four workers again with
``crawl.rate_limits`` for 127.0.0.1 set to ``--limited-rate``: the most requests the server saw within any one
second, which must not exceed the limit. Each configuration gets its own PostgreSQL schema and queue prefix,
dropped afterwards. Target: >= 3.5x the single-worker rate at 4 workers (network-bound).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from sqlalchemy import create_engine, text

from config.loader import load_settings
from model.targets import parse_target
from service.executor import CeleryExecutor
from store.db import open_store
from store.watchlist import add_watch
from tests.support.workers import ForumWorld, processes, start_worker, write_config

KEY = "bench-pseudonym-key-0123456789abcdef"
REDIS_URL = "redis://127.0.0.1:6379/0"
WARMUP = 5.0  # seconds after the first request before counting: the last worker process has started


def run(forums: int, workers: int, seconds: float, latency: float, rate: float, base: str) -> tuple[float, int]:
    """Pages per second over ``seconds``, and the most requests within any one second."""
    schema = f"b_{uuid.uuid4().hex[:12]}"
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    world = ForumWorld(latency=latency).start()
    try:
        with tempfile.TemporaryDirectory(prefix="resurface-bench-") as tmp:
            folder = Path(tmp)
            store = open_store(url)
            with store.session() as session:
                ids = [add_watch(session, parse_target(world.url(n), "discourse"))[0] for n in range(forums)]
                session.flush()
                community_ids = [row.id for row in ids]
            config = write_config(folder / "resurface.toml", store_url=url, broker_url=REDIS_URL, prefix=prefix,
                                  rate=rate)
            executor = CeleryExecutor(load_settings(config))
            for cid in community_ids:
                executor.crawl(cid, "discourse")
            executor.close()
            with processes() as procs:
                procs += [start_worker(config, KEY, folder / f"w{i}.log", name=f"w{i}") for i in range(workers)]
                try:
                    world.wait_for(lambda: bool(world.arrivals), 120, "the first request")
                except AssertionError:
                    for log in sorted(folder.glob("w*.log")):
                        print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
                    raise
                start = world.arrivals[0][0] + WARMUP  # every worker up and crawling
                world.wait_for(lambda: time.monotonic() >= start + seconds, WARMUP + seconds + 5, "the measurement")
                with world._lock:
                    served = sum(1 for t, _ in world.arrivals if start <= t < start + seconds)
            store.close()
        return served / seconds, world.max_in_window(1.0)
    finally:
        world.stop()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forums", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per configuration")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before every page is answered")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--limited-rate", type=float, default=10.0, help="requests/s for the rate-limited run")
    args = parser.parse_args()
    base = os.environ.get("RESURFACE_TEST_PG_URL")
    if not base:
        sys.exit("set RESURFACE_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    print(f"{args.forums} forums, {args.latency * 1000:.0f} ms per page, {args.seconds:g} s per configuration, "
          f"{os.cpu_count()} CPUs")
    baseline = None
    for count in [int(w) for w in args.workers.split(",")]:
        rate, peak = run(args.forums, count, args.seconds, args.latency, 100000.0, base)
        baseline = baseline or rate
        print(f"{count} worker(s), no rate limit: {rate:7.1f} pages/s  x{rate / baseline:.2f} of 1 worker  "
              f"(most in one second: {peak})")
    rate, peak = run(args.forums, 4, args.seconds, args.latency, args.limited_rate, base)
    # The window lives in Redis; a request reaches the server a moment after its worker took the slot, so
    # arrivals can bunch by that moment: the tolerance is 10% (at least one request), as in tests/test_workers.py.
    allowed = args.limited_rate + max(1.0, 0.1 * args.limited_rate)
    verdict = f"held: <= {allowed:g} allowed" if peak <= allowed else f"EXCEEDED {allowed:g}"
    print(f"4 workers, shared limit {args.limited_rate:g}/s: {rate:7.1f} pages/s, most in one second: {peak} "
          f"({verdict})")


if __name__ == "__main__":
    main()
