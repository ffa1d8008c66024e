"""Name normalisation: the disguises successor groups use all map to one key."""

from __future__ import annotations

import pytest

from detect.names import best_name_match, name_similarity, normalise_name


@pytest.mark.parametrize(("name", "key"), [
    ("𝕄𝕚𝕒 𝕄𝕠𝕘𝕝𝕚𝕖 2", "mia moglie"),  # mathematical double-struck + decoration
    ("M1a_M0glie_backup", "mia moglie"),  # leetspeak + underscore + decoration
    ("Міа Моglіе", "mia moglie"),  # Cyrillic look-alikes
    ("ＭＩＡ　ＭＯＧＬＩＥ", "mia moglie"),  # fullwidth
    ("Mi\u200ba Mo\u200dglie 🔥 [riserva]", "mia moglie"),  # zero-width, emoji, brackets
    ("𝐌𝐢𝐚 𝐌𝐨𝐠𝐥𝐢𝐞 (Official)", "mia moglie"),  # bold maths + official
    ("Mia Moglie Ufficiale - Nuovo", "mia moglie"),
    ("Μια Μoglie", "mia moglie"),  # Greek look-alikes
    ("Cort1le Segret0 bis", "cortile segreto"),  # a single trailing leet digit is a letter
    ("cortilesegreto2", "cortilesegreto"),  # a trailing number is decoration
    ("Café Privé", "cafe prive"),  # accents
    ("Backup 2", "backup"),  # nothing but decoration keeps its words
    ("", ""),
])
def test_normalise_name(name: str, key: str) -> None:
    assert normalise_name(name) == key


def test_handle_and_title_forms_are_the_same_name() -> None:
    assert name_similarity("miamoglie_backup", "𝕄𝕚𝕒 𝕄𝕠𝕘𝕝𝕚𝕖") == 1.0


def test_different_names_are_not_similar() -> None:
    assert name_similarity("Il Cortile Segreto", "Calcio Fantasy League") < 0.5
    assert name_similarity(None, "x") == 0.0


def test_short_names_are_discounted() -> None:
    assert name_similarity("hot", "hot") == 1.0  # identical keys are identical
    assert name_similarity("hot", "hit") < 0.5


def test_best_name_match_compares_every_name_of_both() -> None:
    sim, a, b = best_name_match(["Nuovo Nome", "mia_moglie"], ["random", "M1a M0glie 2"])
    assert sim == 1.0 and (a, b) == ("mia_moglie", "M1a M0glie 2")
