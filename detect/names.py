"""Name normalisation and similarity for community titles and handles (the "name" signal).

Successor groups are named to be found by their members but not by moderators' filters: the same
words in mathematical alphanumerics ("𝕄𝕚𝕒"), Cyrillic or Greek look-alikes ("Міа"), fullwidth forms,
leetspeak ("M0gl1e"), with zero-width characters inside, and decorated ("2", "backup", "riserva",
emoji, brackets). :func:`normalise_name` maps all of those to one plain key ("mia moglie"), and
:func:`name_similarity` compares keys with rapidfuzz.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz

# The folding itself lives in model/names.py (search uses it too); re-exported here for detection.
from model.names import DECORATIONS, normalise_name, skeleton

__all__ = ["DECORATIONS", "best_name_match", "key_similarity", "name_similarity", "normalise_name", "skeleton"]


def _compact(key: str) -> str:
    return key.replace(" ", "")


def key_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two normalised keys. Handles have no spaces ("miamoglie") and titles do
    ("mia moglie"), so the spaced and the compact forms are both compared; the best counts."""
    if not a or not b:
        return 0.0
    if a == b or _compact(a) == _compact(b):
        return 1.0
    best = max(fuzz.ratio(_compact(a), _compact(b)), fuzz.token_sort_ratio(a, b))
    score = best / 100.0
    # Very short keys ("x", "hot") match too much by chance.
    if min(len(_compact(a)), len(_compact(b))) < 4:
        score *= 0.6
    return score


def name_similarity(a: str | None, b: str | None) -> float:
    return key_similarity(normalise_name(a), normalise_name(b))


def best_name_match(names_a: Iterable[str | None], names_b: Iterable[str | None]) -> tuple[float, str, str]:
    """The most similar pair across two communities' names (titles and handles, old and new)."""
    best = (0.0, "", "")
    list_b = [n for n in names_b if n]
    for a in names_a:
        if not a:
            continue
        for b in list_b:
            sim = name_similarity(a, b)
            if sim > best[0]:
                best = (sim, a, b)
    return best
