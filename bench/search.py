"""Embedded search benchmark: index N synthetic multilingual posts, then time 50 fixed queries.

    .venv/bin/python bench/search.py                   # 1,000,000 posts (targets: >=10,000 docs/s, p95 <= 100 ms)
    .venv/bin/python bench/search.py --count 100000    # quick run
    .venv/bin/python bench/search.py --vocab tiny      # worst case: the old 75-word vocabulary

Baseline (same run, same rows): a plain SQLite table insert without full-text indexing, so the
ratio shows what FTS5 costs on this machine. Wall-clock and CPU time (time.process_time) are both
printed, with the load average, because the machine may be shared. Not run by pytest.

Text: each post is in one language (it/en/de/fr/es), its words drawn Zipf-style (weight 1/rank)
from that language's ~1,500-word ranked list: real function words first (di, the, der, de, que …),
the topical words the queries use (canale, gruppo, backup, sammlung …) spread over ranks 25–250,
then generated pseudo-words for the long tail. So common function words (`hier`, `ici`, `tous`)
match 10–40 % of posts and topical words 0.5–5 %, as in real chat text. ``--vocab tiny`` keeps the
previous 75-word vocabulary, where every word matches a large share of all posts.
"""

from __future__ import annotations

import argparse
import os
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
WORDS = _WORDS_TEXT.split()  # the tiny vocabulary (--vocab tiny)

#: language -> (share of posts, common words in rough frequency order, topical words, pseudo-word endings)
LANGUAGES = {
    "it": (0.35, "di e il la che è per un in non una a del sono si con da mi ma ci ho qui tutti nuovo anche "
                 "come lo questo le gli al ti più se oggi ora ecco solo", "canale gruppo riserva backup link foto "
                 "video chiuso domani benvenuti archivio collezione specchio invito", "o a e i ino etta one"),
    "en": (0.25, "the to and a of is in you for it on that this with be are new here all we now just our will "
                 "get from not your", "group channel backup link photos video closed tomorrow welcome everyone "
                 "join archive collection mirror invite", "ing ed s er ly"),
    "de": (0.15, "der die und das ist ich nicht zu in den mit ein es sich auch auf für hier alle wir jetzt noch "
                 "nur von dem im eine", "neue gruppe kanal sicherung bilder geschlossen morgen willkommen "
                 "beitreten überraschung archiv sammlung spiegel einladung", "en ung er lich heit"),
    "fr": (0.12, "de la le et les des à un une est pour que en du ne pas ici tous nous sur avec plus ce il vous "
                 "qui au", "nouveau groupe chaîne sauvegarde photos fermé demain bienvenue rejoindre café",
           "eur ons é ette ment"),
    "es": (0.13, "de la que el en y los a se del las un por con no una para es todos aquí más lo al como hoy "
                 "ahora", "nuevo grupo canal respaldo fotos cerrado mañana bienvenidos unirse señal",
           "os as ar ión ero"),
}
TAIL_WORDS = 1500


def ranked_vocabulary(lang: str, rng: random.Random) -> list[str]:
    """One language's words in rank order: function words, topical words spread in, pseudo-word tail."""
    _, common, topical, endings = LANGUAGES[lang]
    ranked = list(dict.fromkeys(common.split()))
    syllables = [c + v for c in "bcdfglmnprstvz" for v in "aeiou"]
    seen = set(ranked) | set(topical.split())
    while len(ranked) < TAIL_WORDS:
        word = "".join(rng.choices(syllables, k=rng.randint(1, 3))) + rng.choice(endings.split())
        if word not in seen:
            seen.add(word)
            ranked.append(word)
    for i, word in enumerate(topical.split()):
        ranked.insert(25 + 15 * i, word)
    return ranked


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


