"""Lucene/Kibana query syntax → a small backend-neutral tree.

luqum parses the text; :func:`parse_query` turns its tree into :data:`Node` values that both
backends translate (:mod:`search.dsl` for Elasticsearch, :mod:`search.fts` for SQLite FTS5). Doing
the semantics once here is what keeps the backends giving the same answers: field names, default
operator (AND), date granularity and wildcard rules are decided in one place, and anything a
backend could not honour identically is refused with a message pointing at the position.

Nothing from the user's text reaches a backend as syntax: values are carried as plain strings and
each translator quotes them for its own language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from luqum import tree as lt
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse as luqum_parse

from model.errors import UsageError

MAX_QUERY_CHARS = 4000
MAX_TERMS = 256
MAX_DEPTH = 40

TermMode = Literal["exact", "phrase", "prefix", "wildcard"]


@dataclass(frozen=True, slots=True)
class Term:
    """``field`` is canonical (see :data:`FIELDS`); ``value`` is unescaped, lower-cased for keywords."""

    field: str
    value: str
    mode: TermMode = "exact"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Half-open ``[gte, lt)`` in UTC; either end may be open."""

    gte: datetime | None
    lt: datetime | None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class MatchAll:
    pass


@dataclass(frozen=True, slots=True)
class MatchNone:
    """A term with no searchable characters (e.g. ``!!!``): matches nothing on every backend."""


Node = Term | DateRange | And | Or | Not | MatchAll | MatchNone

FieldKind = Literal["text", "keyword", "multi", "community", "int", "date", "bool", "choice"]

#: Query fields, their kind, and the names people may type for them.
FIELDS: dict[str, FieldKind] = {
    "text": "text",  # post text + thread title, community title + description
    "title": "text",  # thread title / community title only
    "platform": "keyword",
    "community": "community",  # handle (with or without @) or numeric id
    "community_id": "int",
    "author": "keyword",  # member pseudonym
    "domain": "multi",  # host names of links in the post
    "link": "multi",
    "sha256": "multi",
    "pdq": "multi",
    "date": "date",
    "has_media": "bool",
    "type": "choice",
    "status": "keyword",
}
ALIASES = {"domains": "domain", "links": "link", "url": "link", "media": "has_media", "doc_type": "type",
           "handle": "community", "created": "date", "created_at": "date"}
CHOICES = {"type": ("post", "community")}
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_TOKEN = re.compile(r"[^\W_]", re.UNICODE)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


class QueryError(UsageError):
    """A query we cannot run, with the position and a caret line under the query."""

    def __init__(self, query: str, message: str, position: int | None) -> None:
        self.query = query
        self.position = position
        self.reason = message
        if position is None:
            text = f"invalid query: {message}"
        else:
            position = max(0, min(position, len(query)))
            line = query.replace("\n", " ").replace("\t", " ")
            if len(line) > 200:  # keep the caret line readable for huge queries
                start = max(0, position - 100)
                line, position = line[start:start + 200], position - start
            text = f"invalid query at position {self.position}: {message}\n  {line}\n  {' ' * position}^"
        super().__init__(text)


def _luqum_error(query: str, exc: ParseError) -> QueryError:
    msg = str(exc)
    if isinstance(exc, IllegalCharacterError):
        pos = _int(re.search(r"at position (\d+)", msg))
        bad = query[pos] if pos is not None and pos < len(query) else ""
        if bad == '"':
            return QueryError(query, "unbalanced quote (a phrase needs a closing \")", pos)
        return QueryError(query, f"unexpected character {bad!r}", pos)
    if "at the end" in msg:
        hint = " (unbalanced parenthesis?)" if query.count("(") != query.count(")") else ""
        return QueryError(query, f"the query ends too early{hint}", len(query))
    pos = _int(re.search(r"at position (\d+)", msg))
    token = re.search(r"unexpected\s+'(.*)' at position", msg)
    what = token.group(1) if token and token.group(1) else (query[pos] if pos is not None and pos < len(query) else "")
    hint = " (unbalanced parenthesis?)" if what == ")" else ""
    return QueryError(query, f"unexpected {what!r}{hint}", pos)


