"""Text normalisation and MinHash near-duplicates."""

from __future__ import annotations

import numpy as np

from detect.textsig import (
    NUM_PERM,
    from_bytes,
    minhash,
    near_duplicate_pairs,
    normalise,
    signature_of,
    similarity,
    to_bytes,
)

ORIGINAL = ("Nuovo canale di backup! Entrate qui https://t.me/+AbCdEf123 prima che chiudano anche "
            "questo 🔥🔥 siamo 4500, invitate solo gente fidata.")
PARAPHRASE = ("NUOVO canale di backup!! entrate qui → https://t.me/+QwErTy987 prima che chiudano "
              "anche questo 😈 siamo 5200: invitate solo gente fidata")
UNRELATED = "Ricetta del giorno: farina, acqua, lievito madre e tanta pazienza per un pane perfetto."


def test_normalise_folds_case_urls_emoji_numbers_and_space() -> None:
    assert normalise("Ciao  🔥 MONDO\thttps://x.example/a?b=1 www.foo.it t.me/abc 12.500 utenti!") == \
        "ciao mondo 0 utenti"
    assert normalise("𝕄𝕚𝕒 ＣＨＡＮＮＥＬ") == "mia channel"
    assert normalise("🔥🔥 https://t.me/x") == ""


def test_paraphrase_with_changed_url_and_emoji_is_a_near_duplicate() -> None:
    assert similarity(ORIGINAL, PARAPHRASE) >= 0.5
    assert similarity(ORIGINAL, UNRELATED) < 0.2


def test_signature_round_trip_and_length_rule() -> None:
    assert signature_of("short", 60) is None
    assert signature_of(None, 60) is None
    assert signature_of("🔥" * 70, 60) == (0, b"")  # nothing left to compare: marked, not recomputed
    sig = signature_of(ORIGINAL, 60)
    assert sig is not None and sig[0] == NUM_PERM and len(sig[1]) == 4 * NUM_PERM
    mh = minhash(ORIGINAL)
    assert mh is not None
    assert from_bytes(to_bytes(mh)).jaccard(mh) == 1.0


def test_lsh_pairs_find_near_duplicates_only() -> None:
    texts = [ORIGINAL, UNRELATED, PARAPHRASE, "Tutt'altra storia su come si coltivano i pomodori in balcone."]
    matrix = np.stack([np.frombuffer(signature_of(t, 1)[1], dtype="<u4") for t in texts])  # type: ignore[index]
    i, j, sim = near_duplicate_pairs(matrix, 0.5)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2)]
    assert sim[0] >= 0.5
    empty_i, _, _ = near_duplicate_pairs(matrix[:1], 0.5)
    assert len(empty_i) == 0
