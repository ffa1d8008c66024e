"""One full detection cycle over a synthetic world with planted migrations, then one incremental cycle
after a crawl round that added 1 % of the posts.

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

The crawl round (:func:`crawl_round`): the communities due in one round (``--due``, 5 % by default,
none of them gone) share 1 % of the posts (at full scale 500 communities × 20 posts = 10,000 posts;
``--due 0.01``: 100 × 100), with links and
media at the world's rates, two new members each, a repeated observation of their snapshot and an ok
crawl run; and one watched community shuts down after posting 8 images, while a new community gets
half of its members and 6 of its images re-encoded. The incremental cycle (``full=False``, in a child
process like the full one) must find that pair strong; its time is compared with the full cycle's
(target: under a tenth). ``--compare`` also runs a full rebuild over a copy of the final store and
checks that both leave the same candidates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
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


def crawl_round(db_url: str, scale: float, due_share: float = 0.05, seed: int = 12) -> dict[str, Any]:
    """What one crawl round adds (see the module docstring), bulk-inserted like the world."""
    rng = random.Random(seed)
    store = open_store(db_url)
    at0 = END + timedelta(hours=1)
    with store.engine.begin() as conn:
        gone = {int(c) for c in conn.execute(
            text("SELECT DISTINCT community_id FROM snapshots WHERE status = 'banned'")).scalars()}
        communities = [int(c) for c in conn.execute(text("SELECT id FROM communities ORDER BY id")).scalars()]
        seeds = [int(c) for c in conn.execute(text(
            "SELECT id FROM communities WHERE watch_state = 'seed' ORDER BY id")).scalars()]
        post_no = int(conn.execute(text("SELECT max(id) FROM posts")).scalar() or 0)
        member_no = int(conn.execute(text("SELECT max(id) FROM members")).scalar() or 0)
        n_users = member_no
        live = [c for c in communities if c not in gone]
        due = rng.sample(live, max(10, int(len(communities) * due_share)))
        shut = next(c for c in reversed(seeds) if c not in gone and c not in due)
        per = max(1, int(1_000_000 * scale) // 100 // len(due))
        b = Builder(conn)
        posts = 0
        for cid in due:
            members = [int(x) for x in conn.execute(text("SELECT member_id FROM memberships WHERE community_id = :c"),
                                                     {"c": cid}).scalars()]
            newcomers = []
            for _ in range(2):
                member_no += 1
                newcomers.append(member_no)
                b.add(m.Member.__table__, {"id": member_no, "pseudonym": sha("u", member_no)[:64],
                                           "platform": "telegram", "first_seen": at0, "last_seen": at0})
            b.flush(m.Member.__table__)
            for uid in newcomers:
                b.add(m.Membership.__table__, {"community_id": cid, "member_id": uid, "first_seen": at0,
                                               "last_seen": at0, "seen_posting": False, "seen_listed": True})
            authors = members + newcomers
            for k in range(per):
                post_no += 1
                posts += 1
                at = at0 + timedelta(minutes=k)
                body = " ".join(rng.choice(FILLER) for _ in range(6))
                link_to = rng.randint(1, len(communities)) if rng.random() < 0.03 else None
                if link_to is not None:
                    body += f" https://t.me/chan_{link_to}"
                b.add(m.Post.__table__, {
                    "id": post_no, "community_id": cid, "native_post_id": f"r{k}", "url": f"https://t.me/chan_{cid}/r{k}",
                    "author_id": rng.choice(authors), "created_at": at, "fetched_at": at + timedelta(minutes=5),
                    "text": body, "kind": "post", "fwd_hidden": False, "has_media": False,
                    "payload_sha256": sha("round", post_no), "attrs": {}})
                if link_to is not None and link_to != cid:
                    b.add(m.Link.__table__, {"post_id": post_no, "community_id": cid,
                                             "url": f"https://t.me/chan_{link_to}", "kind": "telegram_public",
                                             "target_platform": "telegram", "target_handle": f"chan_{link_to}",
                                             "is_private": False, "found_at": at})
                if rng.random() < 0.05:
                    media = pdq(rng)
                    b.add(m.MediaFingerprint.__table__, {"post_id": post_no, "sha256": sha("img", media), "pdq": media,
                                                         "pdq_quality": 90, "kind": "photo", "created_at": at})
            b.add(m.CrawlRun.__table__, {"community_id": cid, "source": "telegram_web", "started_at": at0,
                                         "finished_at": at0 + timedelta(minutes=1), "outcome": "ok", "records": per,
                                         "new_posts": per})
            b.flush()
            conn.execute(text("UPDATE snapshots SET observations = observations + 1, last_observed_at = :t WHERE id = "
                              "(SELECT max(id) FROM snapshots WHERE community_id = :c)"), {"t": at0, "c": cid})
        # the new shutdown: `shut` posts 8 images and is banned; a new community gets half its members and 6 images
        shut_members = [int(x) for x in conn.execute(text("SELECT member_id FROM memberships WHERE community_id = :c"),
                                                     {"c": shut}).scalars()]
        images = []
        for k in range(8):
            post_no += 1
            at = at0 + timedelta(hours=k)
            images.append(pdq(rng))
            b.add(m.Post.__table__, {
                "id": post_no, "community_id": shut, "native_post_id": f"s{k}", "url": f"https://t.me/chan_{shut}/s{k}",
                "author_id": rng.choice(shut_members), "created_at": at, "fetched_at": at, "text": "foto",
                "kind": "post", "fwd_hidden": False, "has_media": True, "payload_sha256": sha("shut", post_no),
                "attrs": {}})
            b.add(m.MediaFingerprint.__table__, {"post_id": post_no, "sha256": sha("img", images[-1]),
                                                 "pdq": images[-1], "pdq_quality": 90, "kind": "photo",
                                                 "created_at": at})
        banned_at = at0 + timedelta(hours=10)
        b.add(m.Snapshot.__table__, {
            "community_id": shut, "observed_at": banned_at, "last_observed_at": banned_at, "observations": 1,
            "native_id": None, "handle": f"chan_{shut}", "title": None, "status": "banned", "member_count": None,
            "content_sha256": sha("gone-round", shut), "payload_sha256": sha("gpr", shut), "attrs": {}})
        new_id = max(communities) + 1
        born = banned_at + timedelta(hours=5)
        b.add(m.Community.__table__, {
            "id": new_id, "platform": "telegram", "native_id": str(10_000_000 + new_id), "handle": f"chan_{new_id}",
            "title": f"riserva {new_id}", "url": f"https://t.me/chan_{new_id}", "kind": "channel", "status": "active",
            "member_count": 400, "watch_state": "seen", "labels": [], "depth": 0, "created_at_platform": born,
            "first_seen": born, "last_seen": born, "attrs": {}})
        b.flush()
        b.add(m.Snapshot.__table__, {
            "community_id": new_id, "observed_at": born, "last_observed_at": born, "observations": 1,
            "native_id": str(10_000_000 + new_id), "handle": f"chan_{new_id}", "title": f"riserva {new_id}",
            "status": "active", "member_count": 400, "content_sha256": sha(new_id), "payload_sha256": sha("p", new_id),
            "attrs": {}})
        for uid in rng.sample(shut_members, max(8, len(shut_members) // 2)):
            b.add(m.Membership.__table__, {"community_id": new_id, "member_id": uid, "first_seen": born,
                                           "last_seen": born, "seen_posting": False, "seen_listed": True})
        for k in range(6):
            post_no += 1
            at = born + timedelta(hours=k + 1)
            repost = near(images[k], rng)
            b.add(m.Post.__table__, {
                "id": post_no, "community_id": new_id, "native_post_id": str(k), "url": f"https://t.me/chan_{new_id}/{k}",
                "author_id": None, "created_at": at, "fetched_at": at, "text": "foto", "kind": "post",
                "fwd_hidden": False, "has_media": True, "payload_sha256": sha("succ", post_no), "attrs": {}})
            b.add(m.MediaFingerprint.__table__, {"post_id": post_no, "sha256": sha("img", repost), "pdq": repost,
                                                 "pdq_quality": 90, "kind": "photo", "created_at": at})
        b.flush()
    store.close()
    return {"due": len(due), "posts": posts + 14, "users": n_users, "planted": [shut, new_id]}


def cycle_child(db_url: str, full: bool | None = None) -> None:
    """Run in a child process: one detection cycle, report JSON on stdout."""
    from crawlers.registry import plugins
    from service.detection import run_detection

    # Loading the platform plugins (Telethon, Scrapy, ...) is paid once per process: the scheduler's detect
    # job runs where they are loaded already. It is timed apart, so a cycle's time is detection's own.
    started, cpu_started = time.perf_counter(), time.process_time()
    plugins()
    startup, plugins_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store = open_store(db_url)
    settings = Settings(data_dir=str(Path(db_url.split("///", 1)[1]).parent))
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    with store.session() as session:
        report = run_detection(session, settings, full=full)
        strong = {(c["source_id"], c["target_id"]): c["level"] for c in report.candidates}
        alerts = session.scalar(select(text("count(*)")).select_from(m.Alert)) or 0
        stored = sorted([c.source_id, c.target_id, c.level, round(c.score, 9)]
                        for c in session.scalars(select(m.Candidate)))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    with store.session() as session:  # what else a cycle leaves (compared with a full rebuild's by --compare)
        left = {"alerts": sorted([a.kind, a.dedup_key, a.level, round(a.score, 9), a.source_community_id,
                                  a.target_community_id] for a in session.scalars(select(m.Alert))),
                "events": sorted([e.kind, e.dedup_key, e.community_id, e.related_community_id]
                                 for e in session.scalars(select(m.Event))),
                "watch states": sorted([c.id, c.watch_state] for c in session.scalars(select(m.Community)))}
    store.close()
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "plugins_seconds": startup,
                      "plugins_cpu_seconds": plugins_cpu, "load": [load_before, os.getloadavg()[0]], "left": left,
                      "peak_rss_mb": peak_rss_mb(),
                      "levels": [[k[0], k[1], v]
                      for k, v in strong.items()], "events": len(report.events), "leads": len(report.leads),
                      "candidates": len(report.candidates), "alerts": alerts, "full": report.full,
                      "pairs_scored": report.pairs_scored, "stored": stored}))


def run_child(url: str, mode: str) -> dict[str, Any]:
    child = subprocess.run([sys.executable, __file__, "--cycle-only", url, "--mode", mode], capture_output=True,
                           text=True, check=False)
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise SystemExit(child.returncode)
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 communities, 1,000,000 posts")
    parser.add_argument("--due", type=float, default=0.05,
                        help="share of the communities crawled in the round (the 1 %% of posts is spread over them)")
    parser.add_argument("--compare", action="store_true",
                        help="also rebuild the final store in full and check both leave the same candidates")
    parser.add_argument("--keep", metavar="DIR",
                        help="copy the store after the crawl round (before the incremental cycle) to DIR/round.db, "
                             "to profile the incremental cycle on it")
    parser.add_argument("--cycle-only", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cycle_only:
        cycle_child(args.cycle_only, {"auto": None, "full": True, "incremental": False}[args.mode])
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        world = build(url, args.scale)
        print(f"world: {world['communities']:,} communities, {world['posts']:,} posts, "
              f"{world['memberships']:,} memberships, {len(world['planted'])} planted migrations "
              f"(built in {world['build_seconds']} s)")
        base = baseline(url)
        result = run_child(url, "full")
        started = time.perf_counter()
        round_ = crawl_round(url, args.scale, args.due)
        round_seconds = time.perf_counter() - started
        if args.compare:
            shutil.copyfile(Path(tmp) / "bench.db", Path(tmp) / "copy.db")
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "bench.db", Path(args.keep) / "round.db")
        incremental = run_child(url, "incremental")
        rebuilt = run_child(f"sqlite:///{Path(tmp) / 'copy.db'}", "full") if args.compare else None
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
    shut, successor = round_["planted"]
    inc_levels = {(a, b): lvl for a, b, lvl in incremental["levels"]}
    print(f"crawl round: {round_['posts']:,} posts over {round_['due']} communities "
          f"(inserted in {round_seconds:.1f} s); community {shut} shut down, {successor} its successor")
    print(f"incremental cycle: {incremental['seconds']:.1f} s (full: {incremental['full']}), "
          f"{incremental['pairs_scored']:,} pairs scored, peak RSS {incremental['peak_rss_mb']:.0f} MB; "
          f"full cycle {result['seconds']:.1f} s; "
          f"incremental / full = {incremental['seconds'] / result['seconds']:.3f} (target < 0.1)")
    cpu = [r["cpu_seconds"] for r in (incremental, result)]
    cpu_plugins = [r["cpu_seconds"] + r["plugins_cpu_seconds"] for r in (incremental, result)]
    print(f"CPU time (the child's process time, which the machine's load inflates less): incremental "
          f"{cpu[0]:.1f} s / full {cpu[1]:.1f} s = {cpu[0] / cpu[1]:.3f}; with plugin loading "
          f"{cpu_plugins[0]:.1f} s / {cpu_plugins[1]:.1f} s = {cpu_plugins[0] / cpu_plugins[1]:.3f}")
    print(f"load average (1 min) at the start and end of each cycle: full "
          f"{result['load'][0]:.1f}-{result['load'][1]:.1f}, incremental "
          f"{incremental['load'][0]:.1f}-{incremental['load'][1]:.1f}")
    with_plugins = [(r["seconds"] + r["plugins_seconds"]) for r in (incremental, result)]
    print(f"loading the platform plugins, once per process (not in the times above): "
          f"{incremental['plugins_seconds']:.1f} s (incremental run), {result['plugins_seconds']:.1f} s (full run); "
          f"counted in: incremental {with_plugins[0]:.1f} s / full {with_plugins[1]:.1f} s = "
          f"{with_plugins[0] / with_plugins[1]:.3f}")
    print(f"new shutdown's successor found as: {inc_levels.get((shut, successor))}; "
          f"events {incremental['events']}, alerts in store {incremental['alerts']}")
    if rebuilt is not None:
        same = rebuilt["stored"] == incremental["stored"]
        print(f"full rebuild of the same final store: {rebuilt['seconds']:.1f} s; stored candidates identical: {same}")
        if not same:
            a_set = {tuple(x) for x in incremental["stored"]}
            b_set = {tuple(x) for x in rebuilt["stored"]}
            print(f"  only incremental: {sorted(a_set - b_set)[:5]}; only full: {sorted(b_set - a_set)[:5]}")
        for what, rows in incremental["left"].items():
            print(f"  {what} identical: {rows == rebuilt['left'][what]}")


if __name__ == "__main__":
    main()
