"""Who may see a field of an alert, and in what form: the vocabulary shared by the detectors that write
evidence and the rendering that redacts it.

A detector declares, for every key its evidence items carry, a :class:`FieldClass` (its privacy and the
shape of its value); :mod:`alerts.privacy` holds the allow-list of NGO-visible fields that rendering
applies. ``tests/test_signal_plugins.py`` checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Privacy(StrEnum):
    NGO = "ngo"                    # may be shown to NGOs (and investigators)
    INVESTIGATOR = "investigator"  # investigators only


class Shape(StrEnum):
    NUMBER = "number"  # int, float or bool (None is kept as None)
    NAME = "name"      # a string naming a community, a signal, a platform, a language or a reason
    TIME = "time"      # an ISO 8601 date or datetime string; anything else under such a key is dropped
    GROUP = "group"    # a dictionary, itself redacted field by field with this same table


@dataclass(frozen=True, slots=True)
class FieldClass:
    privacy: Privacy
    shape: Shape


__all__ = ["FieldClass", "Privacy", "Shape"]
