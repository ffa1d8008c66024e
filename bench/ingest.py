"""Ingest throughput: N synthetic posts through store.ingest into SQLite, against a plain executemany.

    .venv/bin/python bench/ingest.py            # 1,000,000 posts
    .venv/bin/python bench/ingest.py --posts 100000

Prints posts/s for ingest, posts/s for a plain sqlite3 executemany of the same rows into the same
schema with the same PRAGMAs (measured in the same run, page by page alternating with ingest), their
ratio, and peak RSS. Targets: >= 20,000 posts/s, >= 0.3 of
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

from model import records as r
from store.db import SQLITE_CACHE_KIB, open_store
from store.ingest import _SQLITE_INSERT_POST, IngestContext, _sqlite_post_values, ingest

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


def raw_connection(path: str) -> sqlite3.Connection:
    """The baseline's connection: the same PRAGMAs as store.db gives every store connection."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # same page cache as the store
    return conn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    key = b"bench-key-0123456789abcdef"
    communities, members = 1000, 200_000
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/ingest.db")
        ctx = IngestContext(key=key)

        # Baseline: the same post rows (author ids included, values as the store holds them), plain
        # sqlite3 executemany + commit per page into the same migrated schema with the same PRAGMAs.
        # Its communities and members exist beforehand (untimed) so the foreign keys hold.
        open_store(f"sqlite:///{tmp}/raw.db").close()
        conn = raw_connection(f"{tmp}/raw.db")
        conn.executemany("INSERT INTO communities (id, platform, native_id, handle, kind, status, watch_state, labels,"
                         " depth, first_seen, last_seen, attrs) VALUES (?, 'telegram', ?, ?, 'channel', 'active',"
                         " 'seen', '[]', 0, '2026-01-01', '2026-01-01', '{}')",
                         [(i + 1, str(100000 + i), f"bench_chan_{i:05d}") for i in range(communities)])
        conn.executemany("INSERT INTO members (id, pseudonym, platform, first_seen, last_seen)"
                         " VALUES (?, ?, 'telegram', '2026-01-01', '2026-01-01')",
                         [(i + 1, f"m{i}") for i in range(members)])
        conn.commit()

        # The two runs alternate page by page, so both see the same load on a shared machine.
        ingest_s = raw_s = 0.0  # time spent in ingest / executemany only, not in making the records
        for batch in pages(args.posts, args.page_size, communities, members):
            t = time.perf_counter()
            with store.session() as s:
                ingest(s, batch, ctx)
            ingest_s += time.perf_counter() - t

            rows = [_sqlite_post_values(rec, int(rec.community.native_id or 0) - 100000 + 1,
                                        int(rec.author.user_id or 0) + 1 if rec.author else None)
                    for rec in batch if isinstance(rec, r.Post)]
            t = time.perf_counter()
            conn.executemany(_SQLITE_INSERT_POST, rows)
            conn.commit()
            raw_s += time.perf_counter() - t
        conn.close()
        store.close()
    peak = peak_rss_mb()

    ingest_rate = args.posts / ingest_s
    raw_rate = args.posts / raw_s
    print(f"posts: {args.posts:,}")
    print(f"ingest: {ingest_s:.1f} s, {ingest_rate:,.0f} posts/s (target >= 20,000)")
    print(f"plain executemany: {raw_s:.1f} s, {raw_rate:,.0f} posts/s")
    print(f"ratio ingest/raw: {ingest_rate / raw_rate:.2f} (target >= 0.30)")
    print(f"peak RSS (ingest and baseline in one process): {peak:.0f} MB (target < 500 MB)")


if __name__ == "__main__":
    main()
