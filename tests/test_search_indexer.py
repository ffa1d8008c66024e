"""The outbox drain and reindex: nothing lost while the backend is down, nothing indexed twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from search.base import Action, ApplyResult, BackendUnavailable, SearchRequest
from search.embedded import EmbeddedBackend
from search.indexer import drain, reindex
from search.query import parse_query
from store import models as m
from store.db import Store
from tests.test_search_contract import build_corpus


class Flaky(EmbeddedBackend):
    """The embedded backend with a switch: down for the next ``down_batches`` batches; counts writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down_batches = 0
        self.partial: int | None = None  # acknowledge only the first N actions, then fail
        self.reject: set[str] = set()
        self.writes: Counter[str] = Counter()
        self.on_apply: list[object] = []

    def apply(self, actions: Sequence[Action]) -> ApplyResult:
        for hook in self.on_apply:
            hook()  # type: ignore[operator]
        if self.down_batches:
            self.down_batches -= 1
            raise BackendUnavailable("index down for maintenance")
        if self.partial is not None:
            taken = list(actions[:self.partial])
            super().apply(taken)
            self.writes.update(a.key for a in taken)
            self.partial = None
            raise BackendUnavailable("went away mid-batch", [a.key for a in taken])
        accepted = [a for a in actions if a.key not in self.reject]
        super().apply(accepted)
        self.writes.update(a.key for a in accepted)
        return ApplyResult(frozenset(a.key for a in accepted), {k: "mapping conflict" for k in
                                                                (a.key for a in actions) if k in self.reject})


def outbox(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(m.IndexOutbox)) or 0


def test_backend_down_for_a_batch_then_up_indexes_every_document_exactly_once(
        sqlite_store: Store, tmp_path: Path) -> None:
    corpus = build_corpus(sqlite_store)
    backend = Flaky(tmp_path / "s.db")
    backend.down_batches = 1
    first = drain(sqlite_store, backend, batch_size=4)
    assert first.unavailable == "index down for maintenance" and first.indexed == 0
    assert outbox(sqlite_store) == 9  # the backlog waits
    with sqlite_store.session() as s:
        assert set(s.scalars(select(m.IndexOutbox.attempts))) == {0, 1}
    second = drain(sqlite_store, backend, batch_size=4)
    assert (second.indexed, second.remaining, second.unavailable) == (9, 0, None)
    assert backend.writes == Counter(corpus.keys.values())  # each exactly once
    assert backend.count() == 9
    assert drain(sqlite_store, backend, batch_size=4).indexed == 0  # nothing left to send


def test_documents_acknowledged_before_an_outage_are_retired(sqlite_store: Store, tmp_path: Path) -> None:
    build_corpus(sqlite_store)
    backend = Flaky(tmp_path / "s.db")
    backend.partial = 2
    result = drain(sqlite_store, backend, batch_size=4)
    assert result.indexed == 2 and result.remaining == 7
    drain(sqlite_store, backend, batch_size=4)
    assert set(backend.writes.values()) == {1} and len(backend.writes) == 9


def test_a_rejected_document_stays_queued_and_does_not_stall_the_rest(sqlite_store: Store, tmp_path: Path) -> None:
    corpus = build_corpus(sqlite_store)
    backend = Flaky(tmp_path / "s.db")
    backend.reject = {corpus.keys["p3"]}
    result = drain(sqlite_store, backend, batch_size=2)
    assert (result.indexed, result.failed, result.remaining) == (8, 1, 1)
    with sqlite_store.session() as s:
        row = s.scalars(select(m.IndexOutbox)).one()
    assert (f"{row.doc_type}:{row.doc_id}", row.attempts) == (corpus.keys["p3"], 1)


def test_a_document_re_enqueued_while_in_flight_stays_queued(sqlite_store: Store, tmp_path: Path) -> None:
    corpus = build_corpus(sqlite_store)
    post_id = int(corpus.keys["p1"].split(":")[1])
    backend = Flaky(tmp_path / "s.db")

    def touch() -> None:  # what an ingest that refreshes enqueued_at on conflict does mid-batch
        with sqlite_store.session() as s:
            s.execute(update(m.IndexOutbox).where(m.IndexOutbox.doc_id == post_id, m.IndexOutbox.doc_type == "post")
                      .values(enqueued_at=m.utcnow()))
        backend.on_apply.clear()

    backend.on_apply.append(touch)
    drain(sqlite_store, backend, batch_size=20)
    with sqlite_store.session() as s:
        assert list(s.execute(select(m.IndexOutbox.doc_type, m.IndexOutbox.doc_id))) == [("post", post_id)]


def test_a_document_gone_from_the_store_is_deleted_from_the_index(sqlite_store: Store, tmp_path: Path) -> None:
    corpus = build_corpus(sqlite_store)
    backend = EmbeddedBackend(tmp_path / "s.db")
    drain(sqlite_store, backend, batch_size=50)
    post_id = int(corpus.keys["p6"].split(":")[1])
    with sqlite_store.session() as s:
        s.execute(delete(m.Post).where(m.Post.id == post_id))
        s.add(m.IndexOutbox(doc_type="post", doc_id=post_id, op="upsert"))
    result = drain(sqlite_store, backend, batch_size=50)
    assert (result.indexed, result.deleted) == (0, 1)
    assert backend.search(SearchRequest(parse_query("nothing"))).total == 0


def test_reindex_rebuilds_the_embedded_index_from_the_store(sqlite_store: Store, tmp_path: Path) -> None:
    build_corpus(sqlite_store)
    backend = EmbeddedBackend(tmp_path / "s.db")
    backend.apply([])  # creates the empty index
    advanced: list[int] = []
    assert reindex(sqlite_store, backend, batch_size=4, advance=advanced.append) == 9
    assert sum(advanced) == 9 and backend.count() == 9
    assert reindex(sqlite_store, backend, batch_size=4) == 9  # again: same index, no duplicates
    assert backend.count() == 9
    assert backend.search(SearchRequest(parse_query("canale"))).total == 2


def test_a_failed_reindex_leaves_the_live_index_untouched(sqlite_store: Store, tmp_path: Path) -> None:
    build_corpus(sqlite_store)
    backend = EmbeddedBackend(tmp_path / "s.db")
    drain(sqlite_store, backend, batch_size=50)

    class Boom(Exception):
        pass

    def explode(n: int) -> None:
        raise Boom

    with pytest.raises(Boom):
        reindex(sqlite_store, backend, batch_size=4, advance=explode)
    assert backend.count() == 9


def test_unwritable_index_file_is_unavailable_and_the_backlog_waits(sqlite_store: Store, tmp_path: Path) -> None:
    build_corpus(sqlite_store)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = drain(sqlite_store, EmbeddedBackend(blocker / "s.db"), batch_size=4)
    assert result.unavailable and "cannot open" in result.unavailable
    assert result.remaining == 9


