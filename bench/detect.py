"""One full detection cycle over a synthetic world with planted migrations.

    .venv/bin/python bench/detect.py               # 10,000 communities, 1,000,000 posts
    .venv/bin/python bench/detect.py --scale 0.1   # quick: 1,000 communities, 100,000 posts

The world is bulk-inserted straight into a SQLite store (building 1M posts through ingest would
take longer than the thing measured); detection then runs exactly as in production
(``service.detection.run_detection``) in a child process, so its peak RSS is its own.

Planted: ``migrations`` pairs A → B where A is a watched seed that gets banned and B is its
successor carrying two of three strong kinds of evidence (announcement with successor wording in A;
half of A's members moving; A's images reposted); all should come out "strong". Noise: random
links between communities, directory channels advertising dozens of groups, shutdowns without
successors, renames, a heavy-tailed audience shared across communities.

Baseline (same run): the time to read every post, membership and link row once, the least any
detector over this store must do. Targets: cycle <= 60 s at full scale, recall of planted strong = 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text

from config.settings import Settings
from store import models as m
from store.db import open_store

END = datetime(2026, 3, 1, tzinfo=UTC)
PHRASES = ["gruppo di riserva", "backup channel", "neue Gruppe", "nouveau groupe", "grupo de respaldo", "we moved"]
FILLER = ["bella", "nice", "top", "ciao", "wow", "grazie", "more", "foto", "video", "link"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sha(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def near(base: str, rng: random.Random) -> str:
    value = int(base, 16)
    for bit in rng.sample(range(256), rng.randint(1, 10)):
        value ^= 1 << bit
    return f"{value:064x}"


class Builder:
    """Accumulates rows per table and flushes them with executemany in chunks."""

    def __init__(self, conn: Any, chunk: int = 20000) -> None:
        self.conn = conn
        self.chunk = chunk
        self.rows: dict[Any, list[dict[str, Any]]] = {}
        self.post_id = 0
        self.member_id = 0

    def add(self, table: Any, row: dict[str, Any]) -> None:
        rows = self.rows.setdefault(table, [])
        rows.append(row)
        if len(rows) >= self.chunk:
            self.flush()  # every table, in the order first seen: parents before children

    def flush(self, table: Any = None) -> None:
        for t in [table] if table is not None else list(self.rows):
            if self.rows.get(t):
                self.conn.execute(insert(t), self.rows[t])
                self.rows[t] = []


def build(db_url: str, scale: float, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    n_comm = int(10000 * scale)
    n_posts = int(1_000_000 * scale)
    n_users = int(200_000 * scale)
    n_mig = max(5, int(100 * scale))
    n_dir = max(2, int(10 * scale))
    store = open_store(db_url)
    planted: list[tuple[int, int, str]] = []
    started = time.perf_counter()
    with store.engine.begin() as conn:
        b = Builder(conn)
        # communities: ids 1..n_comm; the first n_mig are planted sources, the next n_mig their successors
        created: dict[int, datetime] = {}
        for cid in range(1, n_comm + 1):
            created[cid] = END - timedelta(days=rng.randint(100, 900))
            seed_state = "seed" if cid <= n_mig or rng.random() < 0.2 else "seen"
            if n_mig < cid <= 2 * n_mig:
                created[cid] = END - timedelta(days=rng.randint(5, 25))
                seed_state = "seen"
            b.add(m.Community.__table__, {
                "id": cid, "platform": "telegram", "native_id": str(10_000_000 + cid), "handle": f"chan_{cid}",
                "title": f"{rng.choice(FILLER).title()} {rng.choice(FILLER)} {cid}", "url": f"https://t.me/chan_{cid}",
                "kind": "channel", "status": "active", "member_count": rng.randint(50, 20000),
                "watch_state": seed_state, "labels": [], "depth": 0, "created_at_platform": created[cid],
                "first_seen": created[cid], "last_seen": END, "attrs": {}})
        b.flush()
        # snapshots
        for cid in range(1, n_comm + 1):
            b.add(m.Snapshot.__table__, {
                "community_id": cid, "observed_at": END - timedelta(days=90),
                "last_observed_at": END - timedelta(days=1),
                "observations": 30, "native_id": str(10_000_000 + cid), "handle": f"chan_{cid}",
                "title": f"title {cid}", "status": "active", "member_count": 1000, "content_sha256": sha(cid),
                "payload_sha256": sha("p", cid), "attrs": {}})
        shutdown_at: dict[int, datetime] = {}
        for a in range(1, n_mig + 1):  # planted sources are banned
            shutdown_at[a] = END - timedelta(days=rng.randint(2, 20))
        for a in rng.sample(range(2 * n_mig + 1, n_comm + 1), n_mig):  # shutdowns with no successor
            shutdown_at[a] = END - timedelta(days=rng.randint(2, 20))
        for cid, at in shutdown_at.items():
            b.add(m.Snapshot.__table__, {
                "community_id": cid, "observed_at": at, "last_observed_at": at, "observations": 1, "native_id": None,
                "handle": f"chan_{cid}", "title": None, "status": "banned", "member_count": None,
                "content_sha256": sha("gone", cid), "payload_sha256": sha("gp", cid), "attrs": {}})
        for cid in rng.sample(range(2 * n_mig + 1, n_comm + 1), n_mig // 2):  # renames
            b.add(m.Snapshot.__table__, {
                "community_id": cid, "observed_at": END - timedelta(days=3), "last_observed_at": END,
                "observations": 2, "native_id": str(10_000_000 + cid), "handle": f"chan_{cid}_new",
                "title": f"renamed {cid}", "status": "active", "member_count": 1000,
                "content_sha256": sha("r", cid), "payload_sha256": sha("rp", cid), "attrs": {}})
        b.flush()
        # members: heavy-tailed audience
        for uid in range(1, n_users + 1):
            b.add(m.Member.__table__, {"id": uid, "pseudonym": sha("u", uid)[:64], "platform": "telegram",
                                       "first_seen": END - timedelta(days=900), "last_seen": END})
        b.flush()
        members_of: dict[int, list[int]] = {}
        for cid in range(1, n_comm + 1):
            size = min(n_users, int(rng.paretovariate(1.3) * 15) + 10)
            chosen = {min(n_users, int(rng.paretovariate(0.8))) if rng.random() < 0.2 else rng.randint(1, n_users)
                      for _ in range(size)}
            members_of[cid] = sorted(chosen)
        # planted successors: pick the evidence kinds
        kinds_of: dict[int, tuple[str, ...]] = {}
        for a in range(1, n_mig + 1):
            bid = n_mig + a
            kinds = rng.choice([("announcement", "members"), ("members", "content"), ("announcement", "content"),
                                ("announcement", "members", "content")])
            kinds_of[a] = kinds
            planted.append((a, bid, "+".join(kinds)))
            if "members" in kinds:
                movers = rng.sample(members_of[a], max(8, len(members_of[a]) // 2))
                members_of[bid] = sorted(set(members_of[bid][: len(members_of[bid]) // 3]) | set(movers))
        joined: dict[tuple[int, int], datetime] = {}
        for cid, mems in members_of.items():
            for uid in mems:
                first = max(created[cid], END - timedelta(days=80))
                if n_mig < cid <= 2 * n_mig:
                    first = shutdown_at[cid - n_mig] + timedelta(hours=rng.randint(1, 72))
                joined[(cid, uid)] = first
                b.add(m.Membership.__table__, {"community_id": cid, "member_id": uid, "first_seen": first,
                                               "last_seen": END, "seen_posting": False, "seen_listed": True})
        b.flush()
        # posts, with some links and media
        per_comm = max(1, n_posts // n_comm)
        source_media: dict[int, list[str]] = {}
        post_no = 0
        directories = set(rng.sample(range(2 * n_mig + 1, n_comm + 1), n_dir))
        for cid in range(1, n_comm + 1):
            mems = members_of[cid]
            last = shutdown_at.get(cid, END)
            begin = max(created[cid], END - timedelta(days=90))
            for k in range(per_comm):
                post_no += 1
                at = begin + (last - begin) * (k + 1) / (per_comm + 1)
                body = " ".join(rng.choice(FILLER) for _ in range(6))
                link_to: int | None = None
                if cid in directories and k < 60:
                    link_to = rng.randint(1, n_comm)
                    body = f"Nuovo gruppo! https://t.me/chan_{link_to}"
                elif rng.random() < 0.03:
                    link_to = rng.randint(1, n_comm)
                    body += f" https://t.me/chan_{link_to}"
                if cid <= n_mig and k == per_comm - 1 and "announcement" in kinds_of[cid]:
                    link_to = n_mig + cid
                    body = f"{rng.choice(PHRASES)}: https://t.me/chan_{link_to}"
                b.add(m.Post.__table__, {
                    "id": post_no, "community_id": cid, "native_post_id": str(k), "url": f"https://t.me/chan_{cid}/{k}",
                    "author_id": rng.choice(mems), "created_at": at, "fetched_at": at + timedelta(hours=1),
                    "text": body, "kind": "post", "fwd_hidden": False, "has_media": False,
                    "payload_sha256": sha(post_no),
                    "attrs": {}})
                if link_to is not None and link_to != cid:
                    b.add(m.Link.__table__, {"post_id": post_no, "community_id": cid,
                                             "url": f"https://t.me/chan_{link_to}", "kind": "telegram_public",
                                             "target_platform": "telegram", "target_handle": f"chan_{link_to}",
                                             "is_private": False, "found_at": at})
                media = None
                if cid <= n_mig and k < 8:
                    media = pdq(rng)
                    source_media.setdefault(cid, []).append(media)
                elif n_mig < cid <= 2 * n_mig and "content" in kinds_of[cid - n_mig] and k < 6:
                    media = near(source_media[cid - n_mig][k], rng)
                elif rng.random() < 0.05:
                    media = pdq(rng)
                if media is not None:
                    b.add(m.MediaFingerprint.__table__, {"post_id": post_no, "sha256": sha("img", media), "pdq": media,
                                                         "pdq_quality": 90, "kind": "photo", "created_at": at})
        b.flush()
    store.close()
    return {"communities": n_comm, "posts": post_no, "members": n_users, "memberships": len(joined),
            "planted": planted, "build_seconds": round(time.perf_counter() - started, 1)}


def baseline(db_url: str) -> float:
    """Read every post, membership and link row once."""
    store = open_store(db_url)
    started = time.perf_counter()
    with store.engine.connect() as conn:
        for stmt in ("SELECT id, community_id, created_at, text FROM posts",
                     "SELECT community_id, member_id, first_seen FROM memberships",
                     "SELECT post_id, community_id, target_handle FROM links",
                     "SELECT post_id, pdq FROM media_fingerprints"):
            for _ in conn.execute(text(stmt)):
                pass
    store.close()
    return time.perf_counter() - started


def cycle_child(db_url: str) -> None:
    """Run in a child process: one detection cycle, report JSON on stdout."""
    from service.detection import run_detection

    store = open_store(db_url)
    settings = Settings(data_dir=str(Path(db_url.split("///", 1)[1]).parent))
    started = time.perf_counter()
    with store.session() as session:
        report = run_detection(session, settings)
        strong = {(c["source_id"], c["target_id"]): c["level"] for c in report.candidates}
        alerts = session.scalar(select(text("count(*)")).select_from(m.Alert)) or 0
    seconds = time.perf_counter() - started
    store.close()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "levels": [[k[0], k[1], v]
                      for k, v in strong.items()], "events": len(report.events), "leads": len(report.leads),
                      "candidates": len(report.candidates), "alerts": alerts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 communities, 1,000,000 posts")
    parser.add_argument("--cycle-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cycle_only:
        cycle_child(args.cycle_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        world = build(url, args.scale)
        print(f"world: {world['communities']:,} communities, {world['posts']:,} posts, "
              f"{world['memberships']:,} memberships, {len(world['planted'])} planted migrations "
              f"(built in {world['build_seconds']} s)")
        base = baseline(url)
        child = subprocess.run([sys.executable, __file__, "--cycle-only", url], capture_output=True, text=True,
                               check=False)
        if child.returncode != 0:
            sys.stderr.write(child.stderr)
            raise SystemExit(child.returncode)
        result = json.loads(child.stdout.strip().splitlines()[-1])
    levels = {(a, b): lvl for a, b, lvl in result["levels"]}
    found_strong = sum(1 for a, b, _ in world["planted"] if levels.get((a, b)) == "strong")
    found_any = sum(1 for a, b, _ in world["planted"] if (a, b) in levels)
    planted = len(world["planted"])
    planted_pairs = {(a, b) for a, b, _ in world["planted"]}
    extra_alerting = sum(1 for k, v in levels.items() if k not in planted_pairs and v in ("likely", "strong"))
    print(f"detection cycle: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB")
    print(f"baseline (read posts, memberships, links, media once): {base:.1f} s; "
          f"cycle / baseline = {result['seconds'] / base:.1f}x")
    print(f"events {result['events']:,}, leads {result['leads']:,}, candidates {result['candidates']:,}, "
          f"alerts {result['alerts']:,}")
    print(f"planted migrations found as strong: {found_strong}/{planted} (recall {found_strong / planted:.2f}); "
          f"found at any level: {found_any}/{planted}; unplanted pairs at likely or above: {extra_alerting}")
    misses = [(a, b, kinds, levels.get((a, b))) for a, b, kinds in world["planted"] if levels.get((a, b)) != "strong"]
    for miss in misses[:10]:
        print(f"  not strong: {miss}")


if __name__ == "__main__":
    main()
