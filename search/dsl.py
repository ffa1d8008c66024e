"""Query tree → Elasticsearch query DSL (pure). Field names match :mod:`search.mapping`."""

from __future__ import annotations

from typing import Any

from model.names import fold_words, normalise_name
from search.query import And, DateRange, MatchAll, MatchNone, Node, Not, Or, Term

TEXT_FIELDS = {"text": ["text", "title^2", "title_key"], "title": ["title"]}
KEYWORD_FIELDS = {"platform": "platform", "author": "author", "status": "status", "domain": "domains",
                  "link": "links", "sha256": "sha256", "pdq": "pdq", "type": "doc_type"}
MAX_EXPANSIONS = 200


def to_dsl(node: Node) -> dict[str, Any]:
    if isinstance(node, MatchAll):
        return {"match_all": {}}
    if isinstance(node, MatchNone):
        return {"match_none": {}}
    if isinstance(node, And):
        return {"bool": {"must": [to_dsl(i) for i in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [to_dsl(i) for i in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_dsl(node.item)]}}
    if isinstance(node, DateRange):
        bounds: dict[str, str] = {}
        if node.gte is not None:
            bounds["gte"] = node.gte.isoformat()
        if node.lt is not None:
            bounds["lt"] = node.lt.isoformat()
        return {"range": {"date": bounds}} if bounds else {"exists": {"field": "date"}}
    return _term(node)


def _phrase(value: str, fields: list[str], prefix: bool) -> dict[str, Any]:
    clause: dict[str, Any] = {"query": value, "type": "phrase_prefix" if prefix else "phrase", "fields": fields}
    if prefix:
        clause["max_expansions"] = MAX_EXPANSIONS
    return {"multi_match": clause}


def _term(term: Term) -> dict[str, Any]:
    if term.field in TEXT_FIELDS:
        prefix = term.mode == "prefix"
        if term.field != "title":
            return _phrase(term.value, TEXT_FIELDS[term.field], prefix)
        # title: the words as typed, or folded as detection folds names ("segreto" finds "𝕊𝕖𝕘𝕣𝕖𝕥𝕠")
        folded = fold_words(term.value) or term.value
        return {"bool": {"should": [_phrase(term.value, ["title"], prefix), _phrase(folded, ["title_key"], prefix)],
                         "minimum_should_match": 1}}
    if term.field == "community":
        if term.mode == "wildcard":
            return _keyword("community", term)
        should: list[dict[str, Any]] = [{"term": {"community": term.value}}]
        if term.value.isdigit():
            should.append({"term": {"community_id": int(term.value)}})
        key = normalise_name(term.value)
        if key:
            should.append({"term": {"community_keys": key}})
        return {"bool": {"should": should, "minimum_should_match": 1}}
    if term.field == "community_id":
        return {"term": {"community_id": int(term.value)}}
    if term.field == "has_media":
        return {"term": {"has_media": term.value == "true"}}
    return _keyword(KEYWORD_FIELDS[term.field], term)


def _keyword(field: str, term: Term) -> dict[str, Any]:
    if term.mode == "wildcard":
        # Lucene wildcard syntax (* ? and backslash escapes) is what the user typed; pass it through.
        return {"wildcard": {field: {"value": term.value, "case_insensitive": True}}}
    return {"term": {field: term.value}}


def sort_clause(sort: str) -> list[Any]:
    newest: list[Any] = [{"date": {"order": "desc"}}, {"sort_key": {"order": "desc"}}]
    return ["_score", *newest] if sort == "relevance" else newest
