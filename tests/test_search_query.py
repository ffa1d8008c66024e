"""Query parsing and translation, and hostile queries: a clear error, never a crash or an SQLite leak."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.errors import UsageError
from search.base import Action, Doc, SearchRequest
from search.dsl import to_dsl
from search.embedded import EmbeddedBackend
from search.fts import compile_query, glob_pattern
from search.query import And, DateRange, MatchAll, Not, Or, QueryError, Term, parse_query, with_filters

D = datetime


def test_terms_phrases_fields_and_operators() -> None:
    assert parse_query('text:"new group" AND platform:Telegram') == And((
        Term("text", "new group", "phrase"), Term("platform", "telegram")))
    assert parse_query("a OR b -c") == Or((Term("text", "a"), And((Term("text", "b"), Not(Term("text", "c"))))))
    assert parse_query("nuov*") == Term("text", "nuov", "prefix")
    assert parse_query("domain:*.Example.com") == Term("domain", "*.example.com", "wildcard")
    assert parse_query("community:@Cortile") == Term("community", "cortile")
    assert parse_query("has_media:yes") == Term("has_media", "true")
    assert parse_query("   ") == MatchAll()


def test_date_values_name_whole_periods_and_ranges_are_half_open() -> None:
    assert parse_query("date:2026-03") == DateRange(D(2026, 3, 1, tzinfo=UTC), D(2026, 4, 1, tzinfo=UTC))
    assert parse_query("date:[2026-01-01 TO 2026-01-31]") == DateRange(D(2026, 1, 1, tzinfo=UTC),
                                                                        D(2026, 2, 1, tzinfo=UTC))
    assert parse_query("date:{2026-01-01 TO *]") == DateRange(D(2026, 1, 2, tzinfo=UTC), None)
    assert parse_query("date:<2026") == DateRange(None, D(2026, 1, 1, tzinfo=UTC))
    node = with_filters(MatchAll(), since="2026-03-01", until="2026-03-01")
    assert node == And((DateRange(D(2026, 3, 1, tzinfo=UTC), None), DateRange(None, D(2026, 3, 2, tzinfo=UTC))))


def test_translations_quote_user_text() -> None:
    compiled = compile_query(parse_query(r'"say \"hi\"" OR title:c*'))
    assert compiled.match == '(("say ""hi""") OR (((title : "c" *) OR (title_key : "c" *))))'
    assert to_dsl(parse_query("NOT x")) == {"bool": {"must_not": [
        {"multi_match": {"query": "x", "type": "phrase", "fields": ["text", "title^2", "title_key"]}}]}}
    assert glob_pattern(r"a*b?\*[x]") == "a*b?[*][[]x]"


HOSTILE = [
    ('"foo', "unbalanced quote", 0),
    ("(foo AND bar", "unbalanced parenthesis", 12),
    ("foo)", "unbalanced parenthesis", 3),
    ('"foo" NEAR(bar', "unbalanced parenthesis", 14),
    ("text:*", "would match every document", 5),
    ("^", "unexpected", 0),
    ("{text}:x", "unexpected", 5),
    ("foo~2", "fuzzy", 0),
    ("/ab+/", "regular expressions", 0),
    ("f?o", "wildcard may only end a word", 0),
    ("*foo", "wildcard may only end a word", 0),
    ("date:yesterday", "not a date", 5),
    ("platform:[a TO b]", "ranges are supported on date only", 9),
    ("nope:1", "unknown field 'nope'", 0),
    ("has_media:maybe", "true or false", 10),
    ("type:user", "post, community", 5),
    ("community_id:abc", "must be a number", 13),
    ("a\x00b", "NUL", 1),
]


