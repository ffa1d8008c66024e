"""Watch-target recognisers plugins declare: a URL or ``@handle`` → a target of that platform, or None."""

from __future__ import annotations

from collections.abc import Callable

from model.errors import UsageError
from model.targets import WatchTarget, parse_target


def recogniser(platform: str) -> Callable[[str], WatchTarget | None]:
    """Recognise what :func:`model.targets.parse_target` parses as ``platform`` (one set of rules for
    ``watch add`` and link extraction); None for anything else, or for input that platform refuses."""

    def recognise(text: str) -> WatchTarget | None:
        try:
            target = parse_target(text)
        except UsageError:
            return None
        return target if target.platform == platform else None

    return recognise
