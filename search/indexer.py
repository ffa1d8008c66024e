"""The outbox drain and the full rebuild.

Ingest writes one ``index_outbox`` row per new or changed post/community in the same transaction
as the data. The drain reads a batch, builds documents from the store, sends them, and then --
in a second transaction -- deletes the rows the backend acknowledged. A transaction cannot span
the store and Elasticsearch, so the guarantee is *at least once* delivery made *exactly once in
effect* by idempotent document ids (``post:<id>``): if the process dies between the backend's
acknowledgement and the delete, the next drain sends the same documents again and they overwrite
themselves. When the backend is down, nothing is deleted: the rows wait (``attempts`` counts the
tries) and drain on a later run.

Rows the retention purge queued (op ``purge``) are sent like upserts -- the document without its
text -- and then the backend is asked to *expunge*: replacing a document leaves the old version in
index segments, free pages and the write-ahead log, and a purged text must not survive there.

A row is only deleted if its ``enqueued_at`` is still the one we read, so a document re-enqueued
while its batch was in flight (an ingest that refreshes ``enqueued_at`` on conflict) stays queued.
Each drain walks the outbox once in id order, so a document the backend keeps rejecting cannot
make one drain loop forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update

from config.settings import Settings
from search import documents
from search.base import Action, BackendUnavailable, SearchBackend, doc_key
from store import models as m
from store.db import Store
from store.retention import PURGE_OP

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    indexed: int = 0
    deleted: int = 0
    failed: int = 0
    remaining: int = 0
    unavailable: str | None = None  # why the backend could not be reached, when it could not
    purged: int = 0  # documents of purged posts replaced (their old text then expunged from the index)

    def as_json(self) -> dict[str, object]:
        return {"indexed": self.indexed, "deleted": self.deleted, "failed": self.failed,
                "remaining": self.remaining, "unavailable": self.unavailable, "purged": self.purged}


_OUTBOX = m.Base.metadata.tables["index_outbox"]
_RETIRE = _OUTBOX.delete().where(_OUTBOX.c.id == bindparam("rid"), _OUTBOX.c.enqueued_at == bindparam("seen"))


def drain(store: Store, backend: SearchBackend, batch_size: int, *, max_batches: int | None = None) -> DrainResult:
    """Send queued documents to ``backend`` until the outbox is walked once, or the backend fails."""
    result = DrainResult()
    try:
        backend.ensure()
    except BackendUnavailable as exc:
        result.unavailable = str(exc)
    last_id = 0
    batches = 0
    while result.unavailable is None and (max_batches is None or batches < max_batches):
        with store.session() as session:
            rows = session.execute(
                select(m.IndexOutbox.id, m.IndexOutbox.doc_type, m.IndexOutbox.doc_id, m.IndexOutbox.op,
                       m.IndexOutbox.enqueued_at)
                .where(m.IndexOutbox.id > last_id).order_by(m.IndexOutbox.id).limit(batch_size)
            ).all()
            if not rows:
                break
            docs = {t: documents.load(session, t, [r.doc_id for r in rows if r.doc_type == t and r.op != "delete"])
                    for t in ("post", "community")}
        # Rows the retention purge queued: the index still holds those posts' texts until they are replaced.
        purged = {doc_key(r.doc_type, r.doc_id) for r in rows if r.op == PURGE_OP}
        # A row whose document is gone from the store (purged, deleted) becomes a delete.
        actions = [Action(doc_key(r.doc_type, r.doc_id), docs.get(r.doc_type, {}).get(r.doc_id)) for r in rows]
        try:
            applied = backend.apply(actions)
            acknowledged, failed = applied.acknowledged, applied.failed
        except BackendUnavailable as exc:
            acknowledged, failed = exc.acknowledged, {}
            result.unavailable = str(exc)
            log.warning("search backend unavailable; %d queued documents wait for the next run: %s",
                        len(rows) - len(acknowledged), exc)
        for key, reason in list(failed.items())[:5]:
            log.warning("search backend rejected %s: %s", key, reason)
        done = [r for r in rows if doc_key(r.doc_type, r.doc_id) in acknowledged]
        kept = [r.id for r in rows if doc_key(r.doc_type, r.doc_id) not in acknowledged]
        with store.session() as session:
            if done:
                session.execute(_RETIRE, [{"rid": r.id, "seen": r.enqueued_at} for r in done])
            if kept:
                session.execute(update(m.IndexOutbox).where(m.IndexOutbox.id.in_(kept))
                                .values(attempts=m.IndexOutbox.attempts + 1))
        result.indexed += sum(1 for a in actions if a.doc is not None and a.key in acknowledged)
        result.deleted += sum(1 for a in actions if a.doc is None and a.key in acknowledged)
        result.failed += len(failed)
        result.purged += len(purged & acknowledged)
        last_id = rows[-1].id
        batches += 1
    if result.purged and result.unavailable is None:
        try:
            backend.expunge()
        except BackendUnavailable as exc:
            result.unavailable = str(exc)
            log.warning("search backend unavailable; the texts of %d purged posts may linger in its files until "
                        "the next purge: %s", result.purged, exc)
    with store.session() as session:
        result.remaining = session.scalar(select(func.count()).select_from(m.IndexOutbox)) or 0
    return result



def reindex(store: Store, backend: SearchBackend, batch_size: int,
            advance: Callable[[int], None] = lambda n: None) -> int:
    """Rebuild the whole index from the store beside the live one, then swap it in. Returns the count.

    Outbox rows are left alone: the next drain re-sends them, which is a harmless overwrite.
    """
    backend.ensure()
    count = 0
    rebuild = backend.begin_rebuild()
    try:
        with store.session() as session:
            for docs in documents.iter_all(session, batch_size):
                rebuild.apply(docs)
                count += len(docs)
                advance(len(docs))
        rebuild.commit()
    except BaseException:
        rebuild.abort()
        raise
    return count


def total_documents(store: Store) -> int:
    with store.session() as session:
        return documents.count_all(session)


def open_backend(settings: Settings) -> SearchBackend:
    """The backend the settings name (``search.backend``)."""
    if settings.search.backend == "elasticsearch":
        from search.elastic import ElasticBackend

        return ElasticBackend.from_settings(settings.search)
    from search.embedded import EmbeddedBackend

    path = settings.data_path / settings.search.embedded_path
    return EmbeddedBackend(path)


def index_pending(store: Store, settings: Settings) -> DrainResult:
    """Scheduler job body: drain the outbox once into the configured backend."""
    backend = open_backend(settings)
    try:
        return drain(store, backend, settings.search.batch_size)
    finally:
        backend.close()