def make_docs(count: int, seed: int = 8, vocab: str = "zipf") -> list[Doc]:
    rng = random.Random(seed)
    if vocab == "tiny":
        order = WORDS[:]
        rng.shuffle(order)
        lists = {"tiny": (order, [1 / (i + 1) for i in range(len(order))])}
    else:
        lists = {}
        for lang in LANGUAGES:
            ranked = ranked_vocabulary(lang, rng)
            lists[lang] = (ranked, [1 / (i + 1) for i in range(len(ranked))])
    langs = list(lists)
    shares = [LANGUAGES[lang][0] for lang in langs] if vocab != "tiny" else [1.0]
    cum = {lang: list(_cumulative(lists[lang][1])) for lang in langs}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for n in range(1, count + 1):
        lang = rng.choices(langs, shares)[0]
        ranked = lists[lang][0]
        words = rng.choices(ranked, cum_weights=cum[lang], k=rng.randint(6, 30))
        domains = tuple(rng.sample(DOMAINS, rng.randint(0, 2)))
        community = n % 200
        docs.append(Doc(
            doc_type="post", doc_id=n, platform=PLATFORMS[community % 5], community_id=community,
            community=f"c{community}", community_title=f"Community {community}",
            date=start + timedelta(seconds=n * 9_000_000 // max(count, 1)), text=" ".join(words),
            title=("archive " + ranked[n % 40]) if n % 50 == 0 else None, url=f"https://x.example/{n}",
            links=tuple(f"https://{d}/{n}" for d in domains), domains=domains, has_media=n % 7 == 0))
    return docs


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


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


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--vocab", choices=["zipf", "tiny"], default="zipf")
    args = parser.parse_args()
    print(f"load average (1/5/15 min) at start: {_load()} on {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    docs = make_docs(args.count, vocab=args.vocab)
    print(f"generated {len(docs):,} posts ({args.vocab} vocabulary) in {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        base_rate = baseline_insert(Path(tmp) / "baseline.db", docs)
        backend = EmbeddedBackend(Path(tmp) / "search.db")
        t0, c0 = time.perf_counter(), time.process_time()
        rebuild = backend.begin_rebuild()
        for i in range(0, len(docs), args.batch):
            rebuild.apply(docs[i:i + args.batch])
        t_load, c_load = time.perf_counter() - t0, time.process_time() - c0
        rebuild.commit()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        rate = len(docs) / elapsed
        print(f"indexed: {rate:,.0f} docs/s wall ({elapsed:.1f}s, of which load {t_load:.1f}s, indexes+optimize "
              f"{elapsed - t_load:.1f}s); CPU {cpu:.1f}s = {len(docs) / cpu:,.0f} docs/CPU-s "
              f"(load {c_load:.1f}s); plain-table baseline {base_rate:,.0f} rows/s; ratio {rate / base_rate:.2f}x  "
              f"[target >= 10,000 docs/s]")
        print(f"load average after indexing: {_load()}")
        latencies: list[float] = []
        cpu_ms: list[float] = []
        timed: list[tuple[float, str, str]] = []
        for q in QUERIES:
            for sort in ("newest", "relevance"):
                node = with_filters(parse_query(q))
                t1, c1 = time.perf_counter(), time.process_time()
                page = backend.search(SearchRequest(node, limit=20, sort=sort))
                latencies.append((time.perf_counter() - t1) * 1000)
                cpu_ms.append((time.process_time() - c1) * 1000)
                total = f"{page.total:,}{'+' if page.total_is_lower_bound else ''}"
                timed.append((latencies[-1], f"{q} [{sort}]", total))
        print("slowest:", "; ".join(f"{name} {ms:.0f} ms ({total} matches)"
                                    for ms, name, total in sorted(timed, reverse=True)[:6]))

        def p(values: list[float], q: float) -> float:
            values = sorted(values)
            return values[max(0, int(len(values) * q) - 1)]

        print(f"queries: {len(latencies)} (50 queries x newest/relevance, 20 hits + total count each): "
              f"wall p50 {statistics.median(latencies):.1f} ms, p95 {p(latencies, 0.95):.1f} ms, "
              f"max {max(latencies):.1f} ms; CPU p50 {statistics.median(cpu_ms):.1f} ms, "
              f"p95 {p(cpu_ms, 0.95):.1f} ms  [target p95 <= 100 ms]")
        print(f"load average at end: {_load()}")
        size = sum(f.stat().st_size for f in Path(tmp).glob("search.db*"))
        print(f"index size: {size / 1e6:.0f} MB ({size / len(docs):.0f} bytes/post)")
        backend.close()


if __name__ == "__main__":
    main()
