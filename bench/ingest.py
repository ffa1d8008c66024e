"""Ingest throughput: N synthetic posts through store.ingest into SQLite, against a plain executemany.

    .venv/bin/python bench/ingest.py            # 1,000,000 posts
    .venv/bin/python bench/ingest.py --posts 100000

Prints posts/s for ingest, posts/s for a plain sqlite3 executemany of the same rows into the same
schema (measured in the same run), their ratio, and peak RSS. Targets: >= 20,000 posts/s, >= 0.3 of
the raw rate, peak RSS < 500 MB.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawlers import records as r
from store.db import open_store
from store.ingest import IngestContext, _post_row, ingest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = [
    "gruppo", "nuovo", "canale", "riserva", "backup", "foto", "video", "link", "membri", "admin", "regole",
    "benvenuti", "new", "group", "channel", "moved", "invite", "neue", "Gruppe", "nouveau", "groupe", "grupo",
    "respaldo",
]


def pages(total: int, page_size: int, communities: int, members: int, seed: int = 7) -> Iterator[list[r.Record]]:
    rnd = random.Random(seed)
    made = 0
    page_no = 0
    while made < total:
        cid = page_no % communities
        handle = f"bench_chan_{cid:05d}"
        ref = r.CommunityRef("telegram", str(100000 + cid), handle)
        batch: list[r.Record] = []
        if page_no < communities:
            batch.append(r.CommunitySnapshot("telegram", str(100000 + cid), handle, f"https://t.me/{handle}", T0,
                                             title=f"Bench {cid}", member_count=rnd.randint(10, 50000)))
        for _ in range(min(page_size, total - made)):
            made += 1
            author = r.RawMember("telegram", str(rnd.randrange(members)))
            text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 30)))
            batch.append(r.Post(ref, str(made), f"https://t.me/{handle}/{made}", T0 + timedelta(days=1),
                                created_at=T0 + timedelta(seconds=made), author=author, text=text,
                                views=rnd.randint(0, 10000)))
        batch.append(r.Checkpoint(ref, "bench", {"last_post_id": made}))
        page_no += 1
        yield batch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    key = b"bench-key-0123456789abcdef"
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/ingest.db")
        ctx = IngestContext(key=key)
        ingest_s = 0.0  # time spent in ingest only, not in making the synthetic records
        for batch in pages(args.posts, args.page_size, 1000, 200_000):
            t = time.perf_counter()
            with store.session() as s:
                ingest(s, batch, ctx)
            ingest_s += time.perf_counter() - t
        ingest_rss = peak_rss_mb()
        store.close()

        # Baseline: the same post rows, plain sqlite3 executemany into the same (migrated) schema.
        base = open_store(f"sqlite:///{tmp}/raw.db")
        base.close()
        conn = sqlite3.connect(f"{tmp}/raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executemany("INSERT INTO communities (id, platform, native_id, handle, kind, status, watch_state, labels,"
                         " depth, first_seen, last_seen, attrs) VALUES (?, 'telegram', ?, ?, 'channel', 'active',"
                         " 'seen', '[]', 0, '2026-01-01', '2026-01-01', '{}')",
                         [(i + 1, str(100000 + i), f"bench_chan_{i:05d}") for i in range(1000)])
        cols = None
        raw_s = 0.0
        for batch in pages(args.posts, args.page_size, 1000, 200_000):
            rows = []
            for rec in batch:
                if isinstance(rec, r.Post):
                    row = _post_row(rec, int(rec.community.native_id or 0) - 100000 + 1, None)
                    row["created_at"] = row["created_at"].isoformat()
                    row["fetched_at"] = row["fetched_at"].isoformat()
                    row["attrs"] = "{}"
                    cols = cols or list(row)
                    rows.append(tuple(row[c] for c in cols))
            assert cols is not None
            sql = f"INSERT INTO posts ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
            t = time.perf_counter()
            conn.executemany(sql, rows)
            conn.commit()
            raw_s += time.perf_counter() - t
        conn.close()

    ingest_rate = args.posts / ingest_s
    raw_rate = args.posts / raw_s
    print(f"posts: {args.posts:,}")
    print(f"ingest: {ingest_s:.1f} s, {ingest_rate:,.0f} posts/s (target >= 20,000)")
    print(f"plain executemany: {raw_s:.1f} s, {raw_rate:,.0f} posts/s")
    print(f"ratio ingest/raw: {ingest_rate / raw_rate:.2f} (target >= 0.30)")
    print(f"peak RSS during ingest: {ingest_rss:.0f} MB (target < 500 MB)")


if __name__ == "__main__":
    main()