def _int(match: re.Match[str] | None) -> int | None:
    return int(match.group(1)) if match else None


def parse_query(query: str, *, default_field: str = "text") -> Node:
    """Parse a user query; raise :class:`QueryError` (a UsageError, exit code 2) when it is not valid."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(query, f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}",
                         MAX_QUERY_CHARS)
    if "\x00" in query:
        raise QueryError(query, "NUL characters are not allowed", query.index("\x00"))
    if not query.strip():
        return MatchAll()
    try:
        tree = luqum_parse(query)
    except ParseError as exc:
        raise _luqum_error(query, exc) from None
    except RecursionError:
        raise QueryError(query, "the query is nested too deeply", None) from None
    converter = _Converter(query)
    try:
        node = converter.convert(tree, None, 0)
    except RecursionError:
        raise QueryError(query, "the query is nested too deeply", None) from None
    if converter.terms > MAX_TERMS:
        raise QueryError(query, f"the query has {converter.terms} terms; the limit is {MAX_TERMS}", None)
    return simplify(node)


class _Converter:
    def __init__(self, query: str) -> None:
        self.query = query
        self.terms = 0

    def fail(self, node: lt.Item, message: str) -> QueryError:
        return QueryError(self.query, message, getattr(node, "pos", None))

    def convert(self, node: lt.Item, field: str | None, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"the query is nested more than {MAX_DEPTH} levels deep")
        d = depth + 1
        if isinstance(node, lt.AndOperation | lt.UnknownOperation):  # the default operator is AND
            return And(tuple(self.convert(c, field, d) for c in node.children))
        if isinstance(node, lt.OrOperation):
            return Or(tuple(self.convert(c, field, d) for c in node.children))
        if isinstance(node, lt.Not | lt.Prohibit):
            return Not(self.convert(node.a, field, d))
        if isinstance(node, lt.Plus):
            return self.convert(node.a, field, d)
        if isinstance(node, lt.Group | lt.FieldGroup):
            return self.convert(node.expr, field, d)
        if isinstance(node, lt.Boost):  # accepted for compatibility; ranking ignores it on every backend
            return self.convert(node.expr, field, d)
        if isinstance(node, lt.SearchField):
            if field is not None:
                raise self.fail(node, f"field {node.name!r} inside field {field!r}")
            return self.convert(node.expr, self.field_name(node), d)
        if isinstance(node, lt.Word):
            self.terms += 1
            return self.word(node, field)
        if isinstance(node, lt.Phrase):
            self.terms += 1
            return self.phrase(node, field or "text")
        if isinstance(node, lt.Range):
            self.terms += 1
            return self.range(node, field, node.low, node.high, node.include_low, node.include_high)
        if isinstance(node, lt.From):
            self.terms += 1
            return self.range(node, field, node.a, None, node.include, True)
        if isinstance(node, lt.To):
            self.terms += 1
            return self.range(node, field, None, node.a, True, node.include)
        if isinstance(node, lt.Fuzzy):
            raise self.fail(node, "fuzzy terms (~) are not supported; use a wildcard such as word*")
        if isinstance(node, lt.Proximity):
            raise self.fail(node, "proximity searches (\"...\"~N) are not supported; use a phrase")
        if isinstance(node, lt.Regex):
            raise self.fail(node, "regular expressions are not supported; use a wildcard such as word*")
        raise self.fail(node, f"unsupported syntax {str(node)!r}")

    def field_name(self, node: lt.SearchField) -> str:
        name = ALIASES.get(node.name.lower(), node.name.lower())
        if name not in FIELDS:
            known = ", ".join(sorted(FIELDS))
            raise self.fail(node, f"unknown field {node.name!r} (fields: {known})")
        return name

    def word(self, node: lt.Word, field: str | None) -> Node:
        raw = node.value
        if raw == "*" and field is None:  # a lone * is Kibana's "everything"
            return MatchAll()
        field = field or "text"
        kind = FIELDS[field]
        if raw == "*":
            raise self.fail(node, f"{field}:* would match every document; leave the field out instead")
        wildcard = _has_wildcard(raw)
        value = _UNESCAPE.sub(r"\1", raw)
        if kind == "text":
            if not wildcard:
                return _text_term(field, value, "exact")
            stem = raw[:-1]
            if raw.endswith("*") and not raw.endswith("\\*") and not _has_wildcard(stem):
                stem_value = _UNESCAPE.sub(r"\1", stem)
                if not _TOKEN.search(stem_value):
                    raise self.fail(node, "a wildcard needs at least one letter or digit before the *")
                return _text_term(field, stem_value, "prefix")
            raise self.fail(node, "in text, a wildcard may only end a word (word*); ? and inner * are not supported")
        if kind in ("keyword", "multi", "community"):
            if wildcard:
                return Term(field, _keyword_value(field, raw), "wildcard")  # keep escapes for the translators
            return Term(field, _keyword_value(field, value), "exact")
        if wildcard:
            raise self.fail(node, f"{field} does not take wildcards")
        if kind == "int":
            if not value.isdigit():
                raise self.fail(node, f"{field} must be a number, not {value!r}")
            return Term(field, value)
        if kind == "bool":
            low = value.lower()
            if low not in _TRUE | _FALSE:
                raise self.fail(node, f"{field} must be true or false, not {value!r}")
            return Term(field, "true" if low in _TRUE else "false")
        if kind == "choice":
            low = value.lower()
            if low not in CHOICES[field]:
                raise self.fail(node, f"{field} must be one of {', '.join(CHOICES[field])}, not {value!r}")
            return Term(field, low)
        # date
        start, end = self.date_period(node, value)
        return DateRange(start, end)

    def phrase(self, node: lt.Phrase, field: str) -> Node:
        value = _UNESCAPE.sub(r"\1", node.value[1:-1])
        kind = FIELDS[field]
        if kind == "text":
            return _text_term(field, value, "phrase")
        if kind in ("keyword", "multi", "community"):
            return Term(field, _keyword_value(field, value), "exact")
        # Quoted values of other kinds mean the same as unquoted ones.
        return self.word(lt.Word(node.value[1:-1], pos=node.pos, size=node.size), field)

    def range(self, node: lt.Item, field: str | None, low: lt.Item | None, high: lt.Item | None,
              include_low: bool, include_high: bool) -> Node:
        if field is None or FIELDS[field] != "date":
            raise self.fail(node, "ranges are supported on date only, e.g. date:[2026-01-01 TO 2026-02-01]")
        gte = lt_ = None
        if low is not None and not (isinstance(low, lt.Word) and low.value == "*"):
            start, end = self.date_period(low, _bound(low))
            gte = start if include_low else end
        if high is not None and not (isinstance(high, lt.Word) and high.value == "*"):
            start, end = self.date_period(high, _bound(high))
            lt_ = end if include_high else start
        return DateRange(gte, lt_)

    def date_period(self, node: lt.Item, value: str) -> tuple[datetime, datetime]:
        try:
            return date_period(value)
        except ValueError as exc:
            raise self.fail(node, str(exc)) from None


def _bound(node: lt.Item) -> str:
    if isinstance(node, lt.Phrase):
        return str(node.value[1:-1])
    return str(getattr(node, "value", str(node)))


def _has_wildcard(raw: str) -> bool:
    return re.search(r"(?<!\\)(?:\\\\)*[*?]", raw) is not None


def _keyword_value(field: str, value: str) -> str:
    value = value.strip().lower()
    if field == "community":
        value = value.removeprefix("@")
    if field == "domain":
        value = value.removeprefix("www.")
    return value


def _text_term(field: str, value: str, mode: TermMode) -> Node:
    if not _TOKEN.search(value):
        return MatchNone()
    return Term(field, value, mode)


_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")


def date_period(value: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The half-open UTC period a date value names: ``2026`` is the year, ``2026-03`` the month,
    ``2026-03-01`` the day, a full timestamp its second, ``now-7d`` seven days ago (to the second)."""
    text = value.strip()
    match = _PERIOD.match(text)
    if match:
        year, month, day = int(match.group(1)), match.group(2), match.group(3)
        try:
            if month is None:
                return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
            if day is None:
                m = int(month)
                start = datetime(year, m, 1, tzinfo=UTC)
                end = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
                return start, end
            start = datetime(year, int(month), int(day), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
        return start, start + timedelta(days=1)
    rel = _RELATIVE.match(text.lower())
    if rel:
        base = (now or datetime.now(UTC)).replace(microsecond=0)
        if rel.group(1):
            unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[rel.group(2)]
            base -= timedelta(**{unit: int(rel.group(1))})
        return base, base + timedelta(seconds=1)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD, an ISO timestamp or now-7d)") from None
    when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    return when, when + timedelta(seconds=1)


