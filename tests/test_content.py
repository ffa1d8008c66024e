"""Content overlaps between communities: media, near-duplicate text and forwards, with direction."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from crawlers.media import fingerprint_image
from detect.content import content_overlaps
from detect.textsig import signature_missing_posts
from model import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests import factories as f
from tests.conftest import TEST_KEY
from tests.test_media import MAX_PIXELS, drawn, encode

ANNOUNCE = ("🔥🔥 Il nostro nuovo canale di riserva è qui: https://t.me/+AbCdEf123 — entrate subito, "
            "siamo già 4500 membri! Condividete con gli amici fidati.")
PARAPHRASE = ("Il nostro nuovo canale di riserva è QUI: https://t.me/+ZZ998877 entrate subito!! "
              "siamo già 5200 membri 😈 condividete con gli amici fidati")


def _fp(image: Image.Image, fmt: str = "PNG", **kw: object) -> r.MediaFingerprint:
    result = fingerprint_image(encode(image, fmt, **kw), max_pixels=MAX_PIXELS)
    assert result is not None
    return result


def _setup(store: Store) -> dict[str, int]:
    picture = drawn(42)
    other = drawn(43)
    a, b, c = ("1", "alpha"), ("2", "beta"), ("3", "gamma")
    early, late = f.T0, f.T0 + timedelta(days=3)
    posts = [
        f.post(1, native_id=a[0], handle=a[1], at=early, media=(_fp(picture),), text="foto"),
        f.post(2, native_id=a[0], handle=a[1], at=early, text=ANNOUNCE),
        f.post(3, native_id=a[0], handle=a[1], at=early, media=(_fp(other),), text="altra"),
        # beta: the same picture re-encoded and mirrored, the announcement paraphrased, a forward.
        f.post(1, native_id=b[0], handle=b[1], at=late, text="x",
               media=(_fp(picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", quality=70),)),
        f.post(2, native_id=b[0], handle=b[1], at=late, text=PARAPHRASE),
        dataclasses.replace(f.post(3, native_id=b[0], handle=b[1], at=late, text="inoltrato"),
                            forwarded_from=r.ForwardRef(r.Platform.TELEGRAM, "1", "alpha", "7")),
        # beta also reposts the other picture byte for byte.
        f.post(4, native_id=b[0], handle=b[1], at=late, media=(_fp(other),), text="y"),
        # gamma: unrelated picture and text.
        f.post(1, native_id=c[0], handle=c[1], at=late, media=(_fp(drawn(44)),),
               text="Tutt'altra storia: oggi parliamo di ricette della nonna e di come fare il pane in casa."),
    ]
    with store.session() as s:
        ctx = IngestContext(key=TEST_KEY)
        ingest(s, [f.snapshot(a[0], a[1]), f.snapshot(b[0], b[1]), f.snapshot(c[0], c[1]), *posts], ctx)
    with store.session() as s:
        return {h: i for i, h in s.execute(select(m.Community.id, m.Community.handle))}


def test_content_reappearing_later_is_counted_from_source_to_target(any_store: Store, settings: object) -> None:
    ids = _setup(any_store)
    with any_store.session() as s:
        assert signature_missing_posts(s, settings) == 3  # type: ignore[arg-type]
        assert signature_missing_posts(s, settings) == 0  # type: ignore[arg-type]
    with any_store.session() as s:
        result = content_overlaps(s)
    key = (ids["alpha"], ids["beta"])
    assert set(result) == {key}  # nothing flows back in time, gamma shares nothing
    pair = result[key]
    assert (pair.source, pair.target) == key
    assert pair.media_matches == 2  # mirrored + re-encoded picture, byte-identical picture
    assert pair.text_matches == 1
    assert pair.forwards == 1
    kinds = {e["kind"] for e in pair.examples}
    assert kinds == {"media_pdq", "media_sha256", "text", "forward"}
    for example in pair.examples:
        assert set(example) == {"post_url", "matched_post_url", "kind", "distance", "at"}
        assert example["post_url"].startswith("https://t.me/beta/")
    pdq = next(e for e in pair.examples if e["kind"] == "media_pdq")
    assert pdq["matched_post_url"] == "https://t.me/alpha/1" and 0 < pdq["distance"] <= 31
    forward = next(e for e in pair.examples if e["kind"] == "forward")
    assert forward["matched_post_url"] == "https://t.me/alpha/7"


def test_without_mirror_matching_the_flipped_picture_is_missed(sqlite_store: Store, settings: object) -> None:
    ids = _setup(sqlite_store)
    with sqlite_store.session() as s:
        result = content_overlaps(s, dihedral=False)
    assert result[(ids["alpha"], ids["beta"])].media_matches == 1


def test_restricting_to_communities_of_interest(sqlite_store: Store, settings: object) -> None:
    ids = _setup(sqlite_store)
    with sqlite_store.session() as s:
        signature_missing_posts(s, settings)  # type: ignore[arg-type]
        assert content_overlaps(s, [ids["gamma"]]) == {}
        assert set(content_overlaps(s, [ids["beta"]])) == {(ids["alpha"], ids["beta"])}
