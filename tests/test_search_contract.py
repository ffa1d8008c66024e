"""The backend contract: the same queries give the same results on every backend.

Runs against the embedded backend always, and against Elasticsearch when RESURFACE_TEST_ES_URL
names a live cluster (e.g. http://127.0.0.1:9200; RESURFACE_ES_API_KEY / RESURFACE_ES_PASSWORD as
for the app). In CI without a cluster the Elasticsearch backend is covered by
tests/test_search_elastic.py against a local stub.

The corpus is ingested through the real write path (store.ingest), indexed through the outbox.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.settings import SearchSettings
from model import records as r
from search.base import SearchBackend, SearchRequest
from search.embedded import EmbeddedBackend
from search.indexer import drain
from search.query import parse_query, with_filters
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY

ES_ENV = "RESURFACE_TEST_ES_URL"
SHA = "ab" * 32


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _snap(platform: str, native: str, handle: str, title: str, description: str, day: str) -> r.CommunitySnapshot:
    return r.CommunitySnapshot(platform=platform, native_id=native, handle=handle, url=f"https://x.test/{handle}",
                               fetched_at=_at(day), title=title, description=description,
                               kind=r.CommunityKind.CHANNEL)


def _post(platform: str, native: str, handle: str, n: int, text: str, day: str, *, user: str = "u1",
          links: tuple[str, ...] = (), media: bool = False) -> r.Post:
    return r.Post(community=r.CommunityRef(platform, native, handle), native_post_id=str(n),
                  url=f"https://x.test/{handle}/{n}", fetched_at=_at(day) + timedelta(hours=1),
                  created_at=_at(day), author=r.RawMember(platform, user), text=text,
                  links=tuple(r.ExtractedLink(u, r.LinkKind.WEB) for u in links),
                  media=(r.MediaFingerprint(SHA, "0f" * 32, 90),) if media else ())


TG, RD = r.Platform.TELEGRAM, r.Platform.REDDIT
RECORDS: list[r.Record] = [
    _snap(TG, "1001", "cortile_segreto", "Il Cortile Segreto", "archivio fotografico", "2026-01-10"),
    _snap(TG, "1002", "cortile_riserva", "Cortile Riserva", "gruppo di riserva", "2026-01-11"),
    _snap(RD, "t5_abc", "archive_ex", "Archive Ex", "an old archive", "2026-01-12"),
    _post(TG, "1001", "cortile_segreto", 1, "Il canale chiude domani. Nuovo canale: https://t.me/cortileriserva",
          "2026-03-01", links=("https://t.me/cortileriserva",)),
    _post(TG, "1001", "cortile_segreto", 2, "Backup group here https://www.example.org/join", "2026-03-02",
          links=("https://www.example.org/join",), media=True),
    _post(TG, "1002", "cortile_riserva", 3, "Benvenuti nel nuovo canale di riserva", "2026-03-05"),
    _post(TG, "1002", "cortile_riserva", 4, "Neue Gruppe: Überraschung für alle", "2026-03-06"),
    _post(RD, "t5_abc", "archive_ex", 5, "new group link in bio, café meetup", "2026-02-20", user="u9"),
    _post(RD, "t5_abc", "archive_ex", 6, "nothing to see", "2026-02-21"),
]


@dataclass
class Corpus:
    keys: dict[str, str]  # label (p1..p6, c1..c3) -> document key
    author_u9: str

    def labels(self, keys: list[str]) -> list[str]:
        back = {v: k for k, v in self.keys.items()}
        return [back.get(k, k) for k in keys]


def build_corpus(store: Store) -> Corpus:
    with store.session() as s:
        ingest(s, RECORDS, IngestContext(key=TEST_KEY))
    keys: dict[str, str] = {}
    with store.session() as s:
        for label, native in (("c1", "1001"), ("c2", "1002"), ("c3", "t5_abc")):
            cid = s.scalar(select(m.Community.id).where(m.Community.native_id == native))
            keys[label] = f"community:{cid}"
        for pid, native in s.execute(select(m.Post.id, m.Post.native_post_id)):
            keys[f"p{native}"] = f"post:{pid}"
        author = s.scalar(select(m.Member.pseudonym).join(m.Post, m.Post.author_id == m.Member.id)
                          .where(m.Post.native_post_id == "5"))
    assert author
    return Corpus(keys, author)


def _es_backend() -> Iterator[SearchBackend]:
    url = os.environ.get(ES_ENV)
    if not url:
        pytest.skip(f"Elasticsearch contract tests need a live cluster in {ES_ENV}; no Elasticsearch server "
                    "can run on this machine or in CI, so the stub tests (test_search_elastic.py) cover CI")
    from search.elastic import ElasticBackend

    backend = ElasticBackend.from_settings(SearchSettings(backend="elasticsearch", es_url=url,
                                                          es_index_prefix=f"resurface-test-{uuid.uuid4().hex[:8]}"))
    try:
        yield backend
    finally:
        for index in backend.alias_indices():
            backend.client.indices.delete(index=index)
        backend.client.indices.delete_index_template(name=backend.prefix)
        backend.close()


@pytest.fixture(scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.live)])
def indexed(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SearchBackend, Corpus]]:
    """One corpus per backend for the whole module (read-only tests)."""
    from store.db import open_store

    tmp = tmp_path_factory.mktemp("contract")
    store = open_store(f"sqlite:///{tmp / 'resurface.db'}")
    corpus = build_corpus(store)
    if request.param == "embedded":
        backend: SearchBackend = EmbeddedBackend(tmp / "search.db")
        gen = None
    else:
        gen = _es_backend()
        backend = next(gen)
    try:
        result = drain(store, backend, batch_size=4)
        assert result.unavailable is None and result.remaining == 0
        backend.refresh()
        yield backend, corpus
    finally:
        store.close()
        if gen is None:
            backend.close()
        else:
            gen.close()


def run(backend: SearchBackend, query: str, *, sort: str = "newest", limit: int = 50, offset: int = 0,
        **filters: str) -> list[str]:
    node = with_filters(parse_query(query), **filters)
    page = backend.search(SearchRequest(node, limit=limit, offset=offset, sort=sort))  # type: ignore[arg-type]
    return [h.key for h in page.hits]


CASES = [
    ("canale", {"p1", "p3"}),
    ('"nuovo canale"', {"p1", "p3"}),
    ('"canale nuovo"', set()),
    ("canale AND NOT riserva", {"p1"}),
    ("canale -riserva", {"p1"}),
    ("riserva", {"p3", "c2"}),
    ("nuov*", {"p1", "p3"}),
    ("überraschung", {"p4"}),
    ("UBERRASCHUNG", {"p4"}),
    ("cafe", {"p5"}),
    ("gruppo OR gruppe", {"c2", "p4"}),
    ("(canale OR gruppe) AND platform:telegram", {"p1", "p3", "p4"}),
    ("title:riserva", {"c2"}),
    ("platform:reddit", {"p5", "p6", "c3"}),
    ("NOT platform:telegram", {"p5", "p6", "c3"}),
    ("community:cortile_segreto", {"p1", "p2", "c1"}),
    ("community:@Cortile_Segreto AND type:post", {"p1", "p2"}),
    ("community:cortile_*", {"p1", "p2", "p3", "p4", "c1", "c2"}),
    ("domain:example.org", {"p2"}),
    ("domain:t.me OR domain:*.org", {"p1", "p2"}),
    ("has_media:true", {"p2"}),
    ("has_media:false AND platform:reddit AND type:post", {"p5", "p6"}),
    (f"sha256:{SHA}", {"p2"}),
    ("date:[2026-03-01 TO 2026-03-02]", {"p1", "p2"}),
    ("date:{2026-03-01 TO 2026-03-06}", {"p2", "p3"}),
    ("date:>=2026-03-05", {"p3", "p4"}),
    ("date:2026-03", {"p1", "p2", "p3", "p4"}),
    ("date:2026-01 AND type:community", {"c1", "c2", "c3"}),
    ("type:community", {"c1", "c2", "c3"}),
    ("*", {"p1", "p2", "p3", "p4", "p5", "p6", "c1", "c2", "c3"}),
    ("!!!", set()),
    ("archive OR group", {"c3", "p2", "p5"}),
    ('"{text}:x" OR "NEAR(bar"', set()),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_same_query_same_documents(indexed: tuple[SearchBackend, Corpus], query: str, expected: set[str]) -> None:
    backend, corpus = indexed
    assert set(corpus.labels(run(backend, query))) == expected


def test_author_pseudonym_finds_their_posts(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, corpus = indexed
    assert corpus.labels(run(backend, f"author:{corpus.author_u9}")) == ["p5"]


def test_community_by_id(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, corpus = indexed
    cid = corpus.keys["c2"].split(":")[1]
    assert set(corpus.labels(run(backend, f"community:{cid}"))) == {"p3", "p4", "c2"}
    assert set(corpus.labels(run(backend, f"community_id:{cid} AND type:post"))) == {"p3", "p4"}


def test_newest_first_with_pages(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, corpus = indexed
    everything = corpus.labels(run(backend, "platform:telegram"))
    assert everything == ["p4", "p3", "p2", "p1", "c2", "c1"]
    assert corpus.labels(run(backend, "platform:telegram", limit=2, offset=2)) == ["p2", "p1"]


def test_command_line_filters(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, corpus = indexed
    assert corpus.labels(run(backend, "*", platform="telegram", since="2026-03-02", until="2026-03-05")) == [
        "p3", "p2"]
    assert corpus.labels(run(backend, "canale OR group", community="archive_ex")) == ["p5"]


def test_relevance_sort_and_highlighted_snippets(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, corpus = indexed
    page = backend.search(SearchRequest(parse_query("canale"), sort="relevance"))
    assert page.total == 2
    assert corpus.labels([h.key for h in page.hits])[0] == "p1"  # two occurrences beat one
    for hit in page.hits:
        assert "<mark>canale</mark>" in hit.snippet.lower()
        assert hit.score is not None


def test_total_counts_beyond_the_page(indexed: tuple[SearchBackend, Corpus]) -> None:
    backend, _ = indexed
    page = backend.search(SearchRequest(parse_query("*"), limit=1))
    assert (page.total, len(page.hits)) == (9, 1)
    assert backend.count() == 9
