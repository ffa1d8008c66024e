"""Hash lists: import (CSV/JSON, validated, all or nothing), list, remove, and matching new
fingerprints into ``hash_match`` alerts that carry no image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from cli import main
from config.settings import Settings
from crawlers.media import fingerprint_image
from detect.hashlists import (
    HashListFileError,
    import_entries,
    list_rows,
    parse_hash_file,
    remove_list,
)
from model import records as r
from service.detection import match_hash_lists as match_new_fingerprints
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests import factories as f
from tests.conftest import TEST_KEY
from tests.test_media import MAX_PIXELS, drawn, encode

H1, H2 = "a" * 64, "0123456789abcdef" * 4


def test_csv_and_json_files_parse(tmp_path: Path) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(f"PDQ,label\n{H1},case 1\n{H2.upper()},\n")
    assert [(e.pdq, e.label) for e in parse_hash_file(csv_file)] == [(H1, "case 1"), (H2, None)]
    hash_col = tmp_path / "other.csv"
    hash_col.write_text(f"hash\n{H1}\n")
    assert [e.pdq for e in parse_hash_file(hash_col)] == [H1]
    json_file = tmp_path / "list.json"
    json_file.write_text(json.dumps([H1, {"hash": H2, "label": "x"}, {"pdq": H1}]))
    assert [(e.pdq, e.label) for e in parse_hash_file(json_file)] == [(H1, None), (H2, "x"), (H1, None)]


@pytest.mark.parametrize(("name", "content", "where"), [
    ("bad.csv", f"pdq,label\n{H1},ok\nnothex{'0' * 57},bad\n", "bad.csv line 3"),
    ("short.csv", "pdq\nabc\n", "short.csv line 2"),
    ("nocol.csv", f"sha,label\n{H1},x\n", "nocol.csv line 1"),
    ("bad.json", json.dumps([H1, {"label": "no hash"}]), "bad.json [1]"),
    ("num.json", json.dumps([H1, 12]), "num.json [1]"),
    ("broken.json", '[\n"' + H1 + '",\n', "broken.json line"),
    ("obj.json", json.dumps({"pdq": H1}), "obj.json"),
])
def test_bad_files_name_file_and_location(tmp_path: Path, name: str, content: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(HashListFileError) as info:
        parse_hash_file(path)
    assert where in str(info.value)


def test_import_list_remove(sqlite_store: Store) -> None:
    from detect.hashlists import HashEntry

    with sqlite_store.session() as s:
        _, added = import_entries(s, "ngo", [HashEntry(H1, "a"), HashEntry(H2)], "f.csv")
        assert added == 2
        _, added = import_entries(s, "ngo", [HashEntry(H1, "a")], "f.csv")
        assert added == 0
        assert [(row["name"], row["entries"]) for row in list_rows(s)] == [("ngo", 2)]
        assert remove_list(s, "ngo") == 2
        assert list_rows(s) == []
        assert s.scalar(select(m.HashListEntry.id)) is None


def _post_with_image(n: int, image: Image.Image, handle: str = "cortile_segreto") -> r.Post:
    fp = fingerprint_image(encode(image, "JPEG", quality=75), max_pixels=MAX_PIXELS,
                           source_url=f"https://cdn.example/{n}.jpg")
    assert fp is not None
    return f.post(n, media=(fp,), handle=handle)


def _alerts(s: object) -> list[m.Alert]:
    return list(s.scalars(select(m.Alert).order_by(m.Alert.id)))  # type: ignore[attr-defined]


def test_new_fingerprints_matching_a_list_raise_one_alert_each(any_store: Store, settings: Settings) -> None:
    known = drawn(50)
    known_hash = fingerprint_image(encode(known), max_pixels=MAX_PIXELS)
    assert known_hash is not None and known_hash.pdq is not None
    from detect.hashlists import HashEntry

    with any_store.session() as s:
        import_entries(s, "ngo-list", [HashEntry(known_hash.pdq, "report 17")])
        ingest(s, [f.snapshot(), _post_with_image(1, known), _post_with_image(2, drawn(51)),
                   _post_with_image(3, known.transpose(Image.Transpose.FLIP_LEFT_RIGHT))], IngestContext(key=TEST_KEY))
    with any_store.session() as s:
        assert match_new_fingerprints(s, settings) == 2  # the copy and the mirrored copy
        assert match_new_fingerprints(s, settings) == 0  # watermark: nothing new
        alerts = _alerts(s)
    assert [(a.kind, a.level) for a in alerts] == [("hash_match", "strong")] * 2
    payload = alerts[0].payload
    evidence = payload["signals"][0]["evidence"][0]
    assert evidence["list"] == "ngo-list" and evidence["label"] == "report 17"
    assert evidence["community"] == "cortile_segreto" and evidence["post_url"] == "https://t.me/cortile_segreto/1"
    blob = json.dumps(payload)
    assert "cdn.example" not in blob and ".jpg" not in blob  # never the image or its address
    assert payload["source"]["handle"] == "cortile_segreto"

    # A later post matches in the next run; a list imported later is checked against history.
    with any_store.session() as s:
        ingest(s, [_post_with_image(4, known.resize((320, 240)))], IngestContext(key=TEST_KEY))
        other = fingerprint_image(encode(drawn(51)), max_pixels=MAX_PIXELS)
        assert other is not None and other.pdq is not None
        import_entries(s, "second", [HashEntry(other.pdq, None)])
    with any_store.session() as s:
        assert match_new_fingerprints(s, settings) == 2  # post 4 (ngo-list), post 2 (second, from history)
        assert len(_alerts(s)) == 4


def test_low_quality_fingerprints_are_not_matched(sqlite_store: Store, settings: Settings) -> None:
    from detect.hashlists import HashEntry

    flat = Image.fromarray(np.full((200, 200, 3), 128, dtype=np.uint8))
    fp = fingerprint_image(encode(flat), max_pixels=MAX_PIXELS)
    assert fp is not None and fp.pdq is not None and (fp.pdq_quality or 0) < 50
    with sqlite_store.session() as s:
        import_entries(s, "l", [HashEntry(fp.pdq)])
        ingest(s, [f.snapshot(), f.post(1, media=(fp,))], IngestContext(key=TEST_KEY))
    with sqlite_store.session() as s:
        assert match_new_fingerprints(s, settings) == 0


def test_cli_import_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    config = tmp_path / "resurface.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    good = tmp_path / "hashes.csv"
    good.write_text(f"pdq,label\n{H1},one\n{H2},two\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([H1, "xyz"]))

    def call(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return int(info.value.code or 0), out, err

    code, out, _ = call("hashes", "import", str(good), "--list", "ngo")
    assert code == 0 and "2 new" in out
    code, _, err = call("hashes", "import", str(bad), "--list", "ngo2")
    assert code == 2 and "bad.json [1]" in err
    code, out, _ = call("hashes", "list", "--format", "json")
    assert code == 0
    assert [(row["name"], row["entries"]) for row in json.loads(out)] == [("ngo", 2)]
    code, out, _ = call("hashes", "remove", "ngo")
    assert code == 0 and "removed" in out
    code, _, err = call("hashes", "remove", "ngo")
    assert code == 2 and "no hash list named 'ngo'" in err
