"""Embedded backend internals a user notices: exact newest-first order with early stopping, capped totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from search import embedded
from search.base import Action, Doc, SearchRequest
from search.embedded import SLOT_BITS, EmbeddedBackend
from search.query import parse_query

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _doc(doc_id: int, at: datetime, text: str = "canale", domains: tuple[str, ...] = ()) -> Doc:
    return Doc(doc_type="post", doc_id=doc_id, platform="telegram", community_id=1, community="c1",
               community_title=None, date=at, text=text, title=None, url=None,
               links=tuple(f"https://{d}/x" for d in domains), domains=domains)


def _corpus() -> list[Doc]:
    """40 posts: many share a millisecond, and ids 1 and 1 + 2**20 collide in the row id's slot bits."""
    docs = [_doc(i, T0 + timedelta(milliseconds=i // 7), "canale" if i % 3 else "canale riserva",
                 ("t.me",) if i % 2 else ()) for i in range(2, 40)]
    docs += [_doc(1, T0), _doc(1 + 2 ** (SLOT_BITS - 1), T0)]  # sort keys 2**SLOT_BITS apart: same slot
    return docs


def _expected(docs: list[Doc], keep: object = lambda d: True) -> list[str]:
    chosen = [d for d in docs if keep(d)]  # type: ignore[operator]
    return [d.key for d in sorted(chosen, key=lambda d: (d.date, d.sort_key), reverse=True)]


def _all_pages(backend: EmbeddedBackend, query: str, limit: int) -> list[str]:
    keys: list[str] = []
    for offset in range(0, 60, limit):
        keys += [h.key for h in backend.search(SearchRequest(parse_query(query), limit=limit, offset=offset)).hits]
    return keys


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmbeddedBackend:
    monkeypatch.setattr(embedded, "TOTAL_CAP", 15)
    monkeypatch.setattr(embedded, "KEYWORD_WINDOW", 8)
    b = EmbeddedBackend(tmp_path / "search.db")
    rebuild = b.begin_rebuild()
    rebuild.apply(_corpus())
    rebuild.commit()
    return b


@pytest.mark.parametrize("limit", [1, 3, 7, 20])
def test_newest_first_pages_follow_date_then_key_exactly(backend: EmbeddedBackend, limit: int) -> None:
    docs = _corpus()
    assert _all_pages(backend, "canale", limit) == _expected(docs)
    assert _all_pages(backend, "riserva", limit) == _expected(docs, lambda d: "riserva" in d.text)
    assert _all_pages(backend, "domain:t.me", limit) == _expected(docs, lambda d: d.domains)
    assert _all_pages(backend, "canale AND domain:t.me", limit) == _expected(docs, lambda d: d.domains)
    assert _all_pages(backend, "*", limit) == _expected(docs)


def test_totals_beyond_the_cap_are_reported_as_lower_bounds(backend: EmbeddedBackend) -> None:
    capped = backend.search(SearchRequest(parse_query("canale"), limit=5))
    assert (capped.total, capped.total_is_lower_bound, len(capped.hits)) == (15, True, 5)
    keyword = backend.search(SearchRequest(parse_query("domain:t.me"), limit=5))
    assert (keyword.total, keyword.total_is_lower_bound) == (15, True)
    exact = backend.search(SearchRequest(parse_query("riserva"), limit=5))
    assert (exact.total, exact.total_is_lower_bound) == (sum(1 for i in range(2, 40) if i % 3 == 0), False)
    assert backend.count() == 40  # everything is always counted exactly
    rare = backend.search(SearchRequest(parse_query("domain:nowhere.example")))
    assert (rare.total, rare.total_is_lower_bound, rare.hits) == (0, False, [])


def test_an_update_that_moves_a_post_in_time_moves_it_in_the_results(backend: EmbeddedBackend) -> None:
    late = _doc(5, T0 + timedelta(days=3), "canale riserva spostato")
    backend.apply([Action(late.key, late), Action("post:6", None)])
    page = backend.search(SearchRequest(parse_query("canale"), limit=3))
    assert page.hits[0].key == "post:5"
    assert backend.search(SearchRequest(parse_query("spostato"))).total == 1
    assert backend.count() == 39  # the move replaced the post, the delete removed one
    keys = _all_pages(backend, "canale", 7)
    assert len(keys) == len(set(keys)) == 39 and "post:6" not in keys


def test_an_index_from_the_previous_layout_asks_for_a_reindex(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "search.db")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()
    with pytest.raises(embedded.SearchError, match="reindex"):
        EmbeddedBackend(tmp_path / "search.db").search(SearchRequest(parse_query("x")))
