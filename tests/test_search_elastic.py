"""The Elasticsearch backend with the real client against a local stub that checks what it sends."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from config.settings import SearchSettings
from model.errors import MissingSecret, UsageError
from search.base import Action, BackendUnavailable, Doc, SearchError, SearchRequest
from search.elastic import ElasticBackend, client_from_settings, version_of
from search.indexer import drain, reindex
from search.mapping import MAPPING_VERSION
from search.query import parse_query
from store import models as m
from store.db import Store
from tests.support.es_stub import EsStub
from tests.test_search_contract import build_corpus


@pytest.fixture
def stub() -> Iterator[EsStub]:
    server = EsStub().start()
    yield server
    server.stop()
    assert not server.errors, server.errors


def backend_for(stub: EsStub, **kw: object) -> ElasticBackend:
    settings = SearchSettings(backend="elasticsearch", es_url=stub.url, es_index_prefix="rs", batch_size=3)
    backend = ElasticBackend(client_from_settings(settings, env={}), "rs", chunk_size=3, initial_backoff=0.01,
                             **kw)  # type: ignore[arg-type]
    return backend


def doc(n: int, text: str = "ciao") -> Doc:
    return Doc(doc_type="post", doc_id=n, platform="telegram", community_id=1, community="c", community_title="C",
               date=datetime(2026, 3, 1, tzinfo=UTC), text=text, title=None, url=f"https://t.me/c/{n}",
               links=("https://t.me/x",), domains=("t.me",))


def test_ensure_puts_a_template_and_a_versioned_index_behind_the_alias(stub: EsStub) -> None:
    backend = backend_for(stub)
    backend.ensure()
    template = stub.state.templates["rs"]
    assert template["index_patterns"] == ["rs-v*"]
    props = template["template"]["mappings"]["properties"]
    assert template["template"]["mappings"]["dynamic"] == "strict"
    assert props["text"]["fields"]["keyword"]["type"] == "keyword"
    assert props["text"]["analyzer"] == "multilingual"
    for keyword in ("platform", "community", "author", "domains", "links", "sha256", "pdq"):
        assert props[keyword]["type"] == "keyword", keyword
    assert props["date"]["type"] == "date" and props["has_media"]["type"] == "boolean"
    assert props["community_id"]["type"] == "long"
    analyzer = template["template"]["settings"]["index"]["analysis"]["analyzer"]["multilingual"]
    assert analyzer["tokenizer"] == "standard"  # no ICU plugin on this "cluster"
    (index,) = stub.state.indices
    assert version_of(index, "rs") == MAPPING_VERSION
    assert stub.state.indices[index]["aliases"] == {"rs": {"is_write_index": True}}
    backend.ensure()  # idempotent, no second index
    assert len(stub.state.indices) == 1


def test_icu_analysis_when_the_cluster_has_the_plugin(stub: EsStub) -> None:
    stub.state.plugins = ["analysis-icu"]
    backend_for(stub).ensure()
    analyzer = stub.state.templates["rs"]["template"]["settings"]["index"]["analysis"]["analyzer"]["multilingual"]
    assert analyzer == {"type": "custom", "tokenizer": "icu_tokenizer", "filter": ["icu_folding"]}


def test_plugin_check_falls_back_to_nodes_api_when_cat_is_forbidden(stub: EsStub) -> None:
    stub.state.plugins = ["analysis-icu"]
    stub.state.cat_plugins_status = 403
    backend = backend_for(stub)
    assert backend.has_icu() is True
    assert stub.calls("GET", "/_nodes/plugins")


def test_bulk_sends_ndjson_with_idempotent_ids(stub: EsStub) -> None:
    backend = backend_for(stub)
    result = backend.apply([Action("post:1", doc(1)), Action("post:2", doc(2)), Action("post:9", None)])
    assert result.acknowledged == {"post:1", "post:2", "post:9"}  # deleting a missing doc is done, too
    (bulk,) = stub.calls("PUT", "/rs/_bulk") or stub.calls("POST", "/rs/_bulk")
    assert bulk.body[0] == {"index": {"_id": "post:1"}}
    assert bulk.body[1]["text"] == "ciao" and bulk.body[1]["domains"] == ["t.me"]
    assert bulk.body[-1] == {"delete": {"_id": "post:9"}}
    backend.apply([Action("post:1", doc(1, "changed"))])
    assert stub.docs("rs")["post:1"]["text"] == "changed"
    assert set(stub.docs("rs")) == {"post:1", "post:2"}


def test_bulk_items_answered_429_are_retried(stub: EsStub) -> None:
    backend = backend_for(stub)
    backend.ensure()
    stub.state.item_429 = {"post:2"}
    result = backend.apply([Action(f"post:{n}", doc(n)) for n in (1, 2, 3)])
    assert result.acknowledged == {"post:1", "post:2", "post:3"} and not result.failed
    bulks = [r for r in stub.requests if r.path.endswith("/_bulk")]
    assert len(bulks) == 2 and bulks[1].body == [{"index": {"_id": "post:2"}}, doc(2).source()]


def test_unreachable_cluster_is_unavailable_not_a_crash() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = SearchSettings(backend="elasticsearch", es_url=f"http://127.0.0.1:{port}")
    backend = ElasticBackend(client_from_settings(settings, env={}), "rs")
    with pytest.raises(BackendUnavailable, match="Elasticsearch unavailable"):
        backend.apply([Action("post:1", doc(1))])


def test_outbox_waits_while_cluster_refuses_then_drains_each_document_once(stub: EsStub, sqlite_store: Store) -> None:
    build_corpus(sqlite_store)
    backend = backend_for(stub)
    stub.state.bulk_status = 503
    down = drain(sqlite_store, backend, batch_size=3)
    assert down.unavailable and down.indexed == 0 and down.remaining == 9
    with sqlite_store.session() as s:
        assert s.scalar(select(func.max(m.IndexOutbox.attempts))) == 1
    stub.state.bulk_status = None
    up = drain(sqlite_store, backend, batch_size=3)
    assert (up.indexed, up.remaining, up.unavailable) == (9, 0, None)
    assert len(stub.docs("rs")) == 9
    assert set(stub.state.writes.values()) == {1}  # every document stored exactly once


def test_search_sends_the_translated_dsl_and_reads_hits(stub: EsStub) -> None:
    backend = backend_for(stub)
    backend.apply([Action("post:1", doc(1, "nuovo canale"))])
    query = parse_query('"nuovo canale" AND platform:Telegram AND date:>=2026-03-01 AND -domain:*.ru')
    page = backend.search(SearchRequest(query, limit=5, offset=5, sort="relevance"))
    (call,) = stub.calls("POST", "/rs/_search")
    body = call.body
    assert body["query"] == {"bool": {"must": [
        {"multi_match": {"query": "nuovo canale", "type": "phrase", "fields": ["text", "title^2", "title_key"]}},
        {"term": {"platform": "telegram"}},
        {"range": {"date": {"gte": "2026-03-01T00:00:00+00:00"}}},
        {"bool": {"must_not": [{"wildcard": {"domains": {"value": "*.ru", "case_insensitive": True}}}]}},
    ]}}
    assert (body["from"], body["size"], body["track_total_hits"]) == (5, 5, True)
    assert body["sort"][0] == "_score" and body["highlight"]["pre_tags"] == ["<mark>"]
    assert page.total == 1 and page.hits == []  # the stub paged past its one document
    page = backend.search(SearchRequest(query, limit=5))
    (hit,) = page.hits
    assert (hit.key, hit.doc_type, hit.doc_id, hit.platform) == ("post:1", "post", 1, "telegram")
    assert hit.date == datetime(2026, 3, 1, tzinfo=UTC)


def test_search_refusal_names_the_reason(stub: EsStub) -> None:
    backend = backend_for(stub)
    with pytest.raises(UsageError, match="at most the first 10000"):
        backend.search(SearchRequest(parse_query("x"), limit=50, offset=9990))
    stub.state.search_response = None
    backend.ensure()
    stub.state.indices.clear()  # alias gone: an empty result, not an error
    assert backend.search(SearchRequest(parse_query("x"))).total == 0


def test_bad_request_becomes_a_search_error(stub: EsStub) -> None:
    backend = backend_for(stub)
    backend.ensure()
    # Make the stub refuse searches like a cluster refusing a query.
    original = stub.search
    stub.search = lambda target, body: (400, {"error": {"root_cause": [{"type": "query_shard_exception",  # type: ignore[method-assign]
                                                                         "reason": "too many clauses"}],
                                                         "type": "search_phase_execution_exception"}, "status": 400})
    with pytest.raises(SearchError, match="too many clauses"):
        backend.search(SearchRequest(parse_query("x")))
    stub.search = original  # type: ignore[method-assign]


def test_reindex_fills_a_new_index_and_swaps_the_alias(stub: EsStub, sqlite_store: Store) -> None:
    build_corpus(sqlite_store)
    backend = backend_for(stub)
    backend.ensure()
    (old,) = stub.state.indices
    stub.state.indices[old]["docs"]["post:999"] = {"stale": True}
    count = reindex(sqlite_store, backend, batch_size=4)
    assert count == 9
    (new,) = stub.state.indices
    assert new != old and stub.state.indices[new]["aliases"] == {"rs": {"is_write_index": True}}
    assert len(stub.docs("rs")) == 9 and "post:999" not in stub.docs("rs")
    (swap,) = stub.calls("POST", "/_aliases")
    assert swap.body["actions"] == [{"remove": {"index": old, "alias": "rs"}},
                                    {"add": {"index": new, "alias": "rs", "is_write_index": True}}]


def test_credentials_api_key_or_password_from_env(stub: EsStub) -> None:
    settings = SearchSettings(backend="elasticsearch", es_url=stub.url, es_username="elastic")
    with pytest.raises(MissingSecret, match="RESURFACE_ES_PASSWORD"):
        client_from_settings(settings, env={})
    client_from_settings(settings, env={"RESURFACE_ES_PASSWORD": "s3cret"}).info()
    expected = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    assert stub.requests[-1].headers["authorization"] == expected
    client_from_settings(settings, env={"RESURFACE_ES_API_KEY": "a2V5"}).info()
    assert stub.requests[-1].headers["authorization"] == "ApiKey a2V5"
    assert SearchSettings().es_verify_certs is True


def test_a_bad_es_url_is_reported_without_its_password() -> None:
    from config.settings import SearchSettings
    from model.errors import ConfigError
    from search.elastic import client_from_settings

    with pytest.raises(ConfigError) as info:
        client_from_settings(SearchSettings(backend="elasticsearch", es_url="https://elastic:hunter2@es.example:notaport"),
                             env={})
    assert "hunter2" not in str(info.value)