@pytest.mark.parametrize(("query", "message", "position"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_queries_get_a_clear_error_with_a_caret(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    error = info.value
    assert isinstance(error, UsageError) and error.exit_code == 2
    assert message in str(error)
    assert error.position == position
    lines = str(error).splitlines()
    assert lines[0].startswith(f"invalid query at position {position}")
    assert lines[2].index("^") - 2 == position  # the caret sits under the offending character


def test_ten_thousand_terms_are_refused_quickly() -> None:
    with pytest.raises(QueryError, match="characters long; the limit is 4000"):
        parse_query(" ".join(f"t{i}" for i in range(10_000)))
    with pytest.raises(QueryError, match="terms; the limit is 256"):
        parse_query(" OR ".join(["ab"] * 500))


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(QueryError, match="nested"):
        parse_query("(" * 1000 + "a" + ")" * 1000)


def _doc(doc_id: int, text: str, domains: tuple[str, ...] = ("t.me",)) -> Action:
    return Action(f"post:{doc_id}", Doc(doc_type="post", doc_id=doc_id, platform="telegram", community_id=1,
                                        community="c", community_title=None, date=D(2026, 3, doc_id, tzinfo=UTC),
                                        text=text, title=None, url=None, domains=domains))


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBackend:
    """Documents whose texts are full of FTS5 syntax, so a query that leaked FTS5 operators would
    match the wrong ones (or fail)."""
    backend = EmbeddedBackend(Path(tmp_path_factory.mktemp("idx")) / "s.db")
    backend.apply([
        _doc(1, 'foo "bar" NEAR(baz) {text}:x ^ * text'),
        _doc(2, 'near bar col:umn "NOT" OR android abacus', domains=("x[1].example",)),
        _doc(3, "foo near bar"),
        _doc(4, "foo alone"),
        _doc(5, "abc cde"),
    ])
    return backend


@pytest.mark.parametrize(("query", "expected"), [
    ('"foo" "NEAR(bar"', {3}),                      # the phrase "near bar", not the NEAR operator
    ('"{text}:x"', {1}),                            # a phrase, not a column filter
    ('"^"', set()), ('"*"', set()),                 # punctuation alone matches nothing (and is no error)
    ("foo AND NOT (bar OR baz)", {4}),
    ("NOT foo", {2, 5}),
    ("NOT (foo OR platform:x)", {2, 5}),
    ('"col:umn" OR text:"a" OR domain:"[x]*"', {2}),
    (r"domain:*\[*", {2}),                          # a literal "[" inside a domain wildcard
    ("text:NEAR", {1, 2, 3}), ("NEAR", {1, 2, 3}),  # the word, not the operator
    ("AND*", {2}),                                  # a prefix of "android"
    ('"NOT" OR "OR"', {2}),
    ("ab* -cd*", {2}),
])
def test_fts5_syntax_typed_by_the_user_is_searched_as_text(small_index: EmbeddedBackend, query: str,
                                                          expected: set[int]) -> None:
    page = small_index.search(SearchRequest(parse_query(query), limit=10))
    assert {hit.doc_id for hit in page.hits} == expected
    assert page.total == len(expected)


def test_fts5_operators_inside_phrases_match_literally(small_index: EmbeddedBackend) -> None:
    assert small_index.search(SearchRequest(parse_query('"NEAR(baz)"'))).total == 1
    assert small_index.search(SearchRequest(parse_query('"{text}:x"'))).total == 1
    assert small_index.search(SearchRequest(parse_query("NOT foo AND NOT near"))).total == 1  # "abc cde"


SYNTAX = st.lists(st.sampled_from([*'ab "()*?:^~{}[]-+!\\/<>=NEAROTD', "AND ", "OR ", "NOT ", "text:", "date:",
                                   "domain:", "2026-01-01", " TO "]), max_size=20).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=SYNTAX)
def test_any_input_is_a_result_or_a_usage_error(small_index: EmbeddedBackend, query: str) -> None:
    try:
        node = parse_query(query)
    except QueryError:
        return
    try:
        small_index.search(SearchRequest(node))
    except sqlite3.Error as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"SQLite error leaked for {query!r}: {exc}")
