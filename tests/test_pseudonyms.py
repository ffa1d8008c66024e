"""Raw member ids and handles never reach the database; community names do."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from crawlers import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.pseudonym import handle_pseudonym, member_pseudonym
from tests.conftest import TEST_KEY
from tests.factories import post, ref, snapshot

RAW_IDS = ["738291045", "5550123987"]
RAW_HANDLES = ["giulia_rossi_1987", "MarcoB_Verona"]


def _records() -> list[r.Record]:
    return [
        snapshot(),
        post(1, user=RAW_IDS[0], user_handle=RAW_HANDLES[0]),
        post(2, user=RAW_IDS[1], user_handle=RAW_HANDLES[1]),
        r.Membership(ref(), r.RawMember("telegram", RAW_IDS[0], RAW_HANDLES[0]), post(1).fetched_at),
    ]


def _all_text(store: Store) -> str:
    chunks = []
    with store.session() as s:
        for table in m.Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_no_raw_member_value_anywhere_in_the_sqlite_files(tmp_path: Path, sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        ingest(s, _records(), IngestContext(key=TEST_KEY))
    with sqlite_store.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    sqlite_store.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("resurface.db"))
    for raw in RAW_IDS + RAW_HANDLES + [h.lower() for h in RAW_HANDLES]:
        assert raw.encode() not in blobs, raw
    # Community handles and titles are stored as they are.
    assert b"cortile_segreto" in blobs and b"Il Cortile Segreto" in blobs


def test_no_raw_member_value_in_any_column(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, _records(), IngestContext(key=TEST_KEY))
    dump = _all_text(any_store).lower()
    for raw in RAW_IDS + RAW_HANDLES:
        assert raw.lower() not in dump
    with any_store.session() as s:
        pseudos = set(s.scalars(select(m.Member.pseudonym)))
    assert pseudos == {member_pseudonym(TEST_KEY, "telegram", i, None) for i in RAW_IDS}


def test_raw_values_kept_only_when_the_deployment_asks(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, _records(), IngestContext(key=TEST_KEY, store_raw_member_ids=True))
    with any_store.session() as s:
        assert set(s.scalars(select(m.Member.raw_user_id))) == set(RAW_IDS)


def test_pseudonyms_depend_on_the_key_and_handles_match_across_platforms() -> None:
    other_key = b"another-deployment-key-987654321"
    assert member_pseudonym(TEST_KEY, "telegram", "1", None) != member_pseudonym(other_key, "telegram", "1", None)
    assert member_pseudonym(TEST_KEY, "telegram", "1", None) != member_pseudonym(TEST_KEY, "reddit", "1", None)
    assert handle_pseudonym(TEST_KEY, "@Giulia_Rossi") == handle_pseudonym(TEST_KEY, "giulia_rossi")
    assert handle_pseudonym(TEST_KEY, "") is None


def test_raw_member_repr_hides_values() -> None:
    assert RAW_IDS[0] not in repr(r.RawMember("telegram", RAW_IDS[0], RAW_HANDLES[0]))
