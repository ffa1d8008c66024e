"""The signal registry: every migration signal, in the order it appears in an alert.

Each built-in signal is one module of this package exporting ``SIGNAL``, an object satisfying
:class:`detect.signals.base.MigrationSignal`; :data:`BUILTIN_SIGNALS` lists them, one line each.
:func:`detect.scoring.score_pair` asks every registered signal for its value and evidence, in this order.
A signal defined elsewhere (a test's, say) calls :func:`register`, and :func:`unregister` when done.

Adding a signal: a module here with its ``SIGNAL`` (name, whether it is weighted, the privacy class of
every evidence field, ``score``, and ``find`` when it finds pairs no other signal finds), one line in
:data:`BUILTIN_SIGNALS`, and for a weighted signal its default weight in
``config.settings.DetectSettings.weights`` (docs/architecture.md, "Adding a signal").
"""

from __future__ import annotations

import importlib

from detect.signals.base import MigrationSignal

#: The built-in signal modules, in the order their signals appear in an alert.
BUILTIN_SIGNALS: tuple[str, ...] = (
    "detect.signals.announcement",
    "detect.signals.name",
    "detect.signals.members",
    "detect.signals.content",
    "detect.signals.timing",
    "detect.signals.surge",  # unweighted from here on
    "detect.signals.private_invite",
)

_SIGNALS: list[MigrationSignal] = []
_loaded = False


def _find(name: str) -> MigrationSignal | None:
    return next((s for s in _SIGNALS if s.name == name), None)


def register(signal: MigrationSignal) -> MigrationSignal:
    """Append a signal to the registry. A second, different signal with the same name is an error."""
    if not isinstance(signal, MigrationSignal):
        raise TypeError(f"{signal!r} does not satisfy the MigrationSignal protocol")
    _load()
    known = _find(signal.name)
    if known is not None and known is not signal:
        raise ValueError(f"a signal named {signal.name!r} is already registered")
    if known is None:
        _SIGNALS.append(signal)
    return signal


def unregister(name: str) -> None:
    """Remove the signal called ``name`` (a test's own signal, once the test is done)."""
    found = _find(name)
    if found is not None:
        _SIGNALS.remove(found)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_SIGNALS:
        register(importlib.import_module(module).SIGNAL)


def signals() -> list[MigrationSignal]:
    """Every registered signal, in registration order."""
    _load()
    return list(_SIGNALS)


def weighted_names() -> tuple[str, ...]:
    """The names of the signals counted in the weighted mean."""
    return tuple(s.name for s in signals() if s.weighted)


__all__ = ["BUILTIN_SIGNALS", "MigrationSignal", "register", "signals", "unregister", "weighted_names"]
