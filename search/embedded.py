"""The embedded backend: SQLite FTS5 in its own file under the data directory (no server).

Layout: ``docs`` holds one row per document (rowid = :func:`search.base.sort_key`, so a document's
row id is fixed by its key and an upsert is a plain replace); ``fts`` is the FTS5 table with the
searchable text (columns ``text`` and ``title``, same rowid); ``doc_terms`` holds multi-valued
keywords (link, domain, sha256, pdq). The ``unicode61`` tokenizer with ``remove_diacritics 2``
folds case and accents for Latin, Greek and Cyrillic scripts; it does not segment scripts written
without spaces (Chinese, Japanese, Thai) -- use Elasticsearch with the ICU plugin for those.

A rebuild runs in one write transaction (drop, recreate, refill, commit): readers keep seeing the
old index until the commit, which is the embedded counterpart of Elasticsearch's alias swap.
"""

from __future__ import annotations

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
from search.fts import compile_query

SCHEMA_VERSION = 1
SNIPPET_TOKENS = 24
PLAIN_SNIPPET_CHARS = 200

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS docs (
        rowid INTEGER PRIMARY KEY, doc_type TEXT NOT NULL, doc_id INTEGER NOT NULL, platform TEXT NOT NULL,
        community_id INTEGER NOT NULL, community TEXT, author TEXT, date REAL NOT NULL,
        has_media INTEGER NOT NULL, url TEXT, status TEXT)""",
    "CREATE INDEX IF NOT EXISTS docs_date ON docs (date, rowid)",
    "CREATE INDEX IF NOT EXISTS docs_platform ON docs (platform, date)",
    "CREATE INDEX IF NOT EXISTS docs_community ON docs (community, date)",
    "CREATE INDEX IF NOT EXISTS docs_community_id ON docs (community_id, date)",
    "CREATE INDEX IF NOT EXISTS docs_author ON docs (author)",
    """CREATE TABLE IF NOT EXISTS doc_terms (field TEXT NOT NULL, value TEXT NOT NULL, rowid INTEGER NOT NULL,
        PRIMARY KEY (field, value, rowid)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS doc_terms_rowid ON doc_terms (rowid)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, title,
        tokenize = 'unicode61 remove_diacritics 2')""",
]
TABLES = ("docs", "doc_terms", "fts", "meta")


def _doc_rows(doc: Doc) -> tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[str, str, int]]]:
    rowid = doc.sort_key
    row = (rowid, doc.doc_type, doc.doc_id, doc.platform, doc.community_id, doc.community, doc.author,
           doc.date.timestamp(), int(doc.has_media), doc.url, doc.status)
    terms = [(f, v.lower(), rowid) for f, values in (("link", doc.links), ("domain", doc.domains),
                                                     ("sha256", doc.sha256), ("pdq", doc.pdq))
             for v in dict.fromkeys(values)]
    return row, (rowid, doc.text or "", doc.title or ""), terms


def _insert(conn: sqlite3.Connection, docs: Sequence[Doc], *, replace: bool) -> None:
    rows, texts, terms = [], [], []
    for doc in docs:
        row, text, doc_terms = _doc_rows(doc)
        rows.append(row)
        texts.append(text)
        terms.extend(doc_terms)
    if replace:
        ids = [(r[0],) for r in rows]
        conn.executemany("DELETE FROM fts WHERE rowid = ?", ids)
        conn.executemany("DELETE FROM doc_terms WHERE rowid = ?", ids)
    conn.executemany(f"INSERT {'OR REPLACE ' if replace else ''}INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO fts (rowid, text, title) VALUES (?,?,?)", texts)
    conn.executemany("INSERT OR IGNORE INTO doc_terms (field, value, rowid) VALUES (?,?,?)", terms)


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
                conn.execute("PRAGMA cache_size=-65536")
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
                _insert(conn, docs, replace=True)
            for key in deletes:
                doc_type, _, doc_id = key.partition(":")
                rowid = sort_key(doc_type, int(doc_id))
                for table in ("docs", "fts", "doc_terms"):
                    conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))
        return ApplyResult(frozenset(a.key for a in actions))

    def begin_rebuild(self) -> Rebuild:
        return _EmbeddedRebuild(self)

    # --- reads ---------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchPage:
        self.ensure()
        compiled = compile_query(request.query)
        params: list[Any]
        if compiled.match is not None:
            # CROSS JOIN keeps FTS as the outer loop; otherwise SQLite may rerun MATCH once per docs row.
            source = "FROM fts CROSS JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ? AND " + compiled.where
            params = [compiled.match, *compiled.params]
            snippet = f"snippet(fts, -1, '{MARK_START}', '{MARK_END}', '…', {SNIPPET_TOKENS})"
            score = "-bm25(fts, 1.0, 2.0)"
            if compiled.where == "1":
                count_sql, count_params = "SELECT count(*) FROM fts WHERE fts MATCH ?", [compiled.match]
            else:
                count_sql, count_params = "SELECT count(*) " + source, params
        else:
            source = "FROM docs d WHERE " + compiled.where
            params = list(compiled.params)
            snippet = f"substr(CASE WHEN fts.text != '' THEN fts.text ELSE fts.title END, 1, {PLAIN_SNIPPET_CHARS})"
            score = "NULL"
            count_sql, count_params = "SELECT count(*) FROM docs d WHERE " + compiled.where, params
        newest = "d.date DESC, d.rowid DESC"
        order = f"score DESC, {newest}" if request.sort == "relevance" and compiled.match else newest
        # Pick the page first, then build snippets for its rows only: in one query SQLite would
        # compute snippet() for every match before sorting, which is what makes common words slow.
        page_sql = f"SELECT d.rowid AS rid, d.date AS date, {score} AS score {source} ORDER BY {order} LIMIT ? OFFSET ?"
        if compiled.match is not None:
            sql = (f"WITH page AS ({page_sql}) SELECT d.doc_type, d.doc_id, d.platform, d.community, "
                   f"d.community_id, d.date, d.url, fts.title, {snippet}, page.score AS score FROM page "
                   "JOIN docs d ON d.rowid = page.rid JOIN fts ON fts.rowid = page.rid WHERE fts MATCH ? "
                   f"ORDER BY {order.replace('score', 'page.score')}")
            page_params = [*params, request.limit, request.offset, compiled.match]
        else:
            sql = (f"WITH page AS ({page_sql}) SELECT d.doc_type, d.doc_id, d.platform, d.community, "
                   f"d.community_id, d.date, d.url, fts.title, {snippet}, NULL AS score FROM page "
                   f"JOIN docs d ON d.rowid = page.rid JOIN fts ON fts.rowid = page.rid ORDER BY {newest}")
            page_params = [*params, request.limit, request.offset]
        with self._lock:
            conn = self._connection()
            try:
                total = conn.execute(count_sql, count_params).fetchone()[0]
                rows = conn.execute(sql, page_params).fetchall() if request.limit else []
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
        return SearchPage(total=total, hits=hits)


class _EmbeddedRebuild(Rebuild):
    """Drop and refill inside one transaction; :meth:`commit` makes the new index visible at once."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        backend._lock.acquire()
        try:
            self.conn = backend._connection()
            self.conn.execute("BEGIN IMMEDIATE")
            for table in TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA:
                self.conn.execute(statement)
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
            if self.backend._conn is not None and self.backend._conn.in_transaction:
                self.backend._conn.execute(statement)
        finally:
            self.done = True
            self.backend._lock.release()

    def apply(self, docs: Sequence[Doc]) -> None:
        try:
            _insert(self.conn, docs, replace=False)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"search index {self.backend.path}: {exc}") from None

    def commit(self) -> None:
        if not self.done:
            try:
                self.conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
            except sqlite3.Error as exc:
                self._finish("ROLLBACK")
                raise BackendUnavailable(f"search index {self.backend.path}: {exc}") from None
            self._finish("COMMIT")
            self.backend._ensured = True

    def abort(self) -> None:
        if not self.done:
            self._finish("ROLLBACK")