def simplify(node: Node) -> Node:
    """Flatten nested AND/OR, drop MatchAll from ANDs, resolve MatchNone and double negation."""
    if isinstance(node, And | Or):
        items: list[Node] = []
        for child in (simplify(c) for c in node.items):
            if isinstance(child, type(node)):
                items.extend(child.items)
            else:
                items.append(child)
        if isinstance(node, And):
            if any(isinstance(i, MatchNone) for i in items):
                return MatchNone()
            items = [i for i in items if not isinstance(i, MatchAll)]
            if not items:
                return MatchAll()
        else:
            if any(isinstance(i, MatchAll) for i in items):
                return MatchAll()
            items = [i for i in items if not isinstance(i, MatchNone)]
            if not items:
                return MatchNone()
        return items[0] if len(items) == 1 else type(node)(tuple(items))
    if isinstance(node, Not):
        inner = simplify(node.item)
        if isinstance(inner, Not):
            return inner.item
        if isinstance(inner, MatchAll):
            return MatchNone()
        if isinstance(inner, MatchNone):
            return MatchAll()
        return Not(inner)
    return node


def with_filters(node: Node, *, platform: str | None = None, community: str | None = None,
                 since: str | None = None, until: str | None = None, doc_type: str | None = None) -> Node:
    """AND the command-line filters onto a parsed query (``--until`` includes the whole named period)."""
    extra: list[Node] = []
    if platform:
        extra.append(Term("platform", platform.strip().lower()))
    if community:
        extra.append(Term("community", _keyword_value("community", community)))
    if doc_type:
        extra.append(Term("type", doc_type))
    for option, value in (("--since", since), ("--until", until)):
        if value:
            try:
                start, end = date_period(value)
            except ValueError as exc:
                raise UsageError(f"{option}: {exc}") from None
            extra.append(DateRange(start, None) if option == "--since" else DateRange(None, end))
    return simplify(And((node, *extra))) if extra else node


_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')
_LOWER_OPERATOR = re.compile(r"(?<![\w:\\])(and|or)(?![\w:])")


def query_hints(query: str) -> list[str]:
    """Hints for a query that probably does not mean what it says: lowercase ``and``/``or`` outside quotes
    are searched as words (only AND and OR are operators), so "nuovo and canale" needs the word "and"."""
    unquoted = _QUOTED.sub(" ", query)
    found = list(dict.fromkeys(_LOWER_OPERATOR.findall(unquoted)))
    return [f'"{word}" is searched as a word, not an operator: did you mean {word.upper()}? '
            f'(operators are upper case; quote it, "{word}", to search the word and hide this hint)'
            for word in found]
