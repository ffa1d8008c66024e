"""The NGO allow-list's value checks, case by case (``make mutation MODULES=alerts/privacy.py``): what
docs/privacy.md promises for each shape -- numbers keep numbers, names keep strings, times keep ISO 8601
strings, groups are never scalars, anything unlisted is investigator-only -- written out here, not read
from alerts/privacy.py.
"""

from __future__ import annotations

import pytest

from alerts.privacy import FieldClass, Privacy, Shape, field_class, is_iso_time, ngo_scalar_ok


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("score", 0.5, True), ("score", 3, True), ("definitive", True, True), ("score", None, True),
    ("score", "0.5", False), ("score", [1], False),
    ("SCORE", 0.5, True), ("Shared_Members", 12, True),          # keys are compared case-insensitively
    ("name", "Il Cortile", True), ("platform", None, True), ("name", 3, False), ("name", b"x", False),
    ("at", "2026-03-01T12:00:00+00:00", True), ("date", "2026-03-01", True), ("at", None, True),
    ("at", "yesterday", False), ("at", "Mario Rossi", False), ("at", 1767225600, False),
    ("match", None, False), ("counts", None, False), ("match", "x", False), ("match", 3, False),
    ("match", "2026-03-01", False), ("counts", "2026-03-01T12:00:00", False),  # a group is never a time
    ("author", "x", False), ("author", None, False), ("text", "ciao", False), ("member_pseudonym", "ab", False),
])
def test_a_value_reaches_an_ngo_only_under_a_listed_key_and_in_its_shape(key: str, value: object,
                                                                         shown: bool) -> None:
    assert ngo_scalar_ok(key, value) is shown


def test_an_unlisted_field_is_investigator_only() -> None:
    assert field_class("author") == FieldClass(Privacy.INVESTIGATOR, Shape.NAME)
    assert field_class("Score") == FieldClass(Privacy.NGO, Shape.NUMBER)
    assert field_class("match") == FieldClass(Privacy.NGO, Shape.GROUP)
    assert (Privacy.NGO.value, Privacy.INVESTIGATOR.value) == ("ngo", "investigator")


@pytest.mark.parametrize(("text", "ok"), [("2026-03-01", True), ("2026-03-01T12:00:00", True),
                                          ("2026-03-01 12:00:00+01:00", True), ("", False), ("01/03/2026", False),
                                          ("@giulia_rossi", False)])
def test_only_iso_8601_passes_as_a_time(text: str, ok: bool) -> None:
    assert is_iso_time(text) is ok


def test_a_field_class_cannot_be_changed_at_run_time() -> None:
    """The table is shared by every rendering: no code path may turn an investigator-only field into an
    NGO one by assigning to a class it was handed."""
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        field_class("author").privacy = Privacy.NGO  # type: ignore[misc]
    assert field_class("author").privacy is Privacy.INVESTIGATOR
