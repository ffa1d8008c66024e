"""The embedded backend: SQLite FTS5 in its own file under the data directory (no server).

Layout: ``docs`` holds one row per document, ``key`` = :func:`search.base.sort_key`; ``fts`` is the
FTS5 table with the searchable text (columns ``text`` and ``title``); ``doc_terms`` holds
multi-valued keywords (link, domain, sha256, pdq). All three share one **time-ordered row id**
(:func:`time_rowid`: the date in milliseconds in the high bits, a slot in the low bits), because
FTS5 can walk a term's matches in row id order and stop early: "newest first" reads one page of
matches instead of every match of a common word. Within one millisecond the slot order is not the
exact tie order (``key``), so a page is found in two steps: the first ``offset + limit`` matches
in row id order fix a lower bound (the start of the oldest millisecond among them), and only the
matches above it are sorted exactly by (date, key) -- the same order as Elasticsearch.

Totals are exact up to :data:`TOTAL_CAP` and reported as a lower bound beyond it (like
Elasticsearch's default ``track_total_hits``): counting every one of 500,000 matches of a common
word costs more than the whole page. The ``unicode61`` tokenizer with ``remove_diacritics 2``
folds case and accents for Latin, Greek and Cyrillic scripts; it does not segment scripts written
without spaces (Chinese, Japanese, Thai) -- use Elasticsearch with the ICU plugin for those.

A rebuild runs in one write transaction (drop, recreate, refill, commit): readers keep seeing the
old index until the commit, which is the embedded counterpart of Elasticsearch's alias swap.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search.base import (
    MARK_END,
    MARK_START,
    Action,
    ApplyResult,
    BackendUnavailable,
    Doc,
    Hit,
    Rebuild,
    SearchBackend,
    SearchError,
    SearchPage,
    SearchRequest,
    sort_key,
)
from search.fts import Compiled, compile_query

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 3: fts.title_key and community_key terms (names folded as detection does)
SNIPPET_TOKENS = 24
PLAIN_SNIPPET_CHARS = 200
#: Totals are counted exactly up to here; beyond it a page says "at least TOTAL_CAP".
TOTAL_CAP = 10_000
#: Keyword-only queries look for their page among this many newest documents first.
KEYWORD_WINDOW = 4 * TOTAL_CAP

SLOT_BITS = 21
_SLOTS = 1 << SLOT_BITS
_MAX_MS = (1 << (62 - SLOT_BITS)) - 1  # dates beyond ~year 2109 (or before 1830) share the end buckets

TABLES_SQL = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS docs (
        rowid INTEGER PRIMARY KEY, key INTEGER NOT NULL, doc_type TEXT NOT NULL, doc_id INTEGER NOT NULL,
        platform TEXT NOT NULL, community_id INTEGER NOT NULL, community TEXT, author TEXT, date REAL NOT NULL,
        has_media INTEGER NOT NULL, url TEXT, status TEXT)""",
    """CREATE TABLE IF NOT EXISTS doc_terms (field TEXT NOT NULL, value TEXT NOT NULL, rowid INTEGER NOT NULL,
        PRIMARY KEY (field, value, rowid)) WITHOUT ROWID""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, title, title_key,
        tokenize = 'unicode61 remove_diacritics 2')""",
]
#: Secondary indexes: a rebuild creates them after the bulk load (one sort instead of 1M B-tree inserts).
INDEXES_SQL = [
    "CREATE UNIQUE INDEX IF NOT EXISTS docs_key ON docs (key)",
    "CREATE INDEX IF NOT EXISTS docs_date ON docs (date, key)",
    "CREATE INDEX IF NOT EXISTS docs_platform ON docs (platform, date, key)",
    "CREATE INDEX IF NOT EXISTS docs_community ON docs (community, date, key)",
    "CREATE INDEX IF NOT EXISTS docs_community_id ON docs (community_id, date, key)",
    "CREATE INDEX IF NOT EXISTS docs_author ON docs (author)",
    "CREATE INDEX IF NOT EXISTS doc_terms_rowid ON doc_terms (rowid)",
]
SCHEMA = TABLES_SQL + INDEXES_SQL
TABLES = ("docs", "doc_terms", "fts", "meta")
#: FTS5 pending-data buffer for a rebuild: fewer, larger segments to merge (default is 1 MB).
REBUILD_HASHSIZE = 64 * 1024 * 1024
REBUILD_CACHE_KIB = 512 * 1024
CACHE_KIB = 64 * 1024
MMAP_BYTES = 256 * 1024 * 1024


