"""Query tree → SQLite FTS5 MATCH expressions and SQL (pure).

Injection safety: every user value reaches FTS5 as a double-quoted string (inner quotes doubled),
so FTS5 operators, column filters (``{text}:x``), ``NEAR(``, ``^`` and ``*`` typed by the user are
only ever searched for as text; all SQL values are bound parameters. The only FTS5 syntax we emit
is our own: ``AND``/``OR``/``NOT``, parentheses, the ``title :``, ``title_key :`` column
filters and a trailing ``*``. ``title_key`` holds the title folded as detection folds names.

FTS5's NOT is binary (``a NOT b``), so a text subtree is compiled to one MATCH expression only when
it can be (see :func:`fts_expr`); anything else becomes SQL with ``rowid IN (… MATCH …)``
sub-selects, which is slower but means the same.

Multi-valued keywords (domain, link, sha256, pdq) compile two ways: ``rowid IN (…)`` builds the
whole list of matching rows first (right when the value is rare, e.g. one sha256), while
``probe=True`` checks each candidate row with an indexed ``EXISTS`` (right when the rows come from
elsewhere -- FTS matches, or the newest rows of the index -- and the value is common, e.g.
``domain:*.example`` matching half the posts). The embedded backend picks per query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.names import fold_words, normalise_name
from search.query import FIELDS, And, DateRange, MatchAll, MatchNone, Node, Not, Or, Term

SINGLE_COLUMNS = {"platform": "platform", "author": "author", "status": "status", "type": "doc_type",
                  "community_id": "community_id", "has_media": "has_media"}
MULTI_FIELDS = {"domain", "link", "sha256", "pdq"}


def quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def fts_expr(node: Node) -> str | None:
    """One FTS5 MATCH expression for a text-only subtree, or None when FTS5 cannot say it alone."""
    if isinstance(node, Term):
        if FIELDS[node.field] != "text":
            return None
        star = " *" if node.mode == "prefix" else ""
        if node.field == "title":
            # the words as typed, or folded as detection folds names ("segreto" finds "𝕊𝕖𝕘𝕣𝕖𝕥𝕠")
            folded = fold_words(node.value) or node.value
            return f"((title : {quote(node.value)}{star}) OR (title_key : {quote(folded)}{star}))"
        return quote(node.value) + star  # every column: text, title and the folded title
    if isinstance(node, Or):
        parts = [fts_expr(i) for i in node.items]
        if any(p is None for p in parts):
            return None
        return "(" + " OR ".join(f"({p})" for p in parts) + ")"
    if isinstance(node, And):
        positive: list[str] = []
        negative: list[str] = []
        for item in node.items:
            target, sub = (negative, item.item) if isinstance(item, Not) else (positive, item)
            part = fts_expr(sub)
            if part is None:
                return None
            target.append(part)
        if not positive:
            return None
        expr = "(" + " AND ".join(f"({p})" for p in positive) + ")"
        for neg in negative:
            expr = f"({expr} NOT ({neg}))"
        return expr
    return None


def glob_pattern(raw: str) -> str:
    """Lucene wildcard (``*``, ``?``, backslash escapes) → SQLite GLOB, literal specials bracketed."""
    out: list[str] = []
    escaped = False
    for ch in raw:
        if escaped:
            out.append(f"[{ch}]" if ch in "*?[" else ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "*?":
            out.append(ch)
        elif ch == "[":
            out.append("[[]")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Compiled:
    """``match``: one FTS5 expression for ranking and snippets (or None); ``where``: SQL on ``d``."""

    match: str | None
    where: str
    params: list[Any] = field(default_factory=list)
    keywords: bool = False  # ``where`` tests multi-valued keywords (doc_terms)


def compile_query(node: Node, *, probe: bool = False) -> Compiled:
    top = fts_expr(node)
    if top is not None:
        return Compiled(top, "1")
    if isinstance(node, And):
        text_parts = [i for i in node.items if fts_expr(i) is not None and not isinstance(i, Not)]
        if text_parts:
            rest = [i for i in node.items if all(i is not t for t in text_parts)]
            match = fts_expr(And(tuple(text_parts)))
            params: list[Any] = []
            where = " AND ".join(_sql(i, params, probe) for i in rest) or "1"
            return Compiled(match, where, params, "doc_terms" in where)
    params = []
    where = _sql(node, params, probe)
    return Compiled(None, where, params, "doc_terms" in where)


def _sql(node: Node, params: list[Any], probe: bool = False) -> str:
    if isinstance(node, MatchAll):
        return "1"
    if isinstance(node, MatchNone):
        return "0"
    expr = fts_expr(node)
    if expr is not None:
        params.append(expr)
        return "d.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
    if isinstance(node, And):
        return "(" + " AND ".join(_sql(i, params, probe) for i in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_sql(i, params, probe) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT ({_sql(node.item, params, probe)})"
    if isinstance(node, DateRange):
        parts = []
        if node.gte is not None:
            parts.append("d.date >= ?")
            params.append(node.gte.timestamp())
        if node.lt is not None:
            parts.append("d.date < ?")
            params.append(node.lt.timestamp())
        return "(" + " AND ".join(parts) + ")" if parts else "1"
    return _term(node, params, probe)


def _term(term: Term, params: list[Any], probe: bool = False) -> str:
    op = "GLOB" if term.mode == "wildcard" else "="
    value: Any = glob_pattern(term.value) if term.mode == "wildcard" else term.value
    if term.field in MULTI_FIELDS:
        params.extend([term.field, value])
        if probe:
            return f"EXISTS (SELECT 1 FROM doc_terms t WHERE t.rowid = d.rowid AND t.field = ? AND t.value {op} ?)"
        return f"d.rowid IN (SELECT rowid FROM doc_terms WHERE field = ? AND value {op} ?)"
    if term.field == "community":
        key = normalise_name(term.value) if term.mode != "wildcard" and not term.value.isdigit() else ""
        if key:  # the handle as typed, or the community's title or handle by detection's name key
            params.extend([value, key])
            return ("(d.community = ? OR d.rowid IN (SELECT rowid FROM doc_terms WHERE field = 'community_key' "
                    "AND value = ?))")
        if term.mode == "wildcard" or not term.value.isdigit():
            params.append(value)
            return f"d.community {op} ?"
        params.extend([value, int(term.value)])
        return "(d.community = ? OR d.community_id = ?)"
    column = SINGLE_COLUMNS[term.field]
    if term.field == "community_id":
        value = int(term.value)
    elif term.field == "has_media":
        value = 1 if term.value == "true" else 0
    params.append(value)
    return f"d.{column} {op} ?"
