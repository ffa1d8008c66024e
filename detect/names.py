"""Name normalisation and similarity for community titles and handles (the "name" signal).

Successor groups are named to be found by their members but not by moderators' filters: the same
words in mathematical alphanumerics ("𝕄𝕚𝕒"), Cyrillic or Greek look-alikes ("Міа"), fullwidth forms,
leetspeak ("M0gl1e"), with zero-width characters inside, and decorated ("2", "backup", "riserva",
emoji, brackets). :func:`normalise_name` maps all of those to one plain key ("mia moglie"), and
:func:`name_similarity` compares keys with rapidfuzz.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable

from rapidfuzz import fuzz, process

# The folding itself lives in model/names.py (search uses it too); re-exported here for detection.
from model.names import DECORATIONS, normalise_name, skeleton

#: For a community that shut down or renamed, this many of the most similar names elsewhere are scored.
NAME_NEIGHBOURS = 10
NAME_CUTOFF = 80.0

__all__ = ["DECORATIONS", "best_name_match", "key_similarity", "name_similarity", "nearest_name_pairs",
           "normalise_name", "skeleton"]


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


def nearest_name_pairs(gone: Iterable[int], communities: Collection[int], names: dict[int, list[str]],
                       key_of: Callable[[str], str] = normalise_name) -> set[tuple[int, int]]:
    """For communities that shut down or renamed: the most similarly named other communities (the
    ``NAME_NEIGHBOURS + 5`` closest names, ties to the lower community id). Distinct names are compared
    once: many communities share a name once it is normalised."""
    owners_of: dict[str, list[int]] = defaultdict(list)
    for cid in sorted(names):
        for key in sorted({key_of(n).replace(" ", "") for n in names[cid]}):
            if key:
                owners_of[key].append(cid)
    pairs: set[tuple[int, int]] = set()
    if not owners_of:
        return pairs
    distinct = list(owners_of)
    limit = NAME_NEIGHBOURS + 5
    for cid in gone:
        platform_keys = {key_of(n).replace(" ", "") for n in names.get(cid, [])} - {""}
        for key in platform_keys:
            best: list[tuple[float, int]] = []
            for _choice, score, index in process.extract(key, distinct, scorer=fuzz.ratio, score_cutoff=NAME_CUTOFF,
                                                          limit=None):
                if len(best) >= limit and score < best[limit - 1][0]:
                    break
                best.extend((score, owner) for owner in owners_of[distinct[index]][:limit])
                best.sort(key=lambda item: (-item[0], item[1]))
            for _score, other in best[:limit]:
                if other != cid and other in communities:
                    pairs.add((cid, other))
    return pairs
