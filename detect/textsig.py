"""Near-duplicate texts: normalisation, MinHash signatures, and LSH banding.

A reposted announcement rarely comes back byte-identical: the invite link changes, emoji are
swapped, a date or member count is updated. So texts are normalised before hashing (casefold,
NFKC, URLs and emoji removed, numbers collapsed to ``0``, punctuation and whitespace folded) and
compared as sets of character 5-grams, which survive small rewordings better than word n-grams on
short posts. The Jaccard similarity of those sets is estimated with MinHash (datasketch, 128
permutations, fixed seed so stored signatures stay comparable).

Storage: each MinHash value is below 2**32 (datasketch masks them), so a signature is stored as 128
little-endian uint32 (512 bytes) in ``text_signatures``. A text that normalises to nothing (only a
link, only emoji) gets a row with ``num_perm = 0`` and an empty signature: "checked, nothing to
compare", so it is not recomputed on every pass. Signatures outlive the text purge.

Finding pairs: LSH banding with the band/row split datasketch's :class:`MinHashLSH` picks for the
threshold, but done over the whole signature matrix with numpy (sort each band's keys, take runs of
equal keys) because inserting a million signatures one by one into MinHashLSH's dicts is the slow
part. Candidates are then verified by their estimated Jaccard.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from store import models as m

log = logging.getLogger(__name__)

NUM_PERM = 128
SEED = 1
SHINGLE = 5
DEFAULT_THRESHOLD = 0.5
#: Buckets with more distinct signatures than this are near-constant boilerplate; pairing all of
#: them is quadratic, so only their first members (by id) are paired with the rest.
MAX_BUCKET = 2000

_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b(?:t\.me|telegram\.me|discord\.gg)/\S+", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_DROP_CATEGORIES = frozenset({"So", "Sk", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})


def normalise(text: str) -> str:
    """Text reduced to what survives a repost: see module docstring."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _URL.sub(" ", text)
    text = _NUMBER.sub("0", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in _DROP_CATEGORIES:
            continue
        out.append(ch if cat[0] in "LN" else " ")
    return " ".join("".join(out).split())


def shingles(normalised: str, k: int = SHINGLE) -> set[bytes]:
    if not normalised:
        return set()
    if len(normalised) <= k:
        return {normalised.encode("utf-8")}
    return {normalised[i:i + k].encode("utf-8") for i in range(len(normalised) - k + 1)}


def minhash(text: str) -> LeanMinHash | None:
    """MinHash of a text's shingles; ``None`` when nothing is left after normalisation."""
    grams = shingles(normalise(text))
    if not grams:
        return None
    mh = MinHash(num_perm=NUM_PERM, seed=SEED)
    mh.update_batch(list(grams))
    return LeanMinHash(mh)


def to_bytes(mh: MinHash | LeanMinHash) -> bytes:
    values = np.asarray(mh.hashvalues)
    if values.max(initial=0) >= 1 << 32:  # datasketch masks to 32 bits; guard the storage format
        raise ValueError("MinHash values exceed 32 bits; cannot store compactly")
    return values.astype("<u4").tobytes()


def from_bytes(blob: bytes) -> LeanMinHash:
    values = np.frombuffer(blob, dtype="<u4").astype(np.uint64)
    return LeanMinHash(seed=SEED, hashvalues=values)


def signature_of(text: str | None, min_length: int) -> tuple[int, bytes] | None:
    """``(num_perm, signature)`` for the text_signatures row, or ``None`` when the text is too short."""
    if text is None or len(text) < min_length:
        return None
    mh = minhash(text)
    return (0, b"") if mh is None else (NUM_PERM, to_bytes(mh))


def signature_missing_posts(session: Session, settings: Settings, *, batch: int = 2000, since: int = 0) -> int:
    """Compute and store signatures for posts with a long enough text and no signature yet (with
    ``since``, an incremental cycle's post watermark: only posts above it, so short texts that never get
    a row are not read again every cycle). Returns how many rows were written."""
    min_length = settings.detect.min_text_length
    written = 0
    last_id = since
    while True:
        rows = session.execute(
            select(m.Post.id, m.Post.text)
            .outerjoin(m.TextSignature, m.TextSignature.post_id == m.Post.id)
            .where(
                m.TextSignature.post_id.is_(None),
                m.Post.id > last_id,
                m.Post.text.is_not(None),
                func.length(m.Post.text) >= min_length,
            )
            .order_by(m.Post.id)
            .limit(batch)
        ).all()
        if not rows:
            return written
        for post_id, text in rows:
            sig = signature_of(text, min_length)
            if sig is not None:
                session.add(m.TextSignature(post_id=post_id, num_perm=sig[0], signature=sig[1]))
                written += 1
        session.flush()
        last_id = rows[-1][0]


def load_signatures(session: Session, post_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(post_ids, matrix)``: usable signatures as an (n, 128) uint32 matrix."""
    stmt = select(m.TextSignature.post_id, m.TextSignature.signature).where(m.TextSignature.num_perm == NUM_PERM)
    if post_ids is not None:
        wanted = list(post_ids)
        ids: list[int] = []
        blobs: list[bytes] = []
        for start in range(0, len(wanted), 1000):
            for pid, blob in session.execute(stmt.where(m.TextSignature.post_id.in_(wanted[start:start + 1000]))):
                ids.append(int(pid))
                blobs.append(blob)
    else:
        rows = session.execute(stmt.order_by(m.TextSignature.post_id)).all()
        ids = [int(r[0]) for r in rows]
        blobs = [r[1] for r in rows]
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, NUM_PERM), dtype=np.uint32)
    matrix = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(ids), NUM_PERM)
    return np.asarray(ids, dtype=np.int64), matrix


def band_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """Bands and rows per band that datasketch's MinHashLSH chooses for this threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


def _bucket_pairs(members: np.ndarray) -> Iterator[tuple[int, int]]:
    head = members[:MAX_BUCKET] if len(members) > MAX_BUCKET else members
    for a_pos, a in enumerate(head):
        for b in members[a_pos + 1:]:
            yield int(a), int(b)


def near_duplicate_pairs(matrix: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, ...]:
    """Row pairs ``(i, j, similarity)`` with ``i < j`` and estimated Jaccard ≥ ``threshold``."""
    n = len(matrix)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    bands, rows = band_params(threshold, matrix.shape[1])
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        block = np.ascontiguousarray(matrix[:, band * rows:(band + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        boundaries = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        starts = np.concatenate([[0], boundaries])
        ends = np.concatenate([boundaries, [n]])
        for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
            members = np.sort(order[s:e])
            if len(members) > MAX_BUCKET:
                log.info("LSH bucket of %d near-identical texts: pairing its first %d only", len(members), MAX_BUCKET)
            candidates.update(_bucket_pairs(members))
    if not candidates:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    pairs = np.asarray(sorted(candidates), dtype=np.int64)
    similarity = (matrix[pairs[:, 0]] == matrix[pairs[:, 1]]).mean(axis=1)
    keep = similarity >= threshold
    return pairs[keep, 0], pairs[keep, 1], similarity[keep]


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard of two texts' normalised shingles (0 when either is empty)."""
    ma, mb = minhash(a), minhash(b)
    if ma is None or mb is None:
        return 0.0
    return float(ma.jaccard(mb))
