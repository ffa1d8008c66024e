"""`resurface search` for the investigator: look-alike titles found through detection's name folding, hints
for lowercase and/or, forum communities shown by name (embedded backend and Elasticsearch stub)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model import records as r
from store.db import open_store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.support.es_stub import EsStub

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOOKALIKE = "𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 𝕊𝕖𝕘𝕣𝕖𝕥𝕠"  # mathematical double-struck letters: what detection folds to "il cortile segreto"
FORUM = "Velvet Lounge Forum"
FORUM_URL = "https://forum.velvet.example"


def records() -> list[object]:
    lookalike = r.CommunitySnapshot(platform="telegram", native_id="3001", handle="c0rtile_x", url="https://t.me/c0rtile_x",
                                    fetched_at=AT, title=LOOKALIKE, kind=r.CommunityKind.CHANNEL)
    plain = r.CommunitySnapshot(platform="telegram", native_id="3002", handle="giardino_verde",
                                url="https://t.me/giardino_verde", fetched_at=AT, title="Giardino Verde",
                                kind=r.CommunityKind.CHANNEL)
    # a Discourse forum as the crawler stores it: native id = base URL, no handle (see crawlers/forums)
    forum = r.CommunitySnapshot(platform="discourse", native_id=FORUM_URL, handle=None, url=FORUM_URL,
                                fetched_at=AT, title=FORUM, kind=r.CommunityKind.FORUM)
    forum_post = r.Post(community=forum.ref, native_post_id="77", url=f"{FORUM_URL}/t/riserva/5/1",
                        fetched_at=AT, created_at=AT, text="nuovo canale di riserva per tutti", thread_id="5",
                        thread_title="Il nuovo posto")
    post = r.Post(community=lookalike.ref, native_post_id="1", url="https://t.me/c0rtile_x/1", fetched_at=AT,
                  created_at=AT, text="benvenuti")
    return [lookalike, plain, forum, forum_post, post]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'resurface.db'}")
    with store.session() as s:
        ingest(s, records(), IngestContext(key=TEST_KEY))  # type: ignore[arg-type]
    store.close()
    return config


def search(capsys: pytest.CaptureFixture[str], config: Path, query: str) -> dict[str, object]:
    code, out, err = call(capsys, "--config", str(config), "search", query, "--format", "json")
    assert code == 0, err
    page: dict[str, object] = json.loads(out)
    return page


def titles(page: dict[str, object]) -> set[str]:
    return {h["title"] for h in page["hits"] if h["title"]}  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("query", ["title:segreto", "title:Segreto", "title:𝕊𝕖𝕘𝕣𝕖𝕥𝕠", 'title:"cortile segreto"',
                                   "title:segr*", "segreto"])
def test_a_lookalike_title_is_found_by_its_plain_words(project: Path, capsys: pytest.CaptureFixture[str],
                                                       query: str) -> None:
    assert titles(search(capsys, project, query)) == {LOOKALIKE}


def test_title_search_still_needs_the_word(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert titles(search(capsys, project, "title:verde")) == {"Giardino Verde"}
    assert search(capsys, project, "title:segretissimo")["total"] == 0


def test_community_matches_by_detections_name_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = search(capsys, project, 'community:"Il Cortile Segreto" AND type:post')
    assert [h["url"] for h in page["hits"]] == ["https://t.me/c0rtile_x/1"]  # type: ignore[index]
    page = search(capsys, project, "community:c0rtile_x AND type:post")  # the handle as typed still works
    assert page["total"] == 1


def test_lowercase_and_or_get_a_hint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", str(project), "search", "nuovo and canale")
    assert code == 0
    assert "did you mean AND?" in err
    page = search(capsys, project, "riserva or canale")
    assert any("did you mean OR?" in h for h in page["hints"])  # type: ignore[attr-defined]
    for fine in ("nuovo AND canale", '"rock and roll"'):
        assert search(capsys, project, fine)["hints"] == []


def test_forum_rows_show_the_forums_name_not_its_id(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), "search", "riserva AND platform:discourse")
    assert code == 0, err
    assert FORUM in out
    page = search(capsys, project, "riserva AND platform:discourse")
    (hit,) = page["hits"]  # type: ignore[misc]
    assert hit["community_name"] == FORUM and hit["community"] is None


def test_elasticsearch_indexes_and_queries_the_folded_names(project: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The stub does not evaluate queries: the mapping, the documents and the DSL are what is checked."""
    stub = EsStub().start()
    try:
        project.write_text(f'data_dir = "data"\n[search]\nbackend = "elasticsearch"\nes_url = "{stub.url}"\n'
                           'es_index_prefix = "rs"\n', encoding="utf-8")
        search(capsys, project, "title:𝕊𝕖𝕘𝕣𝕖𝕥𝕠 OR community:\"Il Cortile Segreto\"")
        (template,) = stub.state.templates.values()
        properties = template["template"]["mappings"]["properties"]
        assert properties["title_key"]["type"] == "text" and properties["community_keys"]["type"] == "keyword"
        docs = {d["title"]: d for d in stub.docs("rs").values() if d["doc_type"] == "community"}
        assert docs[LOOKALIKE]["title_key"] == "il cortile segreto"
        assert docs[LOOKALIKE]["community_keys"] == ["il cortile segreto", "cortile x"]
        (request,) = stub.calls("POST", "/rs/_search")
        body = json.dumps(request.body, ensure_ascii=False)
        assert '"query": "segreto", "type": "phrase", "fields": ["title_key"]' in body
        assert '{"term": {"community_keys": "il cortile segreto"}}' in body
    finally:
        stub.stop()


@pytest.mark.parametrize(("query", "words"), [
    ("nuovo and canale", ["and"]), ("a or b and c", ["or", "and"]), ("(x and y) OR z", ["and"]),
    ("nuovo AND canale", []), ('"rock and roll"', []), ('text:"a \\" and b"', []), ("android OR orca", []),
    ("title:and", []),
])
def test_query_hints_name_each_lowercase_operator_outside_quotes(query: str, words: list[str]) -> None:
    from search.query import query_hints

    hints = query_hints(query)
    assert [h.split('"')[1] for h in hints] == words
    assert all(f"did you mean {w.upper()}?" in h for w, h in zip(words, hints, strict=True))
