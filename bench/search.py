"""Embedded search benchmark: index N synthetic multilingual posts, then time 50 fixed queries.

    .venv/bin/python bench/search.py              # 1,000,000 posts (targets: >=10,000 docs/s, p95 <= 100 ms)
    .venv/bin/python bench/search.py --count 50000  # quick run

Baseline (same run, same rows): a plain SQLite table insert without full-text indexing, so the
ratio shows what FTS5 costs on this machine. Not run by pytest.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.base import Doc, SearchRequest
from search.embedded import EmbeddedBackend
from search.query import parse_query, with_filters

_WORDS_TEXT = """
canale nuovo gruppo riserva backup link foto video chiuso domani benvenuti tutti qui ecco new
group channel backup link photos video closed tomorrow welcome everyone here join neue gruppe
kanal sicherung bilder geschlossen morgen willkommen alle hier beitreten überraschung nouveau
groupe chaîne sauvegarde photos fermé demain bienvenue tous ici rejoindre café nuevo grupo
canal respaldo fotos cerrado mañana bienvenidos todos aquí unirse señal archivio archive
archiv collezione collection sammlung mirror specchio spiegel invito invite einladung
"""
WORDS = _WORDS_TEXT.split()
PLATFORMS = ["telegram", "reddit", "discourse", "phpbb", "xenforo"]
DOMAINS = ["t.me", "example.org", "mega.example", "files.example.net", "imgur.example", "discord.example"]
QUERIES = [
    "canale", "gruppo", "\"nuovo canale\"", "\"new group\"", "backup AND link", "riserva OR backup",
    "neue gruppe", "überraschung", "cafe", "señal", "archiv*", "nuov*", "grup*", "canale -chiuso",
    "(canale OR channel) AND platform:telegram", "platform:reddit AND photos", "domain:t.me",
    "domain:example.org AND invito", "has_media:true AND video", "date:2026-02", "date:[2026-01-01 TO 2026-01-15]",
    "community:c17", "community:c3 AND foto", "\"benvenuti tutti\"", "\"welcome everyone here\"",
    "mirror OR specchio OR spiegel", "collezione AND NOT archivio", "title:archive", "text:sammlung",
    "platform:discourse AND date:>=2026-03-01", "type:post AND join", "invite* AND domain:discord.example",
    "\"closed tomorrow\" OR \"chiuso domani\"", "fermé", "mañana AND fotos", "hier", "ici AND tous",
    "*", "platform:phpbb", "community:c42 AND date:2026-03", "photos -video", "einladung OR invite OR invito",
    "\"nouveau groupe\"", "rejoindre", "respaldo OR backup OR sicherung", "has_media:false AND kanal",
    "domain:*.example", "\"link\" AND platform:xenforo", "zzzz_missing", "nuovo AND gruppo AND riserva",
]
assert len(QUERIES) == 50


def make_docs(count: int, seed: int = 8) -> list[Doc]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    order = WORDS[:]
    rng.shuffle(order)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for n in range(1, count + 1):
        words = rng.choices(order, weights, k=rng.randint(6, 30))
        domains = tuple(rng.sample(DOMAINS, rng.randint(0, 2)))
        community = n % 200
        docs.append(Doc(
            doc_type="post", doc_id=n, platform=PLATFORMS[community % 5], community_id=community,
            community=f"c{community}", community_title=f"Community {community}",
            date=start + timedelta(seconds=n * 9_000_000 // max(count, 1)), text=" ".join(words),
            title=("archive " + order[n % 40]) if n % 50 == 0 else None, url=f"https://x.example/{n}",
            links=tuple(f"https://{d}/{n}" for d in domains), domains=domains, has_media=n % 7 == 0))
    return docs


def baseline_insert(path: Path, docs: list[Doc]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, platform TEXT, date REAL, text TEXT)")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?,?,?,?)",
                     ((d.doc_id, d.platform, d.date.timestamp(), d.text) for d in docs))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(docs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    docs = make_docs(args.count)
    print(f"generated {len(docs):,} posts in {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        base_rate = baseline_insert(Path(tmp) / "baseline.db", docs)
        backend = EmbeddedBackend(Path(tmp) / "search.db")
        t0 = time.perf_counter()
        rebuild = backend.begin_rebuild()
        for i in range(0, len(docs), args.batch):
            rebuild.apply(docs[i:i + args.batch])
        rebuild.commit()
        elapsed = time.perf_counter() - t0
        rate = len(docs) / elapsed
        print(f"indexed: {rate:,.0f} docs/s ({elapsed:.1f}s incl. optimize); plain-table baseline "
              f"{base_rate:,.0f} rows/s; ratio {rate / base_rate:.2f}x  [target >= 10,000 docs/s]")
        latencies: list[float] = []
        timed: list[tuple[float, str]] = []
        for q in QUERIES:
            for sort in ("newest", "relevance"):
                node = with_filters(parse_query(q))
                t1 = time.perf_counter()
                backend.search(SearchRequest(node, limit=20, sort=sort))
                latencies.append((time.perf_counter() - t1) * 1000)
                timed.append((latencies[-1], f"{q} [{sort}]"))
        latencies.sort()
        print("slowest:", "; ".join(f"{name} {ms:.0f} ms" for ms, name in sorted(timed, reverse=True)[:6]))
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"queries: {len(latencies)} (50 queries x newest/relevance, 20 hits + total count each): "
              f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms  [target p95 <= 100 ms]")
        size = sum(f.stat().st_size for f in Path(tmp).glob("search.db*"))
        print(f"index size: {size / 1e6:.0f} MB ({size / len(docs):.0f} bytes/post)")
        backend.close()


if __name__ == "__main__":
    main()
