"""Workspace benchmark: p95 answer time of each page on a generated store, through a real uvicorn on loopback.

    .venv/bin/python bench/web.py                                   # 200,000 posts, 10,000 communities
    .venv/bin/python bench/web.py --posts 1000000 --communities 10000 --repeat 40

The store is written with bulk inserts (not through ingest: no members, no fingerprints), then the
search index is rebuilt from it. Each page is asked ``--repeat`` times by a signed-in investigator
(the graph viewer, which builds the whole graph, ``--graph-repeat`` times). Not run by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import insert

from config.settings import Settings
from search.indexer import open_backend, reindex
from service.app import App
from store import accounts
from store import models as m
from tests.support.webserver import serve
from web.app import create_app

WORDS = [
    "canale", "nuovo", "gruppo", "riserva", "backup", "link", "foto", "video", "chiuso", "domani", "benvenuti",
    "tutti", "qui", "ecco", "new", "group", "channel", "join", "neue", "gruppe", "kanal", "morgen", "nouveau",
    "groupe", "demain", "nuevo", "grupo", "canal"
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def generate(app: App, posts: int, communities: int, seed: int = 16) -> None:
    rng = random.Random(seed)
    engine = app.store.engine
    with engine.begin() as conn:
        conn.execute(insert(m.Community), [
            {"platform": "telegram" if i % 3 else "reddit", "native_id": str(10_000 + i), "handle": f"gruppo_{i}",
             "title": f"Gruppo {i}", "url": f"https://t.me/gruppo_{i}", "status": "active" if i % 20 else "removed",
             "watch_state": "seed" if i % 4 == 0 else "candidate", "case_name": f"case{i % 5}", "labels": [],
             "depth": 0, "kind": "channel", "first_seen": T0, "last_seen": T0, "attrs": {}}
            for i in range(communities)])
        conn.execute(insert(m.Snapshot), [
            {"community_id": i + 1, "observed_at": T0, "last_observed_at": T0, "observations": 1,
             "handle": f"gruppo_{i}", "title": f"Gruppo {i}", "status": "active", "member_count": rng.randint(10, 9000),
             "content_sha256": "0" * 64, "payload_sha256": "0" * 64, "attrs": {}} for i in range(communities)])
        batch = []
        for n in range(posts):
            text = " ".join(rng.choices(WORDS, k=12))
            batch.append({"community_id": rng.randint(1, communities), "native_post_id": str(n),
                          "url": f"https://t.me/x/{n}", "created_at": T0 + timedelta(minutes=n),
                          "fetched_at": T0 + timedelta(minutes=n), "text": text,
                          "payload_sha256": hashlib.sha256(text.encode()).hexdigest(), "attrs": {}})
            if len(batch) == 20_000:
                conn.execute(insert(m.Post), batch)
                batch.clear()
        if batch:
            conn.execute(insert(m.Post), batch)
        conn.execute(insert(m.Candidate), [
            {"source_id": i + 1, "target_id": i + 2, "score": 0.5, "level": "likely", "signals": [], "state": "open",
             "computed_at": T0} for i in range(0, min(communities - 1, 10_000), 2)])
        conn.execute(insert(m.Alert), [
            {"kind": "migration", "dedup_key": f"a{i}", "level": ("possible", "likely", "strong")[i % 3],
             "score": 0.5, "source_community_id": i + 1, "target_community_id": i + 2, "state": "new",
             "created_at": T0 + timedelta(hours=i), "updated_at": T0 + timedelta(hours=i), "escalations": 0,
             "payload": {"kind": "migration", "level": "likely", "score": 0.5, "signals": [
                 {"name": "announcement", "score": 0.9, "evidence": [{"excerpt": "ci spostiamo nel nuovo canale",
                                                                      "post_url": "https://t.me/x/1"}]},
                 {"name": "members", "score": 0.6, "evidence": [{"shared": 40, "overlap_coefficient": 0.5}]}],
                 "source": None, "target": None, "created_at": (T0 + timedelta(hours=i)).isoformat()}}
            for i in range(min(communities - 1, 5000))])
        conn.execute(insert(m.Lead), [
            {"url": f"https://t.me/+invite{i}", "kind": "telegram_invite", "platform": "telegram", "is_private": True,
             "state": "needs_human", "depth": 1, "source_community_id": i + 1, "found_at": T0 + timedelta(hours=i),
             "attrs": {}} for i in range(min(communities, 5000))])


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--graph-repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RESURFACE_PSEUDONYM_KEY", "bench-web-key-0123456789abcdef0123")
    with tempfile.TemporaryDirectory(prefix="resurface-bench-web-") as tmp:
        settings = Settings(data_dir=tmp)
        settings.base_dir = Path(tmp)
        app = App(settings)
        started = time.perf_counter()
        generate(app, args.posts, args.communities)
        print(f"generated {args.posts:,} posts, {args.communities:,} communities in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        started = time.perf_counter()
        backend = open_backend(settings)
        try:
            reindex(app.store, backend, settings.search.batch_size)
        finally:
            backend.close()
        print(f"indexed in {time.perf_counter() - started:.0f}s", flush=True)
        with app.store.session() as s:
            accounts.create_user(s, "bench", "investigator", "bench-password-1")
        mid = min(args.communities - 1, 5000) // 2
        pages = {"/alerts": args.repeat, "/alerts?state=open&level=strong&case=case1": args.repeat,
                 f"/alerts/{mid}": args.repeat, "/leads": args.repeat, f"/leads/{mid}": args.repeat,
                 "/search?q=canale%20AND%20riserva": args.repeat, f"/communities/{args.communities // 2}": args.repeat,
                 "/watchlist": args.repeat, "/graph": args.repeat, "/graph/view.html?case=case1": args.graph_repeat}
        with serve(create_app(app)) as base, httpx.Client(base_url=base, timeout=600) as client:
            login = client.get("/login").text
            csrf = login.split('name="csrf" value="')[1].split('"')[0]
            client.post("/login", data={"name": "bench", "password": "bench-password-1", "csrf": csrf})
            print(f"{'page':<48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for path, repeat in pages.items():
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                print(f"{path:<48} {statistics.median(times):>8.1f} {p95(times):>8.1f} {max(times):>8.1f}", flush=True)
        app.close()
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
