"""Raw member ids and handles never reach the database; community names do."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from sqlalchemy import select, text

from model import records as r
from model.errors import ConfigError
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.pseudonym import (
    KEY_ENV,
    MIN_KEY_BYTES,
    create_key_file,
    handle_pseudonym,
    load_key,
    member_pseudonym,
    normalise_handle,
)
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


# --- fixed test vectors, computed from the construction documented in docs/privacy.md ------------------
#
# member:  HMAC-SHA256(key, "id:<platform>:<user id>")              when the platform gives a user id
#          HMAC-SHA256(key, "handle-only:<platform>:<normalised>")  when it gives only a handle
# handle:  HMAC-SHA256(key, "handle:<normalised>")                   (no platform: same handle, same value)
# normalised = NFKC, surrounding space stripped, leading "@" removed, case-folded, inner spaces removed.
# The hex strings below were computed once with plain ``hmac``/``hashlib`` and are fixed here: a change
# of construction (or of the key's role) breaks every stored pseudonym and must fail these tests.

def _reference_hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


VECTORS = [
    # (function, arguments, message, fixed value)
    ("member", ("telegram", "738291045", None), "id:telegram:738291045",
     "768d63d47d2173de3ea7773baca0f59312dac4d68e12a467cb160c99fdf3f49f"),
    ("member", ("reddit", None, "@Giulia_Rossi"), "handle-only:reddit:giulia_rossi",
     "f8bd34c5ce0c02d0416457fb451e2715ed437a41740a8de01818ec43ccac8773"),
    ("handle", ("@Giulia_Rossi",), "handle:giulia_rossi",
     "419f86e253b8fd94d1970247891a45b19f1d58c578e84a4cc3449a4ba2c0e494"),
    ("handle", ("Marco B_Verona",), "handle:marcob_verona",
     "1ed406d21567964a77d7107adcc8410152db53a612188959527a795578fda946"),
    ("handle", ("Straße",), "handle:strasse",
     "49ab596dc3979c8928d3d51a8fae35f8a5770704349aebf4c220bf56d1da6575"),
]


@pytest.mark.parametrize(("function", "args", "message", "value"), VECTORS, ids=[v[2] for v in VECTORS])
def test_pseudonyms_match_the_documented_construction(function: str, args: tuple[str | None, ...], message: str,
                                                      value: str) -> None:
    computed = member_pseudonym(TEST_KEY, *args) if function == "member" else handle_pseudonym(TEST_KEY, *args)
    assert computed == _reference_hmac(TEST_KEY, message) == value
    # Without the key the value cannot be recomputed from a list of usernames.
    assert computed != hashlib.sha256(message.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("raw", "normalised"), [
    ("@Giulia_Rossi", "giulia_rossi"),
    ("  @giulia_rossi  ", "giulia_rossi"),
    ("ＧＩＵＬＩＡ", "giulia"),        # full-width letters (NFKC)
    ("Straße", "strasse"),            # case folding, not just lower()
    ("Marco B Verona", "marcobverona"),
    ("ﬁlippo", "filippo"),            # ligature (NFKC)
    ("@@doppia", "doppia"),
])
def test_handle_normalisation_table(raw: str, normalised: str) -> None:
    assert normalise_handle(raw) == normalised
    assert handle_pseudonym(TEST_KEY, raw) == _reference_hmac(TEST_KEY, f"handle:{normalised}")


def test_handle_pseudonyms_depend_on_the_key() -> None:
    other_key = b"another-deployment-key-987654321"
    assert handle_pseudonym(TEST_KEY, "giulia_rossi") != handle_pseudonym(other_key, "giulia_rossi")
    assert (member_pseudonym(TEST_KEY, "reddit", None, "giulia_rossi")
            != member_pseudonym(other_key, "reddit", None, "giulia_rossi"))


def test_stored_handle_pseudonym_is_the_keyed_value(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, _records(), IngestContext(key=TEST_KEY))
    with any_store.session() as s:
        stored = set(s.scalars(select(m.Member.handle_pseudonym)))
    assert stored == {_reference_hmac(TEST_KEY, f"handle:{h.lower()}") for h in RAW_HANDLES}
    assert stored.isdisjoint({hashlib.sha256(f"handle:{h.lower()}".encode()).hexdigest() for h in RAW_HANDLES})


def test_member_without_id_or_handle_is_refused() -> None:
    with pytest.raises(ValueError, match="user id or a handle"):
        member_pseudonym(TEST_KEY, "telegram", None, None)
    assert handle_pseudonym(TEST_KEY, " @ ") is None
    assert handle_pseudonym(TEST_KEY, None) is None


# --- the key: created owner-only, never overwritten, refused when too short --------------------------


def test_key_file_is_created_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    import stat

    path = tmp_path / "nested" / "dir" / "resurface.key"
    assert create_key_file(path) is True
    first = path.read_text(encoding="ascii")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.strip()) == 64 and int(first, 16) >= 0 and first.endswith("\n")
    assert create_key_file(path) is False  # an existing key is kept: stored pseudonyms depend on it
    assert path.read_text(encoding="ascii") == first
    assert load_key(path, env={}) == first.strip().encode()


def test_key_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "resurface.key"
    path.write_text("f" * 32 + "\n", encoding="ascii")
    assert load_key(path, env={KEY_ENV: "  " + "e" * 20 + " "}) == b"e" * 20
    assert load_key(path, env={KEY_ENV: "   "}) == b"f" * 32  # a blank variable does not count


@pytest.mark.parametrize(("length", "ok"), [(MIN_KEY_BYTES - 1, False), (MIN_KEY_BYTES, True), (64, True)])
def test_short_keys_are_refused_naming_where_they_came_from(tmp_path: Path, length: int, ok: bool) -> None:
    assert MIN_KEY_BYTES == 16
    path = tmp_path / "resurface.key"
    path.write_text("k" * length, encoding="ascii")
    for env, origin in (({}, str(path)), ({KEY_ENV: "k" * length}, KEY_ENV)):
        if ok:
            assert load_key(path, env=env) == b"k" * length
        else:
            with pytest.raises(ConfigError, match=f"{origin}: the pseudonymisation key must be at least 16"):
                load_key(path, env=env)


def test_a_missing_or_unreadable_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"no pseudonymisation key: set {KEY_ENV} or create"):
        load_key(tmp_path / "absent.key", env={})
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe" * 20)
    with pytest.raises(ConfigError, match=f"{binary}: cannot read the pseudonymisation key"):
        load_key(binary, env={})
    folder = tmp_path / "a-folder.key"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read the pseudonymisation key"):
        load_key(folder, env={})


def test_load_key_reads_the_process_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "p" * 20)
    assert load_key(tmp_path / "absent.key") == b"p" * 20