def time_bucket(timestamp: float) -> int:
    """The millisecond a date falls in (clamped to what fits the row id); monotonic in ``timestamp``."""
    return max(-_MAX_MS, min(_MAX_MS, math.floor(timestamp * 1000)))


def time_rowid(timestamp: float, key: int, probe: int = 0) -> int:
    """Row id for a document: its millisecond in the high bits, ``key``'s low bits (+ ``probe``) below.

    Two documents in the same millisecond whose keys agree in the low bits collide; the caller
    then tries ``probe`` = 1, 2, ... (always inside the same millisecond, so the order by date holds).
    """
    if probe >= _SLOTS:
        raise SearchError(f"more than {_SLOTS} documents in one millisecond; cannot index them all")
    return (time_bucket(timestamp) << SLOT_BITS) + ((key + probe) % _SLOTS)


def _doc_rows(doc: Doc, rowid: int) -> tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[str, str, int]]]:
    row = (rowid, doc.sort_key, doc.doc_type, doc.doc_id, doc.platform, doc.community_id, doc.community,
           doc.author, doc.date.timestamp(), int(doc.has_media), doc.url, doc.status)
    terms = [(f, v.lower(), rowid) for f, values in (("link", doc.links), ("domain", doc.domains),
                                                     ("sha256", doc.sha256), ("pdq", doc.pdq))
             for v in dict.fromkeys(values)]
    terms.extend(("community_key", key, rowid) for key in doc.community_keys)
    return row, (rowid, doc.text or "", doc.title or "", doc.title_key), terms


def _insert_rows(conn: sqlite3.Connection, docs: Sequence[Doc], rowids: Sequence[int]) -> None:
    rows, texts, terms = [], [], []
    for doc, rowid in zip(docs, rowids, strict=True):
        row, text, doc_terms = _doc_rows(doc, rowid)
        rows.append(row)
        texts.append(text)
        terms.extend(doc_terms)
    conn.executemany("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO fts (rowid, text, title, title_key) VALUES (?,?,?,?)", texts)
    conn.executemany("INSERT OR IGNORE INTO doc_terms (field, value, rowid) VALUES (?,?,?)", terms)


def _delete_rowids(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    ids = [(r,) for r in rowids]
    for table in ("docs", "fts", "doc_terms"):
        conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", ids)


def _upsert(conn: sqlite3.Connection, docs: Sequence[Doc]) -> None:
    """Replace documents by key. A document whose date moved to another millisecond gets a new row id."""
    latest = {doc.sort_key: doc for doc in docs}  # the last version of a key in the batch wins
    old: dict[int, int] = {}
    keys = list(latest)
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        old.update(conn.execute(f"SELECT key, rowid FROM docs WHERE key IN ({','.join('?' * len(chunk))})",
                                chunk).fetchall())
    _delete_rowids(conn, list(old.values()))
    rowids: list[int] = []
    taken: set[int] = set()
    for key, doc in latest.items():
        ts = doc.date.timestamp()
        probe = 0
        while True:
            rowid = time_rowid(ts, key, probe)
            if rowid not in taken and conn.execute("SELECT 1 FROM docs WHERE rowid = ?", (rowid,)).fetchone() is None:
                break
            probe += 1
        taken.add(rowid)
        rowids.append(rowid)
    _insert_rows(conn, list(latest.values()), rowids)


class EmbeddedBackend(SearchBackend):
    name = "embedded"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._ensured = False

    # --- plumbing ------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
                conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
                conn.execute("PRAGMA temp_store=MEMORY")
                # Deleted content is overwritten, not left in free pages: purged post texts must go.
                conn.execute("PRAGMA secure_delete=ON")
            except (OSError, sqlite3.Error) as exc:
                raise BackendUnavailable(f"search index {self.path}: cannot open: {exc}") from None
            self._conn = conn
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; any SQLite failure is the backend being unavailable."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"search index {self.path}: {exc}") from None

    def ensure(self) -> None:
        if self._ensured:
            return
        with self._write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise SearchError(f"search index {self.path} has layout version {row[0]}, this version needs "
                                  f"{SCHEMA_VERSION}: run `resurface reindex`")
        self._ensured = True

    def expunge(self) -> None:
        """Merge the FTS5 segments (a replaced document's terms stay in old segments until then) with
        secure_delete on, then checkpoint and truncate the write-ahead log, which still holds the
        pages as they were before."""
        self.ensure()
        with self._write() as conn:
            conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
        with self._lock:
            try:
                busy, _, _ = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"search index {self.path}: {exc}") from None
        if busy:
            log.warning("search index %s: a reader kept the write-ahead log from being truncated; "
                        "the next purge truncates it", self.path)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._ensured = False

    # --- writes --------------------------------------------------------------------------------

    def apply(self, actions: Sequence[Action]) -> ApplyResult:
        self.ensure()
        docs = [a.doc for a in actions if a.doc is not None]
        deletes = [a.key for a in actions if a.doc is None]
        with self._write() as conn:
            if docs:
                _upsert(conn, docs)
            for key in deletes:
                doc_type, _, doc_id = key.partition(":")
                key_value = sort_key(doc_type, int(doc_id))
                row = conn.execute("SELECT rowid FROM docs WHERE key = ?", (key_value,)).fetchone()
                if row is not None:
                    _delete_rowids(conn, [row[0]])
        return ApplyResult(frozenset(a.key for a in actions))

    def begin_rebuild(self) -> Rebuild:
        return _EmbeddedRebuild(self)

    # --- reads ---------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchPage:
        self.ensure()
        compiled = compile_query(request.query)
        if compiled.match is not None and compiled.keywords:
            compiled = compile_query(request.query, probe=True)  # FTS matches drive; keywords probe each
        newest = "d.date DESC, d.key DESC"
        relevance = request.sort == "relevance" and compiled.match is not None
        with self._lock:
            conn = self._connection()
            try:
                if compiled.match is None and compiled.keywords:
                    total, source, params = self._keyword_source(conn, request, compiled)
                else:
                    total, source, params = self._count(conn, compiled)
                rows = self._page(conn, request, compiled.match, source, params, newest, relevance) \
                    if request.limit else []
            except sqlite3.OperationalError as exc:
                # Our own SQL is fixed and values are bound, so this is a locked or broken file, or an
                # FTS5 limit; never show raw SQLite text as if it were the user's fault.
                if "locked" in str(exc) or "unable to open" in str(exc) or "disk" in str(exc):
                    raise BackendUnavailable(f"search index {self.path}: {exc}") from None
                raise SearchError(f"the embedded search index could not run this query ({exc})") from None
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"search index {self.path}: {exc}") from None
        hits = [Hit(key=f"{r[0]}:{r[1]}", doc_type=r[0], doc_id=r[1], platform=r[2], community=r[3],
                    community_id=r[4], date=datetime.fromtimestamp(r[5], UTC), url=r[6], title=r[7] or None,
                    snippet=r[8] or "", score=r[9]) for r in rows]
        everything = compiled.match is None and compiled.where == "1"  # counted exactly, see _count
        if total > TOTAL_CAP and not everything:
            return SearchPage(total=TOTAL_CAP, hits=hits, total_is_lower_bound=True)
        return SearchPage(total=total, hits=hits)

    @staticmethod
    def _count(conn: sqlite3.Connection, compiled: Compiled) -> tuple[int, str, list[Any]]:
        """(total, capped at TOTAL_CAP + 1; the FROM/WHERE of the matches; its parameters)."""
        if compiled.match is not None:
            # CROSS JOIN keeps FTS as the outer loop; otherwise SQLite may rerun MATCH once per docs row.
            source = "FROM fts CROSS JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ? AND " + compiled.where
            params = [compiled.match, *compiled.params]
            count_source, count_params = ("FROM fts WHERE fts MATCH ?", [compiled.match]) \
                if compiled.where == "1" else (source, params)
        elif compiled.where == "1":
            # Everything is counted exactly: cheap, and SearchBackend.count() relies on it.
            return conn.execute("SELECT count(*) FROM docs").fetchone()[0], "FROM docs d WHERE 1", []
        else:
            source = count_source = "FROM docs d WHERE " + compiled.where
            params = count_params = list(compiled.params)
        total = conn.execute(f"SELECT count(*) FROM (SELECT 1 {count_source} LIMIT {TOTAL_CAP + 1})",
                             count_params).fetchone()[0]
        return total, source, params

    def _keyword_source(self, conn: sqlite3.Connection, request: SearchRequest,
                        compiled: Compiled) -> tuple[int, str, list[Any]]:
        """Keyword queries without text: try the newest :data:`KEYWORD_WINDOW` rows first.

        A common keyword (``domain:*.example``) fills the count and the page from the newest rows
        with one indexed probe each; only when the window does not (a rare keyword, whose list of
        matches is short) is the whole list of matches built with ``rowid IN (…)``.
        """
        floor_row = conn.execute("SELECT rowid FROM docs ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                                 (KEYWORD_WINDOW,)).fetchone()
        if floor_row is not None:
            probe = compile_query(request.query, probe=True)
            # The window, then -- when the window's density says the cap is within 4 windows -- every row.
            for floor in (floor_row[0], None):
                windowed = f"FROM docs d WHERE {probe.where}" + (" AND d.rowid >= ?" if floor is not None else "")
                wparams = [*probe.params] + ([floor] if floor is not None else [])
                total = conn.execute(f"SELECT count(*) FROM (SELECT 1 {windowed} ORDER BY d.rowid DESC "
                                     f"LIMIT {TOTAL_CAP + 1})", wparams).fetchone()[0]
                if total > TOTAL_CAP:
                    wanted = request.offset + request.limit
                    found, oldest = conn.execute(f"SELECT count(*), min(r) FROM (SELECT d.rowid AS r {windowed} "
                                                 "ORDER BY d.rowid DESC LIMIT ?)", [*wparams, wanted]).fetchone()
                    if found >= wanted:
                        return total, f"FROM docs d WHERE {probe.where} AND d.rowid >= ?", \
                            [*probe.params, (oldest >> SLOT_BITS) << SLOT_BITS]
                    return total, "FROM docs d WHERE " + compiled.where, list(compiled.params)
                if total * 4 <= TOTAL_CAP:
                    break
        return self._count(conn, compiled)

    @staticmethod
    def _page(conn: sqlite3.Connection, request: SearchRequest, match: str | None, source: str,
              params: list[Any], newest: str, relevance: bool) -> list[Any]:
        """The rows of one page: pick the page first, then build snippets for its rows only.

        In one query SQLite would compute snippet() for every match before sorting. "Newest first"
        with a text match reads the matches backwards in row id (= time) order, see the module doc.
        """
        if match is None:
            page_sql = f"SELECT d.rowid AS rid, NULL AS score {source} ORDER BY {newest} LIMIT ? OFFSET ?"
            sql = (f"WITH page AS ({page_sql}) SELECT d.doc_type, d.doc_id, d.platform, d.community, "
                   f"d.community_id, d.date, d.url, fts.title, substr(CASE WHEN fts.text != '' THEN fts.text "
                   f"ELSE fts.title END, 1, {PLAIN_SNIPPET_CHARS}), NULL AS score FROM page "
                   f"CROSS JOIN docs d ON d.rowid = page.rid CROSS JOIN fts ON fts.rowid = page.rid ORDER BY {newest}")
            return conn.execute(sql, [*params, request.limit, request.offset]).fetchall()
        if relevance:
            score, order = "-bm25(fts, 1.0, 2.0)", f"score DESC, {newest}"
        else:
            score, order = "NULL", newest
            wanted = request.offset + request.limit
            found, oldest = conn.execute(f"SELECT count(*), min(r) FROM (SELECT fts.rowid AS r {source} "
                                         "ORDER BY fts.rowid DESC LIMIT ?)", [*params, wanted]).fetchone()
            if found >= wanted:
                # Every match newer than the oldest millisecond among the first `wanted` is a candidate.
                source += " AND fts.rowid >= ?"
                params = [*params, (oldest >> SLOT_BITS) << SLOT_BITS]
        page_sql = f"SELECT d.rowid AS rid, d.date AS date, d.key AS key, {score} AS score {source} " \
                   f"ORDER BY {order} LIMIT ? OFFSET ?"
        snippet = f"snippet(fts, -1, '{MARK_START}', '{MARK_END}', '…', {SNIPPET_TOKENS})"
        sql = (f"WITH page AS ({page_sql}) SELECT d.doc_type, d.doc_id, d.platform, d.community, "
               f"d.community_id, d.date, d.url, fts.title, {snippet}, page.score AS score FROM page "
               "CROSS JOIN docs d ON d.rowid = page.rid CROSS JOIN fts ON fts.rowid = page.rid WHERE fts MATCH ? "
               f"ORDER BY {order.replace('score', 'page.score')}")
        return conn.execute(sql, [*params, request.limit, request.offset, match]).fetchall()


class _EmbeddedRebuild(Rebuild):
    """Drop and refill inside one transaction; :meth:`commit` makes the new index visible at once.

    Bulk-load tuning: secondary indexes are built after the load, FTS5 buffers 64 MB of pending
    terms per segment, the page cache is large for the duration, and the index is merged into
    one segment ('optimize') before the commit.
    """

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.done = True
        self.taken: set[int] = set()
        backend._lock.acquire()
        try:
            self.conn = backend._connection()
            self.conn.execute(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")
            self.conn.execute("BEGIN IMMEDIATE")
            for table in TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in TABLES_SQL:
                self.conn.execute(statement)
            self.conn.execute("INSERT INTO fts (fts, rank) VALUES ('hashsize', ?)", (REBUILD_HASHSIZE,))
            self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            self._finish("ROLLBACK")
            raise BackendUnavailable(f"search index {backend.path}: {exc}") from None
        except BaseException:
            self._finish("ROLLBACK")
            raise
        self.done = False

    def _finish(self, statement: str) -> None:
        try:
            conn = self.backend._conn
            if conn is not None:
                if conn.in_transaction:
                    conn.execute(statement)
                conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        finally:
            self.done = True
            self.backend._lock.release()

    def apply(self, docs: Sequence[Doc]) -> None:
        rowids = []
        for doc in docs:
            ts, key, probe = doc.date.timestamp(), doc.sort_key, 0
            rowid = time_rowid(ts, key)
            while rowid in self.taken:
                probe += 1
                rowid = time_rowid(ts, key, probe)
            self.taken.add(rowid)
            rowids.append(rowid)
        try:
            _insert_rows(self.conn, docs, rowids)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"search index {self.backend.path}: {exc}") from None

    def commit(self) -> None:
        if not self.done:
            try:
                for statement in INDEXES_SQL:
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
                # Back to the default buffer so an incremental drain does not hold 64 MB per transaction.
                self.conn.execute("INSERT INTO fts (fts, rank) VALUES ('hashsize', 1048576)")
            except sqlite3.Error as exc:
                self._finish("ROLLBACK")
                raise BackendUnavailable(f"search index {self.backend.path}: {exc}") from None
            self._finish("COMMIT")
            self.backend._ensured = True
            self.taken.clear()

    def abort(self) -> None:
        if not self.done:
            self._finish("ROLLBACK")
